//! `Previews` and `ApiKeys` (and, in `dynamo_ledger`, the cost ledger and
//! webhook deliveries) over the single DynamoDB table of DESIGN §4.
//!
//! A preview is one item (`PREVIEW#{id}` / `META`): the key attributes, the GSI
//! keys, `status`, `version` and `expires_at` as top-level attributes (so
//! conditions, indexes and TTL can see them) and the whole record as JSON in
//! `doc`. Every transition is a `PutItem` conditioned on the status *and*
//! version read, so of two racing writers exactly one wins.

use crate::sdk_error::port_error_with;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ids::{PreviewId, TenantId};
use likeness_core::ports::{ApiKeyRecord, ApiKeys, Previews, TokenKeys};
use likeness_core::preview::{Preview, PreviewPatch, Status};
use std::collections::HashMap;
use std::sync::Mutex;

pub const GSI_TENANT: &str = "GSI1";
pub const GSI_DAY: &str = "GSI2";

pub(crate) type Item = HashMap<String, AttributeValue>;

pub struct DynamoRecords {
    pub(crate) client: Client,
    pub(crate) table: String,
    /// Capacity units DynamoDB reported for this adapter's calls, for the cost ledger.
    consumed: Mutex<f64>,
}

impl std::fmt::Debug for DynamoRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoRecords")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

pub(crate) fn conditional(code: &str) -> Option<fn(String) -> PortError> {
    match code {
        "ConditionalCheckFailedException" => Some(PortError::Conflict),
        "ResourceNotFoundException" => Some(PortError::Backend),
        "ProvisionedThroughputExceededException" | "RequestLimitExceeded" => {
            Some(PortError::Unavailable)
        }
        "ValidationException" => Some(PortError::Invalid),
        _ => None,
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn preview_pk(id: &PreviewId) -> String {
    format!("PREVIEW#{id}")
}

fn key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

fn preview_item(preview: &Preview) -> PortResult<Item> {
    let doc = serde_json::to_string(preview).map_err(|e| {
        PortError::Invalid(format!("preview {} does not serialise: {e}", preview.id))
    })?;
    Ok(HashMap::from([
        ("PK".to_owned(), s(preview_pk(&preview.id))),
        ("SK".to_owned(), s("META")),
        ("GSI1PK".to_owned(), s(format!("TENANT#{}", preview.tenant))),
        (
            "GSI1SK".to_owned(),
            // Fixed-width timestamps so the sort key orders by time.
            s(format!(
                "{}#{}",
                preview
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                preview.id
            )),
        ),
        (
            "GSI2PK".to_owned(),
            s(format!("DAY#{}", preview.created_at.format("%Y-%m-%d"))),
        ),
        ("GSI2SK".to_owned(), s(preview.id.as_str())),
        ("status".to_owned(), s(preview.status.as_str())),
        ("version".to_owned(), n(preview.version)),
        ("expires_at".to_owned(), n(preview.expires_at.timestamp())),
        ("doc".to_owned(), s(doc)),
    ]))
}

pub(crate) fn from_doc<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> PortResult<T> {
    let doc = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| PortError::Backend(format!("{what}: item has no doc attribute")))?;
    serde_json::from_str(doc)
        .map_err(|e| PortError::Backend(format!("{what}: unreadable doc: {e}")))
}

impl DynamoRecords {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            table: table.into(),
            consumed: Mutex::new(0.0),
        }
    }

    /// Read plus write capacity units consumed so far (as DynamoDB reported them).
    pub fn consumed_capacity_units(&self) -> f64 {
        *self.consumed.lock().expect("capacity lock")
    }

    /// Ids of the previews created on `day` (UTC), from the day index, for
    /// finance range queries.
    pub async fn preview_ids_on(&self, day: chrono::NaiveDate) -> PortResult<Vec<PreviewId>> {
        let what = format!("list previews of {day}");
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_DAY)
                .key_condition_expression("GSI2PK = :d")
                .expression_attribute_values(":d", s(format!("DAY#{}", day.format("%Y-%m-%d"))))
                .projection_expression("GSI2SK")
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| port_error_with(&what, e, conditional))?;
            self.record(out.consumed_capacity.as_ref());
            for item in out.items.unwrap_or_default() {
                let id = item
                    .get("GSI2SK")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| PortError::Backend(format!("{what}: item without GSI2SK")))?;
                ids.push(PreviewId::new(id.clone()));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(ids),
            }
        }
    }

    pub(crate) fn record(&self, capacity: Option<&ConsumedCapacity>) {
        if let Some(units) = capacity.and_then(|c| c.capacity_units) {
            *self.consumed.lock().expect("capacity lock") += units;
        }
    }

    pub(crate) async fn put(
        &self,
        item: Item,
        condition: &str,
        guard: Option<(Status, u64)>,
        what: &str,
    ) -> PortResult<()> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if let Some((status, version)) = guard {
            // `status` is a DynamoDB reserved word, hence the name placeholders.
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":from", s(status.as_str()))
                .expression_attribute_values(":version", n(version));
        }
        let out = request
            .send()
            .await
            .map_err(|e| port_error_with(what, e, conditional))?;
        self.record(out.consumed_capacity.as_ref());
        Ok(())
    }

    pub(crate) async fn get_item(
        &self,
        pk: String,
        sk: &str,
        what: &str,
    ) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| port_error_with(what, e, conditional))?;
        self.record(out.consumed_capacity.as_ref());
        Ok(out.item)
    }
}

#[async_trait]
impl Previews for DynamoRecords {
    async fn create(&self, preview: &Preview) -> PortResult<()> {
        let what = format!("create preview {}", preview.id);
        match self
            .put(
                preview_item(preview)?,
                "attribute_not_exists(PK)",
                None,
                &what,
            )
            .await
        {
            Err(PortError::Conflict(m)) => Err(PortError::AlreadyExists(m)),
            other => other,
        }
    }

    async fn get(&self, id: &PreviewId) -> PortResult<Option<Preview>> {
        let what = format!("get preview {id}");
        self.get_item(preview_pk(id), "META", &what)
            .await?
            .map(|item| from_doc(&item, &what))
            .transpose()
    }

    async fn transition(
        &self,
        id: &PreviewId,
        from: Status,
        to: Status,
        patch: PreviewPatch,
    ) -> PortResult<Preview> {
        if !from.can_become(to) {
            return Err(PortError::Invalid(format!(
                "preview {id}: {} cannot become {}",
                from.as_str(),
                to.as_str()
            )));
        }
        let what = format!(
            "transition preview {id} {} -> {}",
            from.as_str(),
            to.as_str()
        );
        let mut preview = self
            .get(id)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("preview {id}")))?;
        if preview.status != from {
            return Err(PortError::Conflict(format!(
                "{what}: preview is {}",
                preview.status.as_str()
            )));
        }
        let read_version = preview.version;
        patch.apply(&mut preview);
        preview.status = to;
        preview.version = read_version + 1;
        preview.updated_at = chrono::Utc::now().max(preview.updated_at);
        self.put(
            preview_item(&preview)?,
            "#status = :from AND #version = :version",
            Some((from, read_version)),
            &what,
        )
        .await
        .map(|()| preview)
    }

    async fn list_by_tenant(&self, tenant: &TenantId, limit: usize) -> PortResult<Vec<Preview>> {
        let what = format!("list previews of {tenant}");
        let mut previews = Vec::new();
        let mut start: Option<Item> = None;
        while previews.len() < limit {
            let page = i32::try_from(limit - previews.len())
                .unwrap_or(i32::MAX)
                .min(100);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_TENANT)
                .key_condition_expression("GSI1PK = :t")
                .expression_attribute_values(":t", s(format!("TENANT#{tenant}")))
                .scan_index_forward(false)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| port_error_with(&what, e, conditional))?;
            self.record(out.consumed_capacity.as_ref());
            for item in out.items.unwrap_or_default() {
                previews.push(from_doc(&item, &what)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        previews.truncate(limit);
        Ok(previews)
    }
}

/// The token key's item: `SETTING#token-key`, the key itself as binary.
const TOKEN_KEY_PK: &str = "SETTING#token-key";

#[async_trait]
impl TokenKeys for DynamoRecords {
    async fn token_key(&self, candidate: &[u8]) -> PortResult<Vec<u8>> {
        let item = HashMap::from([
            ("PK".to_owned(), s(TOKEN_KEY_PK)),
            ("SK".to_owned(), s("SETTING")),
            (
                "value".to_owned(),
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(candidate)),
            ),
        ]);
        match self
            .put(item, "attribute_not_exists(PK)", None, "store token key")
            .await
        {
            Ok(()) | Err(PortError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        let stored = self
            .get_item(TOKEN_KEY_PK.to_owned(), "SETTING", "read token key")
            .await?
            .ok_or_else(|| PortError::Backend("token key vanished after it was stored".into()))?;
        match stored.get("value") {
            Some(AttributeValue::B(blob)) => Ok(blob.as_ref().to_vec()),
            _ => Err(PortError::Backend(
                "token key item has no binary value".into(),
            )),
        }
    }
}

#[async_trait]
impl ApiKeys for DynamoRecords {
    async fn put_key(&self, record: &ApiKeyRecord) -> PortResult<()> {
        let doc = serde_json::to_string(record)
            .map_err(|e| PortError::Invalid(format!("api key record: {e}")))?;
        let item = HashMap::from([
            ("PK".to_owned(), s(key_pk(&record.hash))),
            ("SK".to_owned(), s("KEY")),
            ("doc".to_owned(), s(doc)),
        ]);
        match self
            .put(item, "attribute_not_exists(PK)", None, "put api key")
            .await
        {
            Err(PortError::Conflict(m)) => Err(PortError::AlreadyExists(m)),
            other => other,
        }
    }

    async fn find_key(&self, hash: &str) -> PortResult<Option<ApiKeyRecord>> {
        self.get_item(key_pk(hash), "KEY", "find api key")
            .await?
            .map(|item| from_doc(&item, "find api key"))
            .transpose()
    }
}
