//! Serving the router on one machine with the limits a public HTTP server needs:
//! a slow client holds a connection for seconds, not forever.
//!
//! - request headers must arrive within `header_read_timeout` (this also closes
//!   idle keep-alive connections), and may be at most `max_header_bytes`
//!   (431 beyond);
//! - a request body that stops sending for `body_stall_timeout` is abandoned,
//!   and a whole request gets `request_timeout` (408 beyond);
//! - at most `max_connections` connections are open at once; more wait in the
//!   listener's backlog until one closes.
//!
//! In AWS, API Gateway does this job: see docs/RELIABILITY.md.

use axum::Router;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::{RequestBodyTimeout, TimeoutLayer};

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub body_stall_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// hyper's read buffer, which a request head must fit in (at least 8 KiB).
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_stall_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Serve `router` on `listener` under `limits` until `shutdown` completes, then
/// let requests in flight finish (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = router.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let app = RequestBodyTimeout::new(app, limits.body_stall_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    // Replies go out at once, not after the client's delayed ACK.
                    let _ = a.0.set_nodelay(true);
                    a
                }
                Err(e) => {
                    // Usually descriptor exhaustion: back off instead of spinning.
                    tracing::warn!(error = %e, "api accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "api connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("api shut down with requests still in flight");
    }
    Ok(())
}
