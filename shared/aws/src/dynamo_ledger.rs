//! `CostLedger` and `Deliveries` over the same single table (DESIGN §4).
//!
//! | item | PK | SK |
//! | --- | --- | --- |
//! | one stage run's cost lines | `PREVIEW#{id}` | `COST#{stage}#{seq}` (GSI2 `COSTDAY#{day}`) |
//! | webhook event (by id) | `WEBHOOK#{webhook_id}` | `EVENT` |
//! | webhook event (by preview) | `PREVIEW#{id}` | `EVENT#{created_at}#{webhook_id}` |
//! | delivery attempt | `PREVIEW#{id}` | `HOOK#{at}#{webhook_id}#{attempt}` |
//! | endpoint secret | `TENANT#{t}` | `SECRET#{created_at}#{n}` |
//!
//! A stage run is one item holding all its lines, so "recorded once" is a single
//! conditional put. Timestamps in sort keys are fixed-width RFC 3339 (UTC,
//! microseconds), so sort order is time order.

use crate::dynamo_records::{DynamoRecords, GSI_DAY, Item, conditional, from_doc, preview_pk, s};
use crate::sdk_error::port_error_with;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use chrono::{DateTime, SecondsFormat, Utc};
use likeness_core::PortError;
use likeness_core::cost::CostLine;
use likeness_core::error::PortResult;
use likeness_core::ids::{PreviewId, TenantId};
use likeness_core::ledger::{
    CostLedger, Deliveries, DeliveryAttempt, EndpointSecret, WebhookEvent,
};
use std::collections::HashMap;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The JSON stored in an item's `doc` attribute.
fn doc<T: serde::Serialize>(value: &T, what: &str) -> PortResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PortError::Invalid(format!("{what} does not serialise: {e}")))
}

fn item(pk: String, sk: String, doc: String) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(pk)),
        ("SK".to_owned(), s(sk)),
        ("doc".to_owned(), s(doc)),
    ])
}

impl DynamoRecords {
    /// Items of one partition whose sort key starts with `prefix`, in sort order.
    async fn query_prefix(
        &self,
        index: Option<&str>,
        pk: String,
        prefix: &str,
        what: &str,
    ) -> PortResult<Vec<Item>> {
        let (pk_name, sk_name) = match index {
            Some(_) => ("GSI2PK", "GSI2SK"),
            None => ("PK", "SK"),
        };
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| port_error_with(what, e, conditional))?;
            self.record(out.consumed_capacity.as_ref());
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn put_plain(&self, item: Item, what: &str) -> PortResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| port_error_with(what, e, conditional))?;
        self.record(out.consumed_capacity.as_ref());
        Ok(())
    }

    /// Put unless the key exists; `false` when it did.
    async fn put_new(&self, item: Item, what: &str) -> PortResult<bool> {
        match self.put(item, "attribute_not_exists(PK)", None, what).await {
            Ok(()) => Ok(true),
            Err(PortError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn docs<T: serde::de::DeserializeOwned>(items: &[Item], what: &str) -> PortResult<Vec<T>> {
        items.iter().map(|i| from_doc(i, what)).collect()
    }

    async fn secrets(&self, tenant: &TenantId) -> PortResult<Vec<(Item, EndpointSecret)>> {
        let what = format!("secrets of {tenant}");
        let items = self
            .query_prefix(None, format!("TENANT#{tenant}"), "SECRET#", &what)
            .await?;
        items
            .into_iter()
            .map(|i| from_doc(&i, &what).map(|secret| (i, secret)))
            .collect()
    }
}

#[async_trait]
impl CostLedger for DynamoRecords {
    async fn record(&self, lines: &[CostLine]) -> PortResult<bool> {
        let Some(first) = lines.first() else {
            return Ok(false);
        };
        if lines.iter().any(|l| {
            l.preview_id != first.preview_id || l.stage != first.stage || l.seq != first.seq
        }) {
            return Err(PortError::Invalid(
                "cost lines of one record call must share preview, stage and seq".into(),
            ));
        }
        let mut meters: Vec<&str> = lines.iter().map(|l| l.meter.as_str()).collect();
        meters.sort_unstable();
        if let Some(w) = meters.windows(2).find(|w| w[0] == w[1]) {
            return Err(PortError::Invalid(format!(
                "meter `{}` appears twice in one stage run",
                w[0]
            )));
        }
        let what = format!(
            "cost of {} {} #{}",
            first.preview_id, first.stage, first.seq
        );
        let mut run = item(
            preview_pk(&first.preview_id),
            format!("COST#{}#{:010}", first.stage, first.seq),
            doc(&lines, &what)?,
        );
        run.insert(
            "GSI2PK".into(),
            s(format!("COSTDAY#{}", first.recorded_at.format("%Y-%m-%d"))),
        );
        run.insert(
            "GSI2SK".into(),
            s(format!(
                "RUN#{}#{}#{}#{}",
                stamp(first.recorded_at),
                first.preview_id,
                first.stage,
                first.seq
            )),
        );
        self.put_new(run, &what).await
    }

    async fn lines_for(&self, preview: &PreviewId) -> PortResult<Vec<CostLine>> {
        let what = format!("cost of {preview}");
        let items = self
            .query_prefix(None, preview_pk(preview), "COST#", &what)
            .await?;
        let mut lines: Vec<CostLine> = Self::docs::<Vec<CostLine>>(&items, &what)?
            .into_iter()
            .flatten()
            .collect();
        lines.sort_by(|a, b| {
            (a.recorded_at, &a.stage, a.seq, &a.meter).cmp(&(
                b.recorded_at,
                &b.stage,
                b.seq,
                &b.meter,
            ))
        });
        Ok(lines)
    }

    async fn lines_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> PortResult<Vec<CostLine>> {
        let mut lines = Vec::new();
        if from >= to {
            return Ok(lines);
        }
        // One query per UTC day of the range on the day index.
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let what = format!("cost lines of {day}");
            let items = self
                .query_prefix(
                    Some(GSI_DAY),
                    format!("COSTDAY#{}", day.format("%Y-%m-%d")),
                    "RUN#",
                    &what,
                )
                .await?;
            for run in Self::docs::<Vec<CostLine>>(&items, &what)? {
                lines.extend(
                    run.into_iter()
                        .filter(|l| l.recorded_at >= from && l.recorded_at < to),
                );
            }
            day = day
                .succ_opt()
                .ok_or_else(|| PortError::Invalid("date range past the calendar".into()))?;
        }
        lines.sort_by(|a, b| {
            (a.recorded_at, &a.preview_id, &a.stage, a.seq, &a.meter).cmp(&(
                b.recorded_at,
                &b.preview_id,
                &b.stage,
                b.seq,
                &b.meter,
            ))
        });
        Ok(lines)
    }
}

#[async_trait]
impl Deliveries for DynamoRecords {
    async fn put_secret(&self, secret: &EndpointSecret) -> PortResult<()> {
        let what = format!("put webhook secret of {}", secret.tenant);
        // A random suffix keeps two secrets made in the same microsecond apart.
        let sk = format!("SECRET#{}#{:016x}", stamp(secret.created_at), rand_suffix());
        self.put_plain(
            item(format!("TENANT#{}", secret.tenant), sk, doc(secret, &what)?),
            &what,
        )
        .await
    }

    async fn retire_secrets(&self, tenant: &TenantId, at: DateTime<Utc>) -> PortResult<()> {
        let what = format!("retire webhook secrets of {tenant}");
        for (mut stored, mut secret) in self.secrets(tenant).await? {
            if secret.expires_at.is_some_and(|t| t <= at) {
                continue;
            }
            secret.expires_at = Some(at);
            stored.insert("doc".into(), s(doc(&secret, &what)?));
            self.put_plain(stored, &what).await?;
        }
        Ok(())
    }

    async fn live_secrets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> PortResult<Vec<EndpointSecret>> {
        let mut live: Vec<EndpointSecret> = self
            .secrets(tenant)
            .await?
            .into_iter()
            .map(|(_, secret)| secret)
            .filter(|secret| secret.is_live(now))
            .collect();
        // Sort keys are oldest first; the port wants newest first.
        live.reverse();
        Ok(live)
    }

    async fn save_event(&self, event: &WebhookEvent) -> PortResult<bool> {
        let what = format!("save webhook event {}", event.webhook_id);
        let by_id = item(
            format!("WEBHOOK#{}", event.webhook_id),
            "EVENT".into(),
            doc(event, &what)?,
        );
        if !self.put_new(by_id, &what).await? {
            return Ok(false);
        }
        let by_preview = item(
            preview_pk(&event.preview_id),
            format!("EVENT#{}#{}", stamp(event.created_at), event.webhook_id),
            doc(event, &what)?,
        );
        self.put_plain(by_preview, &what).await?;
        Ok(true)
    }

    async fn event(&self, webhook_id: &str) -> PortResult<Option<WebhookEvent>> {
        let what = format!("webhook event {webhook_id}");
        self.get_item(format!("WEBHOOK#{webhook_id}"), "EVENT", &what)
            .await?
            .map(|item| from_doc(&item, &what))
            .transpose()
    }

    async fn events_for(&self, preview: &PreviewId) -> PortResult<Vec<WebhookEvent>> {
        let what = format!("webhook events of {preview}");
        let items = self
            .query_prefix(None, preview_pk(preview), "EVENT#", &what)
            .await?;
        Self::docs(&items, &what)
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> PortResult<()> {
        let what = format!(
            "record attempt {} of {}",
            attempt.attempt, attempt.webhook_id
        );
        let sk = format!(
            "HOOK#{}#{}#{:04}",
            stamp(attempt.at),
            attempt.webhook_id,
            attempt.attempt
        );
        self.put_plain(
            item(preview_pk(&attempt.preview_id), sk, doc(attempt, &what)?),
            &what,
        )
        .await
    }

    async fn attempts_for(&self, preview: &PreviewId) -> PortResult<Vec<DeliveryAttempt>> {
        let what = format!("delivery attempts of {preview}");
        let items = self
            .query_prefix(None, preview_pk(preview), "HOOK#", &what)
            .await?;
        Self::docs(&items, &what)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
