//! An S3-compatible object server on 127.0.0.1, for running likeness on one machine.
//!
//! s3s parses the S3 protocol and checks SigV4 (header-signed and presigned
//! requests), s3s-fs stores `bucket/key` as files under the root directory, and
//! [`notifying`] adds the S3→SQS `ObjectCreated` events. Clients use the real AWS SDK
//! with path-style addressing (`http://127.0.0.1:PORT/bucket/key`).
//!
//! s3s has no body-size or rate limits, so the server only ever binds loopback,
//! and the connection layer here adds what a slow or greedy client needs
//! ([`ServerLimits`]): a header read timeout (which also closes idle
//! connections), a body stall timeout, a cap on connections and on header size.

pub mod cors;
mod keys;
mod notifying;

pub use notifying::EventTarget;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use notifying::NotifyingFs;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct ObjectServerConfig {
    /// Objects live under `root/bucket/key`; created if missing, kept across restarts.
    pub root: PathBuf,
    /// Buckets to create at start (existing ones and their objects are kept).
    pub buckets: Vec<String>,
    pub access_key: String,
    pub secret_key: String,
    /// Reported in events; s3s accepts signatures for any region.
    pub region: String,
    /// 0 picks a free port; see [`ObjectServer::addr`].
    pub port: u16,
    pub events: Option<EventTarget>,
    /// The buckets' CORS rules ([`cors::bucket_rule`] for likeness); empty
    /// refuses every cross-origin preflight, as a bucket without CORS does.
    pub cors: Vec<cors::CorsRule>,
}

/// What one client may take from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request head must arrive within this; idle keep-alive connections close after it.
    pub header_read_timeout: Duration,
    /// An upload that sends nothing for this long is abandoned (nothing is stored).
    pub body_stall_timeout: Duration,
    /// A whole request, upload included: a 25 MiB photo at 1 Mbit/s takes ~210 s.
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
            request_timeout: Duration::from_secs(300),
            max_connections: 512,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

#[derive(Debug, Error)]
pub enum ObjectServerError {
    #[error("invalid object server configuration: {0}")]
    Config(String),
    #[error("object server root {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("object server task failed: {0}")]
    Task(String),
}

/// A running server. Stop it with [`ObjectServer::shutdown`]; dropping the handle
/// also stops accepting connections, without waiting.
#[derive(Debug)]
pub struct ObjectServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ObjectServer {
    pub async fn start(config: ObjectServerConfig) -> Result<Self, ObjectServerError> {
        Self::start_with_limits(config, ServerLimits::default()).await
    }

    pub async fn start_with_limits(
        config: ObjectServerConfig,
        limits: ServerLimits,
    ) -> Result<Self, ObjectServerError> {
        validate(&config)?;
        let root = prepare_root(&config)?;
        let fs = s3s_fs::FileSystem::new(&root)
            .map_err(|e| ObjectServerError::Config(format!("s3s-fs refused {root:?}: {e:?}")))?;
        let s3 = NotifyingFs::new(fs, root.clone(), config.region.clone(), config.events);
        let mut builder = S3ServiceBuilder::new(s3);
        builder.set_auth(SimpleAuth::from_single(
            config.access_key,
            config.secret_key.as_str(),
        ));
        let service = builder.build();

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(|source| ObjectServerError::Bind {
                port: config.port,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ObjectServerError::Bind {
                port: config.port,
                source,
            })?;
        let (stop, stopped) = oneshot::channel();
        let cors = Arc::new(config.cors);
        let task = tokio::spawn(serve(listener, service, cors, limits, stopped));
        info!(%addr, root = %root.display(), "object server listening");
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for an S3 client (use path-style addressing).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to a bound), and returns
    /// once the listener is closed.
    pub async fn shutdown(mut self) -> Result<(), ObjectServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| ObjectServerError::Task(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A body error s3s can carry (it wants a concrete `std::error::Error`).
#[derive(Debug, Error)]
#[error("request body: {0}")]
struct BodyError(String);

/// A request body that fails when no bytes arrive for `stall`. It passes the
/// body's size hint on: s3s reads the declared length from it.
struct StallBody {
    inner: Pin<Box<hyper::body::Incoming>>,
    stall: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl StallBody {
    fn new(inner: hyper::body::Incoming, stall: Duration) -> Self {
        Self {
            inner: Box::pin(inner),
            stall,
            sleep: Box::pin(tokio::time::sleep(stall)),
        }
    }
}

impl http_body::Body for StallBody {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.inner.as_mut().poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.stall;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(|e| BodyError(e.to_string()))))
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError(format!(
                    "no bytes for {:?}",
                    self.stall
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn serve(
    listener: TcpListener,
    service: S3Service,
    cors: Arc<Vec<cors::CorsRule>>,
    limits: ServerLimits,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let (stall, total) = (limits.body_stall_timeout, limits.request_timeout);
    loop {
        let permit = tokio::select! {
            _ = &mut stopped => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Small responses go out at once: with Nagle's algorithm a
                    // reply waits for the client's delayed ACK (40 ms a request).
                    let _ = stream.set_nodelay(true);
                    let s3 = service.clone();
                    let cors = cors.clone();
                    let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut s3 = s3.clone();
                        let cors = cors::evaluate(&cors, req.method(), req.headers());
                        // The stall timeout ends an upload that stops sending; the
                        // total bounds one that trickles.
                        let req = req.map(|b| StallBody::new(b, stall));
                        async move {
                            let add = match cors {
                                cors::Cors::Preflight(answer) => {
                                    return Ok(answer.map(s3s::Body::from));
                                }
                                cors::Cors::Allow(add) => Some(add),
                                cors::Cors::None => None,
                            };
                            let mut response = match tokio::time::timeout(total, tower::Service::call(&mut s3, req)).await {
                                Ok(r) => r?,
                                Err(_) => return Err(s3s::HttpError::new(Box::new(BodyError(
                                    "request took too long".into(),
                                )))),
                            };
                            if let Some(add) = add {
                                response.headers_mut().extend(add);
                            }
                            Ok(response)
                        }
                    });
                    let conn = http.serve_connection(TokioIo::new(stream), handler);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            debug!(%peer, error = %e, "object server connection ended with an error");
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Usually descriptor exhaustion: back off instead of spinning.
                    warn!(error = %e, "object server accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("object server shut down with requests still in flight");
    }
    info!("object server stopped");
}

fn validate(config: &ObjectServerConfig) -> Result<(), ObjectServerError> {
    if config.access_key.is_empty() || config.secret_key.is_empty() {
        return Err(ObjectServerError::Config(
            "access key and secret key must not be empty".into(),
        ));
    }
    if config.region.is_empty() {
        return Err(ObjectServerError::Config("region must not be empty".into()));
    }
    for bucket in &config.buckets {
        check_bucket_name(bucket)?;
    }
    if let Some(events) = &config.events {
        if !config.buckets.contains(&events.bucket) {
            return Err(ObjectServerError::Config(format!(
                "event bucket {:?} is not among the buckets to create",
                events.bucket
            )));
        }
        if events.queue_name.is_empty() {
            return Err(ObjectServerError::Config(
                "event queue name must not be empty".into(),
            ));
        }
    }
    Ok(())
}

/// S3's bucket naming rules, which also keep a name from escaping the root.
fn check_bucket_name(name: &str) -> Result<(), ObjectServerError> {
    let bad = |why: &str| ObjectServerError::Config(format!("bucket name {name:?} {why}"));
    if !(3..=63).contains(&name.len()) {
        return Err(bad("must be 3 to 63 characters long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(bad("may only contain a-z, 0-9, '-' and '.'"));
    }
    let first_last_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !first_last_ok(name.as_bytes()[0]) || !first_last_ok(name.as_bytes()[name.len() - 1]) {
        return Err(bad("must start and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(bad("must not contain '..'"));
    }
    Ok(())
}

fn prepare_root(config: &ObjectServerConfig) -> Result<PathBuf, ObjectServerError> {
    let root_err = |path: &PathBuf| {
        let path = path.clone();
        move |source| ObjectServerError::Root { path, source }
    };
    std::fs::create_dir_all(&config.root).map_err(root_err(&config.root))?;
    let root = config.root.canonicalize().map_err(root_err(&config.root))?;
    for bucket in &config.buckets {
        let dir = root.join(bucket);
        std::fs::create_dir_all(&dir).map_err(root_err(&dir))?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["likeness", "my-bucket.1", "abc"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "../x",
            "has/slash",
            "",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
