//! What the handler tests share: the fixtures in `events/`, and a stack of
//! embedded adapters (SQLite records, queue, ledger; the embedded S3-compatible
//! object server behind the real `S3Blobs` adapter).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use lambda_runtime::{Context, LambdaEvent};
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::metering::{LedgerMeter, Meter};
use likeness_core::ports::{Blobs, Previews, SystemClock};
use likeness_core::preview::PreviewPatch;
use likeness_core::testing::PreviewBuilder;
use likeness_core::{Catalogue, PortError, Preview, Status};
use likeness_embedded::object_server::{ObjectServer, ObjectServerConfig};
use likeness_embedded::{QueueOptions, SqliteCosts, SqliteDeliveries, SqliteQueue, SqliteRecords};
use likeness_judge::{DeliveryConfig, FinalizePorts, JudgePorts, MarkFailedPorts};
use likeness_notify::{Announcer, NotifyConfig, NotifyPorts};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// The order every fixture in `events/` describes.
pub const PREVIEW: &str = "pv_0194a6c3e1f27b3e9a4f5d6c7b8a9f01";
pub const TENANT: &str = "acme";
pub const API_KEY: &str = "lk_5f0c9e1d2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5";
pub const WEBHOOKS_QUEUE: &str = "webhooks";
pub const WEBHOOKS_DLQ: &str = "webhooks-dlq";
const BUCKET: &str = "likeness";

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// A fixture from `events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = repo_path("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

pub fn lambda_event<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, Context::default())
}

pub fn photo() -> Vec<u8> {
    std::fs::read(repo_path("tests/fixtures/photos/obama.jpg")).expect("the obama.jpg fixture")
}

/// A PNG of the fixture photo with its long side at `long_side` pixels.
pub fn photo_png(long_side: u32) -> Vec<u8> {
    let image = image::load_from_memory(&photo()).expect("decodable fixture photo");
    let small = image.resize(long_side, long_side, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small
        .to_rgb8()
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png encoding");
    out.into_inner()
}

pub struct Stack {
    _dir: tempfile::TempDir,
    _server: ObjectServer,
    pub blobs: Arc<S3Blobs>,
    pub records: Arc<SqliteRecords>,
    pub deliveries: Arc<SqliteDeliveries>,
    pub costs: Arc<SqliteCosts>,
    pub queue: Arc<SqliteQueue>,
}

impl Stack {
    pub async fn start() -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let endpoint = S3Endpoint {
            url: String::new(),
            access_key: "likeness-test".into(),
            secret_key: "likeness-test-secret".into(),
            region: "us-east-1".into(),
        };
        let server = ObjectServer::start(ObjectServerConfig {
            root: dir.path().join("objects"),
            buckets: vec![BUCKET.into()],
            access_key: endpoint.access_key.clone(),
            secret_key: endpoint.secret_key.clone(),
            region: endpoint.region.clone(),
            port: 0,
            events: None,
            cors: Vec::new(),
        })
        .await
        .expect("object server");
        let endpoint = S3Endpoint {
            url: server.endpoint_url(),
            ..endpoint
        };
        let db = dir.path().join("likeness.sqlite");
        let queue = Arc::new(SqliteQueue::open(&db, Arc::new(SystemClock)).expect("queue"));
        for name in [WEBHOOKS_QUEUE, WEBHOOKS_DLQ, "render"] {
            queue
                .declare(name, QueueOptions::default())
                .await
                .expect("declare queue");
        }
        Stack {
            blobs: Arc::new(S3Blobs::for_endpoint(&endpoint, BUCKET)),
            records: Arc::new(SqliteRecords::open(&db, Arc::new(SystemClock)).expect("records")),
            deliveries: Arc::new(SqliteDeliveries::open(&db).expect("deliveries")),
            costs: Arc::new(SqliteCosts::open(&db).expect("costs")),
            queue,
            _server: server,
            _dir: dir,
        }
    }

    /// The fixtures' order, stored and moved along the status machine to `status`.
    pub async fn preview_at(&self, status: Status) -> Preview {
        self.store_at(order(), status).await
    }

    /// `preview` stored and moved along the status machine to `status`.
    pub async fn store_at(&self, preview: Preview, status: Status) -> Preview {
        self.records.create(&preview).await.expect("create preview");
        let path: &[Status] = match status {
            Status::AwaitingUpload => &[],
            Status::Analyzing => &[Status::Analyzing],
            Status::Rendering => &[Status::Analyzing, Status::Rendering],
            Status::Judging => &[Status::Analyzing, Status::Rendering, Status::Judging],
            Status::Ready => &[
                Status::Analyzing,
                Status::Rendering,
                Status::Judging,
                Status::Ready,
            ],
            Status::Failed => &[Status::Analyzing, Status::Rendering, Status::Failed],
            other => panic!("no test path to {other:?}"),
        };
        let mut from = Status::AwaitingUpload;
        let mut current = preview;
        for &to in path {
            current = self
                .records
                .transition(&current.id, from, to, PreviewPatch::default())
                .await
                .expect("transition");
            from = to;
        }
        current
    }

    /// The cost ledger in the stack's table.
    pub fn meter(&self) -> Arc<dyn Meter> {
        Arc::new(LedgerMeter::builtin(
            self.records.clone(),
            self.costs.clone(),
            Arc::new(SystemClock),
        ))
    }

    /// The judge's ports over this stack, without the identity model.
    pub fn judge_ports(&self, meter: Option<Arc<dyn Meter>>) -> JudgePorts {
        JudgePorts {
            blobs: self.blobs.clone(),
            catalogue: Arc::new(Catalogue::builtin()),
            model: None,
            clock: Arc::new(SystemClock),
            meter,
        }
    }

    pub fn finalize_ports(&self) -> FinalizePorts {
        FinalizePorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
            delivery: DeliveryConfig::default(),
            clock: Arc::new(SystemClock),
            meter: None,
        }
    }

    pub fn mark_failed_ports(&self) -> MarkFailedPorts {
        MarkFailedPorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
        }
    }

    /// Events into the webhooks queue of this stack.
    pub fn announcer(&self) -> Announcer {
        Announcer::new(
            self.records.clone(),
            self.costs.clone(),
            self.blobs.clone(),
            self.deliveries.clone(),
            self.queue.clone(),
            Arc::new(SystemClock),
            NotifyConfig {
                queue: WEBHOOKS_QUEUE.into(),
                ..NotifyConfig::production()
            },
        )
    }

    pub fn notify_ports(&self) -> NotifyPorts {
        NotifyPorts {
            previews: self.records.clone(),
            announce: Arc::new(self.announcer()),
            clock: Arc::new(SystemClock),
            meter: None,
            history: None,
        }
    }

    pub async fn blob_exists(&self, key: &str) -> bool {
        match self.blobs.get(key).await {
            Ok(_) => true,
            Err(PortError::NotFound(_)) => false,
            Err(e) => panic!("reading {key}: {e}"),
        }
    }
}

/// The order the fixtures describe, awaiting its upload.
pub fn order() -> Preview {
    PreviewBuilder::new(TENANT, PREVIEW)
        .upload_length(279_922)
        .variations(2)
        .webhook("https://hooks.example.com/likeness")
        .build()
}
