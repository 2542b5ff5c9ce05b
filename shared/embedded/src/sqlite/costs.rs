//! The cost ledger in SQLite. One row per line, keyed by (preview, stage, seq,
//! meter); a stage run is written in one transaction that first checks whether
//! any line of that run exists, so a redelivered stage records nothing.

use super::{backend, open, with_conn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use likeness_core::cost::CostLine;
use likeness_core::ledger::CostLedger;
use likeness_core::{PortError, PreviewId};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cost_lines (
    preview        TEXT NOT NULL,
    stage          TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    meter          TEXT NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (preview, stage, seq, meter)
);
CREATE INDEX IF NOT EXISTS cost_lines_by_time ON cost_lines (recorded_at_ms);
";

#[derive(Clone)]
pub struct SqliteCosts {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteCosts {
    pub fn open(path: &Path) -> Result<Self, PortError> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }
}

fn decode(body: String) -> Result<CostLine, PortError> {
    serde_json::from_str(&body)
        .map_err(|e| PortError::Backend(format!("stored cost line is not valid: {e}")))
}

fn query(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<CostLine>, PortError> {
    let mut stmt = conn.prepare(sql).map_err(backend)?;
    let bodies = stmt
        .query_map(args, |row| row.get::<_, String>(0))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    bodies.into_iter().map(decode).collect()
}

#[async_trait]
impl CostLedger for SqliteCosts {
    async fn record(&self, lines: &[CostLine]) -> Result<bool, PortError> {
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
        let rows = lines
            .iter()
            .map(|l| {
                serde_json::to_string(l)
                    .map(|body| (l.meter.clone(), l.recorded_at.timestamp_millis(), body))
                    .map_err(|e| PortError::Backend(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (preview, stage, seq) = (first.preview_id.to_string(), first.stage.clone(), first.seq);
        with_conn(&self.conn, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let existing: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM cost_lines WHERE preview = ?1 AND stage = ?2 AND seq = ?3",
                    params![preview, stage, seq],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            if existing > 0 {
                return Ok(false);
            }
            for (meter, at, body) in rows {
                tx.execute(
                    "INSERT INTO cost_lines (preview, stage, seq, meter, recorded_at_ms, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![preview, stage, seq, meter, at, body],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        PortError::Invalid(format!("meter `{meter}` appears twice in one stage run"))
                    }
                    other => backend(other),
                })?;
            }
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn lines_for(&self, preview: &PreviewId) -> Result<Vec<CostLine>, PortError> {
        let preview = preview.to_string();
        with_conn(&self.conn, move |conn| {
            query(
                conn,
                "SELECT body FROM cost_lines WHERE preview = ?1 ORDER BY recorded_at_ms, stage, seq, meter",
                &[&preview],
            )
        })
        .await
    }

    async fn lines_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CostLine>, PortError> {
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        with_conn(&self.conn, move |conn| {
            query(
                conn,
                "SELECT body FROM cost_lines WHERE recorded_at_ms >= ?1 AND recorded_at_ms < ?2
                 ORDER BY recorded_at_ms, preview, stage, seq, meter",
                &[&from, &to],
            )
        })
        .await
    }
}
