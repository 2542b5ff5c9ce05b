//! Durable execution state in SQLite (WAL): executions, their history, a
//! checkpoint per running frame (top level or Map iteration) and task tokens.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("workflow store: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
}

impl ExecutionStatus {
    fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            _ => ExecutionStatus::Running,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ExecutionRecord {
    pub name: String,
    pub status: ExecutionStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started_at: String,
}

/// One history event, named as Step Functions names them (`TaskStateEntered`, `TaskSucceeded`...).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Event {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub state: Option<String>,
    pub detail: Value,
}

/// Where a frame (the top level, or one Map iteration) stands.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub state: String,
    pub input: Value,
    /// The sequence number of the state's `...StateEntered` event.
    pub entry: i64,
    pub entered_at: String,
    /// Retry attempts already spent, per retrier index.
    pub retries: Vec<u32>,
    /// Set once the frame finished: its output.
    pub done: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TokenState {
    Waiting,
    Succeeded(Value),
    Failed {
        error: String,
        cause: String,
    },
    /// The task ended without an answer (timed out, or the execution moved on).
    Closed,
}

pub struct Store {
    conn: Mutex<Connection>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS executions (
                 machine TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                 input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
                 started_at TEXT NOT NULL, stopped_at TEXT,
                 PRIMARY KEY (machine, name));
             CREATE TABLE IF NOT EXISTS events (
                 machine TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
                 at TEXT NOT NULL, kind TEXT NOT NULL, state TEXT, detail TEXT NOT NULL,
                 PRIMARY KEY (machine, name, seq));
             CREATE TABLE IF NOT EXISTS checkpoints (
                 machine TEXT NOT NULL, name TEXT NOT NULL, frame TEXT NOT NULL,
                 state TEXT NOT NULL, input TEXT NOT NULL, entry INTEGER NOT NULL,
                 entered_at TEXT NOT NULL, retries TEXT NOT NULL, done TEXT,
                 PRIMARY KEY (machine, name, frame));
             CREATE TABLE IF NOT EXISTS tokens (
                 token TEXT PRIMARY KEY, machine TEXT NOT NULL, name TEXT NOT NULL,
                 status TEXT NOT NULL, output TEXT, error TEXT, cause TEXT);",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one statement).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `false` when an execution with this name exists already.
    pub fn create_execution(
        &self,
        machine: &str,
        name: &str,
        input: &Value,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO executions (machine, name, status, input, started_at) VALUES (?1, ?2, 'RUNNING', ?3, ?4)",
            params![machine, name, input.to_string(), now()],
        )?;
        Ok(n == 1)
    }

    pub fn finish_execution(
        &self,
        machine: &str,
        name: &str,
        result: &Result<Value, crate::StatesError>,
    ) -> Result<(), StoreError> {
        let (status, output, error, cause) = match result {
            Ok(v) => (ExecutionStatus::Succeeded, Some(v.to_string()), None, None),
            Err(e) => (
                ExecutionStatus::Failed,
                None,
                Some(e.error.clone()),
                Some(e.cause.clone()),
            ),
        };
        let c = self.conn();
        c.execute(
            "UPDATE executions SET status = ?3, output = ?4, error = ?5, cause = ?6, stopped_at = ?7 WHERE machine = ?1 AND name = ?2",
            params![machine, name, status.as_str(), output, error, cause, now()],
        )?;
        c.execute(
            "DELETE FROM checkpoints WHERE machine = ?1 AND name = ?2",
            params![machine, name],
        )?;
        c.execute(
            "UPDATE tokens SET status = 'CLOSED' WHERE machine = ?1 AND name = ?2 AND status = 'WAITING'",
            params![machine, name],
        )?;
        Ok(())
    }

    pub fn execution(
        &self,
        machine: &str,
        name: &str,
    ) -> Result<Option<ExecutionRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT name, status, input, output, error, cause, started_at FROM executions WHERE machine = ?1 AND name = ?2",
                params![machine, name],
                |r| {
                    Ok(ExecutionRecord {
                        name: r.get(0)?,
                        status: ExecutionStatus::parse(&r.get::<_, String>(1)?),
                        input: parse_json(r.get::<_, String>(2)?),
                        output: r.get::<_, Option<String>>(3)?.map(parse_json),
                        error: r.get(4)?,
                        cause: r.get(5)?,
                        started_at: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(Into::into)
    }

    pub fn running(&self, machine: &str) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name FROM executions WHERE machine = ?1 AND status = 'RUNNING' ORDER BY started_at")?;
        let rows = st.query_map(params![machine], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>().map_err(Into::into)
    }

    pub fn next_seq(&self, machine: &str, name: &str) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE machine = ?1 AND name = ?2",
            params![machine, name],
            |r| r.get(0),
        )?)
    }

    pub fn append_event(
        &self,
        machine: &str,
        name: &str,
        seq: i64,
        kind: &str,
        state: Option<&str>,
        detail: &Value,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO events (machine, name, seq, at, kind, state, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![machine, name, seq, now(), kind, state, detail.to_string()],
        )?;
        Ok(())
    }

    pub fn history(&self, machine: &str, name: &str) -> Result<Vec<Event>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT seq, at, kind, state, detail FROM events WHERE machine = ?1 AND name = ?2 ORDER BY seq",
        )?;
        let rows = st.query_map(params![machine, name], |r| {
            Ok(Event {
                seq: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                state: r.get(3)?,
                detail: parse_json(r.get::<_, String>(4)?),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
    }

    pub fn put_checkpoint(
        &self,
        machine: &str,
        name: &str,
        frame: &str,
        cp: &Checkpoint,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO checkpoints (machine, name, frame, state, input, entry, entered_at, retries, done)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                machine,
                name,
                frame,
                cp.state,
                cp.input.to_string(),
                cp.entry,
                cp.entered_at,
                serde_json::to_string(&cp.retries).unwrap_or_else(|_| "[]".into()),
                cp.done.as_ref().map(Value::to_string),
            ],
        )?;
        Ok(())
    }

    pub fn checkpoint(
        &self,
        machine: &str,
        name: &str,
        frame: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.conn()
            .query_row(
                "SELECT state, input, entry, entered_at, retries, done FROM checkpoints WHERE machine = ?1 AND name = ?2 AND frame = ?3",
                params![machine, name, frame],
                |r| {
                    Ok(Checkpoint {
                        state: r.get(0)?,
                        input: parse_json(r.get::<_, String>(1)?),
                        entry: r.get(2)?,
                        entered_at: r.get(3)?,
                        retries: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                        done: r.get::<_, Option<String>>(5)?.map(parse_json),
                    })
                },
            )
            .optional()
            .map_err(Into::into)
    }

    /// Records a newly issued token; a token issued before (a resumed task) keeps its state.
    pub fn issue_token(
        &self,
        token: &str,
        machine: &str,
        name: &str,
    ) -> Result<TokenState, StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO tokens (token, machine, name, status) VALUES (?1, ?2, ?3, 'WAITING')",
            params![token, machine, name],
        )?;
        Ok(self.token(token)?.unwrap_or(TokenState::Waiting))
    }

    pub fn token(&self, token: &str) -> Result<Option<TokenState>, StoreError> {
        self.conn()
            .query_row(
                "SELECT status, output, error, cause FROM tokens WHERE token = ?1",
                params![token],
                |r| {
                    let status: String = r.get(0)?;
                    Ok(match status.as_str() {
                        "SUCCEEDED" => TokenState::Succeeded(parse_json(
                            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        )),
                        "FAILED" => TokenState::Failed {
                            error: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            cause: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                        },
                        "CLOSED" => TokenState::Closed,
                        _ => TokenState::Waiting,
                    })
                },
            )
            .optional()
            .map_err(Into::into)
    }

    /// Moves a waiting token to its final state; `false` if it was not waiting.
    pub fn settle_token(&self, token: &str, state: &TokenState) -> Result<bool, StoreError> {
        let (status, output, error, cause) = match state {
            TokenState::Waiting => return Ok(false),
            TokenState::Succeeded(v) => ("SUCCEEDED", Some(v.to_string()), None, None),
            TokenState::Failed { error, cause } => {
                ("FAILED", None, Some(error.clone()), Some(cause.clone()))
            }
            TokenState::Closed => ("CLOSED", None, None, None),
        };
        let n = self.conn().execute(
            "UPDATE tokens SET status = ?2, output = ?3, error = ?4, cause = ?5 WHERE token = ?1 AND status = 'WAITING'",
            params![token, status, output, error, cause],
        )?;
        Ok(n == 1)
    }
}

fn parse_json(s: String) -> Value {
    serde_json::from_str(&s).unwrap_or(Value::String(s))
}
