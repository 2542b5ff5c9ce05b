//! The embedded stack: what AWS provides in the cloud, under one data directory.
//! `likeness.sqlite` (the table: previews, keys, costs, webhooks), `queue.sqlite`
//! (the queues), `objects/` (the bucket, served over S3 on loopback) and
//! `objects.secret` (its signing key).

use anyhow::Context;
use likeness_analyze::handler::AnalyzePorts;
use likeness_api::{ApiConfig, ApiState};
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::cost::total_usd;
use likeness_core::ledger::CostLedger;
use likeness_core::metering::{LedgerMeter, Meter};
use likeness_core::ports::{Announce, Clock, ExecutionHistory, RandomIds, SystemClock, Workflow};
use likeness_core::{Catalogue, PortError, PreviewId};
use likeness_embedded::object_server::{EventTarget, ObjectServer, ObjectServerConfig, cors};
use likeness_embedded::{QueueOptions, SqliteCosts, SqliteDeliveries, SqliteQueue, SqliteRecords};
use likeness_judge::{DeliveryConfig, FaceModel, FinalizePorts, JudgePorts, MarkFailedPorts};
use likeness_notify::NotifyPorts;
use likeness_vision::AnalysisConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    pub meter: Arc<dyn Meter>,
    pub objects: ObjectServer,
    pub clock: Arc<dyn Clock>,
    /// Held for the stack's life: one process per data directory (see [`lock_data_dir`]).
    _lock: std::fs::File,
}

/// Take the data directory for this process alone. At start the stack releases
/// every queue message a previous process had taken, which is only right if
/// that process is gone: a second `likeness` on the same directory is refused
/// instead. The lock is the kernel's, so a process killed with `kill -9` leaves
/// none behind.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("likeness.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another likeness process is using {}; stop it or choose another --data-dir",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

impl EmbeddedStack {
    /// Open (or create) the stack in `data_dir`; the object server listens on
    /// 127.0.0.1:`objects_port` (0 picks a free port).
    pub async fn open(data_dir: &Path, objects_port: u16) -> anyhow::Result<Self> {
        Self::open_with_clock(data_dir, objects_port, Arc::new(SystemClock)).await
    }

    /// [`EmbeddedStack::open`] on `clock` (tests hold time still with it).
    pub async fn open_with_clock(
        data_dir: &Path,
        objects_port: u16,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::open_for_pages(data_dir, objects_port, clock, &[]).await
    }

    /// [`EmbeddedStack::open_with_clock`], with the bucket's CORS rule
    /// ([`cors::bucket_rule`]) for pages on `page_origins`: their browsers PUT
    /// photos to presigned URLs and fetch portraits.
    pub async fn open_for_pages(
        data_dir: &Path,
        objects_port: u16,
        clock: Arc<dyn Clock>,
        page_origins: &[String],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let lock = lock_data_dir(data_dir)?;
        let records = Arc::new(SqliteRecords::open(&records_path(data_dir), clock.clone())?);
        let costs = Arc::new(SqliteCosts::open(&records_path(data_dir))?);
        let deliveries = Arc::new(SqliteDeliveries::open(&records_path(data_dir))?);
        let meter: Arc<dyn Meter> = Arc::new(LedgerMeter::builtin(
            records.clone(),
            costs.clone(),
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
        // Whatever a previous process had taken died with it: deliver it again
        // now rather than after each queue's visibility timeout (minutes).
        let released = queue.release_claimed().await?;
        if released > 0 {
            tracing::info!(
                released,
                "re-queued messages the previous process had taken"
            );
        }
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
            cors: if page_origins.is_empty() {
                Vec::new()
            } else {
                vec![cors::bucket_rule(page_origins)]
            },
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
            _lock: lock,
        })
    }

    /// What the preview has cost so far, in USD.
    pub async fn preview_usd(&self, id: &PreviewId) -> anyhow::Result<f64> {
        Ok(total_usd(&self.costs.lines_for(id).await?))
    }

    // The one-machine composition of each stage's handler: the same handlers
    // the Lambda functions serve, over the embedded adapters.

    pub fn analyze_ports(
        &self,
        workflow: Arc<dyn Workflow>,
        config: AnalysisConfig,
        announce: Arc<dyn Announce>,
    ) -> AnalyzePorts {
        AnalyzePorts {
            previews: self.records.clone(),
            blobs: self.blobs.clone(),
            workflow,
            config,
            clock: self.clock.clone(),
            meter: Some(self.meter.clone()),
            announce: Some(announce),
        }
    }

    pub fn judge_ports(
        &self,
        catalogue: Arc<Catalogue>,
        model: Option<Arc<dyn FaceModel>>,
    ) -> JudgePorts {
        JudgePorts {
            blobs: self.blobs.clone(),
            catalogue,
            model,
            clock: self.clock.clone(),
            meter: Some(self.meter.clone()),
        }
    }

    pub fn finalize_ports(&self, delivery: DeliveryConfig) -> FinalizePorts {
        FinalizePorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
            delivery,
            clock: self.clock.clone(),
            meter: Some(self.meter.clone()),
        }
    }

    pub fn mark_failed_ports(&self) -> MarkFailedPorts {
        MarkFailedPorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
        }
    }

    pub fn notify_ports(
        &self,
        announce: Arc<dyn Announce>,
        history: Arc<dyn ExecutionHistory>,
    ) -> NotifyPorts {
        NotifyPorts {
            previews: self.records.clone(),
            announce,
            clock: self.clock.clone(),
            meter: Some(self.meter.clone()),
            history: Some(history),
        }
    }

    /// The API over this stack; `preview.erased` is announced into the
    /// webhook queue the pipeline's notifier delivers from.
    pub async fn api_state(&self, config: ApiConfig) -> Result<ApiState, PortError> {
        let announce = crate::notify::announcer(self).await?;
        Ok(ApiState {
            previews: self.records.clone(),
            keys: self.records.clone(),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            ids: Arc::new(RandomIds),
            catalogue: Arc::new(Catalogue::builtin()),
            config,
            deliveries: self.deliveries.clone(),
            costs: self.costs.clone(),
            tokens: Arc::new(likeness_api::tokens::Tokens::new(self.records.clone())),
            announce: Some(Arc::new(announce)),
        })
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
