//! The embedded stack: what AWS provides in the cloud, under one data directory.
//! `likeness.sqlite` (the table: previews, keys, costs, webhooks), `queue.sqlite`
//! (the queues), `objects/` (the bucket, served over S3 on loopback) and
//! `objects.secret` (its signing key).

use crate::pipeline::{Pipeline, PipelineOptions};
use anyhow::Context;
use likeness_api::{ApiConfig, ApiState};
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::Catalogue;
use likeness_core::cost::PriceTable;
use likeness_core::ledger::StageMeter;
use likeness_core::ports::{Clock, RandomIds, SystemClock};
use likeness_embedded::object_server::{EventTarget, ObjectServer, ObjectServerConfig};
use likeness_embedded::{QueueOptions, SqliteCosts, SqliteDeliveries, SqliteQueue, SqliteRecords};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const BUCKET: &str = "likeness";
pub const UPLOADS_QUEUE: &str = "uploads";
pub const UPLOADS_DLQ: &str = "uploads-dlq";
const ACCESS_KEY: &str = "likeness-embedded";
const REGION: &str = "us-east-1";
/// A photo that fails analysis this many times goes to the dead-letter queue.
const UPLOAD_MAX_RECEIVES: u32 = 5;

pub fn records_path(data_dir: &Path) -> PathBuf {
    data_dir.join("likeness.sqlite")
}

pub struct EmbeddedStack {
    pub records: Arc<SqliteRecords>,
    pub queue: Arc<SqliteQueue>,
    pub blobs: Arc<S3Blobs>,
    pub costs: Arc<SqliteCosts>,
    pub deliveries: Arc<SqliteDeliveries>,
    pub meter: Arc<StageMeter>,
    pub objects: ObjectServer,
    pub clock: Arc<dyn Clock>,
}

impl EmbeddedStack {
    /// Open (or create) the stack in `data_dir`; the object server listens on
    /// 127.0.0.1:`objects_port` (0 picks a free port).
    pub async fn open(data_dir: &Path, objects_port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let records = Arc::new(SqliteRecords::open(&records_path(data_dir), clock.clone())?);
        let costs = Arc::new(SqliteCosts::open(&records_path(data_dir))?);
        let deliveries = Arc::new(SqliteDeliveries::open(&records_path(data_dir))?);
        let meter = Arc::new(StageMeter::new(
            costs.clone(),
            Arc::new(PriceTable::builtin()),
            clock.clone(),
        ));
        let queue = Arc::new(SqliteQueue::open(
            &data_dir.join("queue.sqlite"),
            clock.clone(),
        )?);
        let uploads = QueueOptions {
            max_receives: Some(UPLOAD_MAX_RECEIVES),
            dead_letter: Some(UPLOADS_DLQ.into()),
        };
        queue.declare(UPLOADS_QUEUE, uploads).await?;
        let secret = object_secret(data_dir)?;
        let objects = ObjectServer::start(ObjectServerConfig {
            root: data_dir.join("objects"),
            buckets: vec![BUCKET.into()],
            access_key: ACCESS_KEY.into(),
            secret_key: secret.clone(),
            region: REGION.into(),
            port: objects_port,
            events: Some(EventTarget {
                bucket: BUCKET.into(),
                prefix: "uploads/".into(),
                queue: queue.clone(),
                queue_name: UPLOADS_QUEUE.into(),
            }),
        })
        .await?;
        let endpoint = S3Endpoint {
            url: objects.endpoint_url(),
            access_key: ACCESS_KEY.into(),
            secret_key: secret,
            region: REGION.into(),
        };
        let blobs = Arc::new(S3Blobs::for_endpoint(&endpoint, BUCKET).with_clock(clock.clone()));
        Ok(Self {
            records,
            queue,
            blobs,
            costs,
            deliveries,
            meter,
            objects,
            clock,
        })
    }

    pub fn api_state(&self, config: ApiConfig) -> ApiState {
        ApiState {
            previews: self.records.clone(),
            keys: self.records.clone(),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            ids: Arc::new(RandomIds),
            catalogue: Arc::new(Catalogue::builtin()),
            config,
            deliveries: self.deliveries.clone(),
            costs: self.costs.clone(),
        }
    }
}

/// The embedded object server's secret, made once per data directory and readable
/// only by its owner, so presigned URLs stay valid across restarts.
fn object_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("objects.secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(existing.to_owned());
        }
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// `likeness serve`: the API on 127.0.0.1:`port`, the object server on `port + 1`,
/// and every pipeline stage, until Ctrl-C or SIGTERM.
pub async fn serve(data_dir: &Path, port: u16) -> anyhow::Result<()> {
    let objects_port = port.checked_add(1).context("port too large")?;
    crate::identity::ensure_models().await;
    let stack = EmbeddedStack::open(data_dir, objects_port).await?;
    let engine = crate::engines::from_environment()?;
    let pipeline = Pipeline::open(stack, engine, PipelineOptions::default(), data_dir).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    tracing::info!(
        api = %format!("http://127.0.0.1:{port}"),
        objects = %pipeline.stack.objects.endpoint_url(),
        data_dir = %data_dir.display(),
        "likeness is serving"
    );
    let stop = CancellationToken::new();
    let config = ApiConfig::from_env().map_err(anyhow::Error::msg)?;
    let app = likeness_api::router(pipeline.stack.api_state(config));
    let api_stop = stop.clone();
    let limits = likeness_api::ServerLimits::default();
    let api = likeness_api::serve(
        listener,
        app,
        limits,
        async move { api_stop.cancelled().await },
    );
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        signal_stop.cancel();
    });
    let (served, ran) = tokio::join!(api, pipeline.run(stop.clone()));
    served?;
    ran?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
