//! A durable queue in SQLite with SQS semantics: at-least-once delivery, a
//! visibility timeout per receive, a fresh receipt handle per receive, and a
//! dead-letter queue once a message has been received more than the queue allows.

use super::{backend, open, with_conn};
use async_trait::async_trait;
use likeness_core::PortError;
use likeness_core::ports::{Clock, Queue, QueueMessage};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name          TEXT PRIMARY KEY,
    max_receives  INTEGER,
    dead_letter   TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at_ms    INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at_ms, seq);
";

/// How often a long poll looks again for a visible message. Sends through the
/// same `SqliteQueue` (or a clone) wake waiting receivers at once; polling is for
/// delayed messages, expired visibility and other processes' sends.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// After this many receives a message moves to `dead_letter` instead of being delivered.
    pub max_receives: Option<u32>,
    pub dead_letter: Option<String>,
}

/// A message some consumer holds (see [`SqliteQueue::in_flight`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub queue: String,
    pub id: String,
    pub receive_count: u32,
}

#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    sent: Arc<tokio::sync::Notify>,
    poll_interval: Duration,
}

impl SqliteQueue {
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, PortError> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
            sent: Arc::new(tokio::sync::Notify::new()),
            poll_interval: POLL_INTERVAL,
        })
    }

    /// Look for visible messages every `interval` during a long poll instead of
    /// every 50 ms: a simulation on a compressed clock polls hours of idle
    /// workers, where 50 ms would be most of its run time.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Declare a queue (idempotent; options are updated). Sending to an undeclared
    /// queue is an error, so a typo cannot swallow messages.
    pub async fn declare(&self, name: &str, options: QueueOptions) -> Result<(), PortError> {
        if let Some(dlq) = &options.dead_letter {
            self.declare_plain(dlq).await?;
        }
        let name = name.to_owned();
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "INSERT INTO queues (name, max_receives, dead_letter) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET max_receives = excluded.max_receives,
                                                 dead_letter = excluded.dead_letter",
                params![
                    name,
                    options.max_receives.map(i64::from),
                    options.dead_letter
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn declare_plain(&self, name: &str) -> Result<(), PortError> {
        let name = name.to_owned();
        with_conn(&self.conn, move |conn| {
            conn.execute("INSERT OR IGNORE INTO queues (name) VALUES (?1)", [name])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// Messages in the queue, visible or not (for operators and tests).
    pub async fn depth(&self, queue: &str) -> Result<usize, PortError> {
        let queue = queue.to_owned();
        with_conn(&self.conn, move |conn| {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM messages WHERE queue = ?1",
                    [queue],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            Ok(n as usize)
        })
        .await
    }

    /// Make every received-but-not-deleted message visible again now, ahead of
    /// messages sent after it (it keeps its place in line), its receive count
    /// kept (a message that crashes every process that takes it still reaches
    /// the dead-letter queue) and its receipt handle voided.
    ///
    /// For a process that owns the queue file alone (the embedded stack holds
    /// its data directory's lock): whatever is in flight at its start was taken
    /// by a process that died, and waiting out visibility timeouts would only
    /// delay recovery. Returns how many messages were released.
    pub async fn release_claimed(&self) -> Result<usize, PortError> {
        let now = self.now_ms();
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "UPDATE messages SET visible_at_ms = MIN(sent_at_ms, ?1), receipt = NULL
                 WHERE receipt IS NOT NULL AND visible_at_ms > ?1",
                [now],
            )
            .map_err(backend)
        })
        .await
    }

    /// Messages received and not yet deleted nor visible again, across all
    /// queues: what a process has in hand (for operators and tests).
    pub async fn in_flight(&self) -> Result<Vec<InFlight>, PortError> {
        let now = self.now_ms();
        with_conn(&self.conn, move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT queue, id, receive_count FROM messages
                     WHERE receipt IS NOT NULL AND visible_at_ms > ?1 ORDER BY seq",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([now], |row| {
                    Ok(InFlight {
                        queue: row.get(0)?,
                        id: row.get(1)?,
                        receive_count: row.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
        .await
    }

    /// How many times message `id` has been received, `None` once it is deleted.
    pub async fn receive_count(&self, id: &str) -> Result<Option<u32>, PortError> {
        let id = id.to_owned();
        with_conn(&self.conn, move |conn| {
            conn.query_row(
                "SELECT receive_count FROM messages WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    async fn receive_once(
        &self,
        queue: &str,
        max_messages: usize,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, PortError> {
        let queue = queue.to_owned();
        let now = self.now_ms();
        let hidden_until = now + visibility.as_millis() as i64;
        with_conn(&self.conn, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let (max_receives, dead_letter) = queue_options(&tx, &queue)?;
            let candidates: Vec<(i64, String, String, u32)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT seq, id, body, receive_count FROM messages
                         WHERE queue = ?1 AND visible_at_ms <= ?2 ORDER BY visible_at_ms, seq LIMIT ?3",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![queue, now, max_messages as i64 * 4 + 4], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)?
            };
            let mut delivered = Vec::new();
            for (seq, id, body, count) in candidates {
                if delivered.len() == max_messages {
                    break;
                }
                if let (Some(max), Some(dlq)) = (max_receives, dead_letter.as_deref())
                    && count >= max
                {
                    tx.execute(
                        "UPDATE messages SET queue = ?1, receive_count = 0, receipt = NULL,
                         visible_at_ms = ?2 WHERE seq = ?3",
                        params![dlq, now, seq],
                    )
                    .map_err(backend)?;
                    tracing::warn!(queue = %queue, message_id = %id, receives = count, "moved to dead-letter queue");
                    continue;
                }
                let receipt = uuid::Uuid::new_v4().simple().to_string();
                tx.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, receipt = ?1,
                     visible_at_ms = ?2 WHERE seq = ?3",
                    params![receipt, hidden_until, seq],
                )
                .map_err(backend)?;
                delivered.push(QueueMessage { id, body, receipt_handle: receipt, receive_count: count + 1 });
            }
            tx.commit().map_err(backend)?;
            Ok(delivered)
        })
        .await
    }
}

fn queue_options(
    conn: &Connection,
    queue: &str,
) -> Result<(Option<u32>, Option<String>), PortError> {
    conn.query_row(
        "SELECT max_receives, dead_letter FROM queues WHERE name = ?1",
        [queue],
        |row| Ok((row.get::<_, Option<i64>>(0)?.map(|n| n as u32), row.get(1)?)),
    )
    .optional()
    .map_err(backend)?
    .ok_or_else(|| PortError::NotFound(format!("queue {queue}")))
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, PortError> {
        let queue = queue.to_owned();
        let body = body.to_owned();
        let now = self.now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let message_id = id.clone();
        with_conn(&self.conn, move |conn| {
            queue_options(conn, &queue)?;
            conn.execute(
                "INSERT INTO messages (id, queue, body, sent_at_ms, visible_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![message_id, queue, body, now, now + delay.as_millis() as i64],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await?;
        self.sent.notify_waiters();
        Ok(id)
    }

    async fn receive(
        &self,
        queue: &str,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, PortError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a send in between still wakes us.
            let sent = self.sent.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();
            let messages = self
                .receive_once(queue, max_messages.max(1), visibility)
                .await?;
            if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(messages);
            }
            let pause = self
                .poll_interval
                .min(deadline - tokio::time::Instant::now());
            tokio::select! {
                _ = sent => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), PortError> {
        let queue = queue.to_owned();
        let receipt = receipt_handle.to_owned();
        // A stale receipt (the message was received again since) deletes nothing:
        // the newer consumer owns the message now.
        with_conn(&self.conn, move |conn| {
            conn.execute(
                "DELETE FROM messages WHERE queue = ?1 AND receipt = ?2",
                params![queue, receipt],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), PortError> {
        let queue = queue.to_owned();
        let receipt = receipt_handle.to_owned();
        let visible_at = self.now_ms() + visibility.as_millis() as i64;
        with_conn(&self.conn, move |conn| {
            let changed = conn
                .execute(
                    "UPDATE messages SET visible_at_ms = ?1 WHERE queue = ?2 AND receipt = ?3",
                    params![visible_at, queue, receipt],
                )
                .map_err(backend)?;
            if changed == 0 {
                return Err(PortError::NotFound(format!("receipt handle on {queue}")));
            }
            Ok(())
        })
        .await
    }
}
