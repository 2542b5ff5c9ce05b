//! Preview records and API keys in SQLite: the embedded stand-in for the DynamoDB table.
//! A status change is `UPDATE ... WHERE status = ? AND version = ?` inside an
//! immediate transaction, so two racing writers (threads or processes) cannot both win.

use super::{backend, open, with_conn};
use async_trait::async_trait;
use likeness_core::ports::{ApiKeyRecord, ApiKeys, Clock, KeyScope, Previews, TokenKeys};
use likeness_core::preview::PreviewPatch;
use likeness_core::{PortError, Preview, PreviewId, Status, TenantId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS previews (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS previews_by_tenant ON previews (tenant, created_at);
CREATE TABLE IF NOT EXISTS api_keys (
    hash       TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
";

#[derive(Clone)]
pub struct SqliteRecords {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl SqliteRecords {
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, PortError> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }
}

impl SqliteRecords {
    /// Every preview retention still has work on: all but `expired` and `erased`.
    /// The one-machine sweeper reads them; on AWS the table's TTL does this job.
    pub async fn retained(&self) -> Result<Vec<Preview>, PortError> {
        with_conn(&self.conn, move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT body FROM previews WHERE status NOT IN ('expired', 'erased')
                     ORDER BY created_at",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|row| decode(row.map_err(backend)?)).collect()
        })
        .await
    }
}

fn decode(body: String) -> Result<Preview, PortError> {
    serde_json::from_str(&body)
        .map_err(|e| PortError::Backend(format!("stored preview is not valid: {e}")))
}

fn encode(preview: &Preview) -> Result<String, PortError> {
    serde_json::to_string(preview).map_err(|e| PortError::Backend(e.to_string()))
}

#[async_trait]
impl Previews for SqliteRecords {
    async fn create(&self, preview: &Preview) -> Result<(), PortError> {
        let preview = preview.clone();
        with_conn(&self.conn, move |conn| {
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO previews (id, tenant, status, version, created_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        preview.id.as_str(),
                        preview.tenant.as_str(),
                        preview.status.as_str(),
                        preview.version as i64,
                        preview.created_at.to_rfc3339(),
                        encode(&preview)?,
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(PortError::AlreadyExists(preview.id.to_string()));
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, id: &PreviewId) -> Result<Option<Preview>, PortError> {
        let id = id.clone();
        with_conn(&self.conn, move |conn| {
            conn.query_row(
                "SELECT body FROM previews WHERE id = ?1",
                [id.as_str()],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(backend)?
            .map(decode)
            .transpose()
        })
        .await
    }

    async fn transition(
        &self,
        id: &PreviewId,
        from: Status,
        to: Status,
        patch: PreviewPatch,
    ) -> Result<Preview, PortError> {
        if !from.can_become(to) {
            return Err(PortError::Invalid(format!(
                "a preview cannot go from {from} to {to}"
            )));
        }
        let id = id.clone();
        let now = self.clock.now();
        with_conn(&self.conn, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM previews WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            let mut preview = decode(body.ok_or_else(|| PortError::NotFound(id.to_string()))?)?;
            if preview.status != from {
                return Err(PortError::Conflict(format!(
                    "preview {id} is {}, not {from}",
                    preview.status
                )));
            }
            let read_version = preview.version;
            patch.apply(&mut preview);
            preview.status = to;
            preview.version += 1;
            preview.updated_at = now;
            let changed = tx
                .execute(
                    "UPDATE previews SET status = ?1, version = ?2, body = ?3
                     WHERE id = ?4 AND status = ?5 AND version = ?6",
                    params![
                        to.as_str(),
                        preview.version as i64,
                        encode(&preview)?,
                        id.as_str(),
                        from.as_str(),
                        read_version as i64,
                    ],
                )
                .map_err(backend)?;
            if changed != 1 {
                return Err(PortError::Conflict(format!(
                    "preview {id} changed concurrently"
                )));
            }
            tx.commit().map_err(backend)?;
            Ok(preview)
        })
        .await
    }

    async fn list_by_tenant(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<Preview>, PortError> {
        let tenant = tenant.clone();
        with_conn(&self.conn, move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT body FROM previews WHERE tenant = ?1
                     ORDER BY created_at DESC, id DESC LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![tenant.as_str(), limit as i64], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(backend)?;
            rows.map(|row| decode(row.map_err(backend)?)).collect()
        })
        .await
    }
}

fn scope_name(scope: KeyScope) -> &'static str {
    match scope {
        KeyScope::Tenant => "tenant",
        KeyScope::Finance => "finance",
    }
}

#[async_trait]
impl TokenKeys for SqliteRecords {
    async fn token_key(&self, candidate: &[u8]) -> Result<Vec<u8>, PortError> {
        let candidate = candidate.to_vec();
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES ('token_key', ?1)",
                [candidate],
            )
            .map_err(backend)?;
            conn.query_row(
                "SELECT value FROM settings WHERE name = 'token_key'",
                [],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl ApiKeys for SqliteRecords {
    async fn put_key(&self, record: &ApiKeyRecord) -> Result<(), PortError> {
        let record = record.clone();
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "INSERT INTO api_keys (hash, tenant, scope, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    record.hash,
                    record.tenant.as_str(),
                    scope_name(record.scope),
                    record.created_at.to_rfc3339()
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    PortError::AlreadyExists("api key".into())
                }
                other => backend(other),
            })?;
            Ok(())
        })
        .await
    }

    async fn find_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        let hash = hash.to_owned();
        with_conn(&self.conn, move |conn| {
            conn.query_row(
                "SELECT hash, tenant, scope, created_at FROM api_keys WHERE hash = ?1",
                [hash],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)?
            .map(|(hash, tenant, scope, created_at)| {
                let scope = match scope.as_str() {
                    "finance" => KeyScope::Finance,
                    _ => KeyScope::Tenant,
                };
                let created_at = chrono::DateTime::parse_from_rfc3339(&created_at)
                    .map_err(|e| PortError::Backend(e.to_string()))?
                    .to_utc();
                Ok(ApiKeyRecord {
                    hash,
                    tenant: TenantId::new(tenant),
                    scope,
                    created_at,
                })
            })
            .transpose()
        })
        .await
    }
}
