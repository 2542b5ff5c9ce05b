//! Webhook events, tenants' signing secrets and every delivery attempt, in SQLite.

use super::{backend, open, with_conn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use likeness_core::ledger::{Deliveries, DeliveryAttempt, EndpointSecret, WebhookEvent};
use likeness_core::{PortError, PreviewId, TenantId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_secrets (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    body          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_secrets_by_tenant ON webhook_secrets (tenant);
CREATE TABLE IF NOT EXISTS webhook_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL UNIQUE,
    preview    TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_by_preview ON webhook_events (preview);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    preview    TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_preview ON webhook_attempts (preview);
";

#[derive(Clone)]
pub struct SqliteDeliveries {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteDeliveries {
    pub fn open(path: &Path) -> Result<Self, PortError> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }
}

fn encode<T: Serialize>(value: &T) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| PortError::Backend(e.to_string()))
}

fn decode<T: DeserializeOwned>(body: String) -> Result<T, PortError> {
    serde_json::from_str(&body)
        .map_err(|e| PortError::Backend(format!("stored row is not valid: {e}")))
}

fn bodies<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<T>, PortError> {
    let mut stmt = conn.prepare(sql).map_err(backend)?;
    let rows = stmt
        .query_map(args, |row| row.get::<_, String>(0))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    rows.into_iter().map(decode).collect()
}

#[async_trait]
impl Deliveries for SqliteDeliveries {
    async fn put_secret(&self, secret: &EndpointSecret) -> Result<(), PortError> {
        let body = encode(secret)?;
        let tenant = secret.tenant.to_string();
        let created = secret.created_at.timestamp_millis();
        let expires = secret.expires_at.map(|t| t.timestamp_millis());
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "INSERT INTO webhook_secrets (tenant, created_at_ms, expires_at_ms, body) VALUES (?1, ?2, ?3, ?4)",
                params![tenant, created, expires, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn retire_secrets(&self, tenant: &TenantId, at: DateTime<Utc>) -> Result<(), PortError> {
        let tenant = tenant.to_string();
        with_conn(&self.conn, move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let rows: Vec<(i64, String)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT seq, body FROM webhook_secrets
                         WHERE tenant = ?1 AND (expires_at_ms IS NULL OR expires_at_ms > ?2)",
                    )
                    .map_err(backend)?;
                stmt.query_map(params![tenant, at.timestamp_millis()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?
            };
            for (seq, body) in rows {
                let mut secret: EndpointSecret = decode(body)?;
                secret.expires_at = Some(at);
                tx.execute(
                    "UPDATE webhook_secrets SET expires_at_ms = ?1, body = ?2 WHERE seq = ?3",
                    params![at.timestamp_millis(), encode(&secret)?, seq],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn live_secrets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Vec<EndpointSecret>, PortError> {
        let tenant = tenant.to_string();
        let now = now.timestamp_millis();
        with_conn(&self.conn, move |conn| {
            bodies(
                conn,
                "SELECT body FROM webhook_secrets WHERE tenant = ?1
                 AND (expires_at_ms IS NULL OR expires_at_ms > ?2) ORDER BY created_at_ms DESC, seq DESC",
                &[&tenant, &now],
            )
        })
        .await
    }

    async fn save_event(&self, event: &WebhookEvent) -> Result<bool, PortError> {
        let body = encode(event)?;
        let (id, preview) = (event.webhook_id.clone(), event.preview_id.to_string());
        with_conn(&self.conn, move |conn| {
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO webhook_events (webhook_id, preview, body) VALUES (?1, ?2, ?3)",
                    params![id, preview, body],
                )
                .map_err(backend)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn event(&self, webhook_id: &str) -> Result<Option<WebhookEvent>, PortError> {
        let id = webhook_id.to_owned();
        with_conn(&self.conn, move |conn| {
            conn.query_row(
                "SELECT body FROM webhook_events WHERE webhook_id = ?1",
                [id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(backend)?
            .map(decode)
            .transpose()
        })
        .await
    }

    async fn events_for(&self, preview: &PreviewId) -> Result<Vec<WebhookEvent>, PortError> {
        let preview = preview.to_string();
        with_conn(&self.conn, move |conn| {
            bodies(
                conn,
                "SELECT body FROM webhook_events WHERE preview = ?1 ORDER BY seq",
                &[&preview],
            )
        })
        .await
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), PortError> {
        let body = encode(attempt)?;
        let (id, preview) = (attempt.webhook_id.clone(), attempt.preview_id.to_string());
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "INSERT INTO webhook_attempts (webhook_id, preview, body) VALUES (?1, ?2, ?3)",
                params![id, preview, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn attempts_for(&self, preview: &PreviewId) -> Result<Vec<DeliveryAttempt>, PortError> {
        let preview = preview.to_string();
        with_conn(&self.conn, move |conn| {
            bodies(
                conn,
                "SELECT body FROM webhook_attempts WHERE preview = ?1 ORDER BY seq",
                &[&preview],
            )
        })
        .await
    }
}
