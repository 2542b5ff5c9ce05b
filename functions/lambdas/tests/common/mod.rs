//! What the handler tests share: the fixtures in `events/`, and a stack of
//! embedded adapters (SQLite records, queue, ledger; the embedded S3-compatible
//! object server behind the real `S3Blobs` adapter).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::ports::{Blobs, Previews, StartOutcome, SystemClock, Workflow};
use likeness_core::preview::{PreviewPatch, UploadSpec};
use likeness_core::{
    Consent, PortError, Preview, PreviewId, Status, StyleId, SubjectKind, TenantId, keys,
};
use likeness_embedded::object_server::{ObjectServer, ObjectServerConfig};
use likeness_embedded::{QueueOptions, SqliteCosts, SqliteDeliveries, SqliteQueue, SqliteRecords};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    let now = Utc::now();
    let id = PreviewId::new(PREVIEW);
    let tenant = TenantId::new(TENANT);
    Preview {
        upload: UploadSpec {
            key: keys::upload(&tenant, &id),
            content_type: "image/jpeg".into(),
            content_length: 279_922,
            expires_at: now + chrono::Duration::minutes(15),
        },
        id,
        tenant,
        status: Status::AwaitingUpload,
        subject: SubjectKind::Person,
        styles: vec![StyleId::new("oil")],
        variations: 2,
        webhook_url: Some("https://hooks.example.com/likeness".into()),
        consent: Consent {
            rights_to_photo: true,
        },
        created_at: now,
        updated_at: now,
        version: 1,
        analysis: None,
        rejection_reasons: vec![],
        failure: None,
        results: None,
        expires_at: now + chrono::Duration::days(7),
    }
}

/// Step Functions as the handlers see it: executions by name, task answers recorded.
#[derive(Default)]
pub struct RecordingWorkflow {
    pub started: Mutex<Vec<(String, Value)>>,
    pub successes: Mutex<Vec<(String, Value)>>,
    pub failures: Mutex<Vec<(String, String, String)>>,
    pub heartbeats: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Workflow for RecordingWorkflow {
    async fn start_execution(&self, name: &str, input: Value) -> Result<StartOutcome, PortError> {
        let mut started = self.started.lock().unwrap();
        if started.iter().any(|(n, _)| n == name) {
            return Ok(StartOutcome::AlreadyRunning);
        }
        started.push((name.to_owned(), input));
        Ok(StartOutcome::Started)
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), PortError> {
        self.successes
            .lock()
            .unwrap()
            .push((token.to_owned(), output));
        Ok(())
    }
    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), PortError> {
        self.failures
            .lock()
            .unwrap()
            .push((token.to_owned(), error.to_owned(), cause.to_owned()));
        Ok(())
    }
    async fn send_task_heartbeat(&self, token: &str) -> Result<(), PortError> {
        self.heartbeats.lock().unwrap().push(token.to_owned());
        Ok(())
    }
}
