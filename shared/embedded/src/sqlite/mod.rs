//! SQLite in WAL mode: readers never block the writer, and a crash leaves the
//! last committed state. Each adapter owns one connection behind a mutex and runs
//! statements on the blocking pool so async callers are never stalled.

pub mod costs;
pub mod deliveries;
pub mod queue;
pub mod records;

use likeness_core::PortError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) fn open(path: &Path) -> Result<Connection, PortError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| PortError::Backend(format!("creating {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(backend)?;
    // Another process (or a second stack in tests) may hold the write lock briefly.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(backend)?;
    Ok(conn)
}

pub(crate) fn backend(e: rusqlite::Error) -> PortError {
    match e {
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            PortError::Unavailable(e.to_string())
        }
        other => PortError::Backend(other.to_string()),
    }
}

/// Run `f` with the connection on tokio's blocking pool.
pub(crate) async fn with_conn<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, PortError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
{
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut guard = conn
            .lock()
            .map_err(|_| PortError::Backend("sqlite connection poisoned".into()))?;
        f(&mut guard)
    })
    .await
    .map_err(|e| PortError::Backend(format!("sqlite task: {e}")))?
}
