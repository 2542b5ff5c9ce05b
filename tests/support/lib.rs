//! Helpers for the end-to-end tests: a whole embedded stack with its API served
//! on an ephemeral loopback port, in a temporary data directory.

use likeness::stack::EmbeddedStack;
use likeness_api::ApiConfig;
use likeness_core::TenantId;
use likeness_core::ports::{KeyScope, SystemClock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/photos")
        .join(name)
}

pub struct Running {
    pub stack: EmbeddedStack,
    pub api: String,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let stack = EmbeddedStack::open(data_dir, 0).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let app = likeness_api::router(stack.api_state(ApiConfig::default()).await?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            stack,
            api: format!("http://{addr}"),
            server,
        })
    }

    pub async fn key(&self, tenant: &str) -> String {
        likeness_api::auth::issue_key(
            &*self.stack.records,
            &SystemClock,
            &TenantId::new(tenant),
            KeyScope::Tenant,
        )
        .await
        .expect("issuing a key")
    }

    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.stack
            .objects
            .shutdown()
            .await
            .expect("stopping the object server");
    }
}

/// The whole pipeline running over an embedded stack, with its API on loopback.
pub struct Service {
    pub pipeline: std::sync::Arc<likeness::pipeline::Pipeline>,
    pub api: String,
    pub key: String,
    stop: tokio_util::sync::CancellationToken,
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
    server: tokio::task::JoinHandle<()>,
}

/// Options that keep the end-to-end tests quick: small renders, short heartbeats.
pub fn quick_options() -> likeness::pipeline::PipelineOptions {
    likeness::pipeline::PipelineOptions {
        long_side: 768,
        heartbeat_seconds: 3,
        ..likeness::pipeline::PipelineOptions::default()
    }
}

impl Service {
    pub async fn start(
        data_dir: &Path,
        options: likeness::pipeline::PipelineOptions,
    ) -> anyhow::Result<Self> {
        let stack = EmbeddedStack::open(data_dir, 0).await?;
        let engine: std::sync::Arc<dyn likeness_render::Engine> = std::sync::Arc::new(
            likeness_render::ClassicEngine::new((*options.catalogue).clone()),
        );
        let pipeline = std::sync::Arc::new(
            likeness::pipeline::Pipeline::open(stack, engine, options, data_dir).await?,
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let run = {
            let (pipeline, stop) = (pipeline.clone(), stop.clone());
            tokio::spawn(async move { pipeline.run(stop).await })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = format!("http://{}", listener.local_addr()?);
        let app = likeness_api::router(pipeline.stack.api_state(ApiConfig::default()).await?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let key = likeness_api::auth::issue_key(
            &*pipeline.stack.records,
            &SystemClock,
            &TenantId::new("acme"),
            KeyScope::Tenant,
        )
        .await?;
        Ok(Self {
            pipeline,
            api,
            key,
            stop,
            run,
            server,
        })
    }

    /// Order a preview and upload `photo` through its presigned URL, as a customer would.
    pub async fn submit(
        &self,
        photo: &[u8],
        order: serde_json::Value,
    ) -> anyhow::Result<likeness_core::PreviewId> {
        let client = reqwest::Client::new();
        let mut order = order;
        order["content_length"] = photo.len().into();
        order["consent"] = serde_json::json!({"rights_to_photo": true});
        let created: serde_json::Value = client
            .post(format!("{}/v1/previews", self.api))
            .bearer_auth(&self.key)
            .json(&order)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let upload = &created["upload"];
        let mut put = client.put(upload["url"].as_str().unwrap_or_default());
        for (name, value) in upload["headers"].as_object().into_iter().flatten() {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
        put.body(photo.to_vec()).send().await?.error_for_status()?;
        Ok(likeness_core::PreviewId::new(
            created["id"].as_str().unwrap_or_default(),
        ))
    }

    /// Wait until the preview is final and its execution (if any) has ended.
    pub async fn wait_final(
        &self,
        id: &likeness_core::PreviewId,
        limit: std::time::Duration,
    ) -> likeness_core::Preview {
        use likeness_core::ports::Previews;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let preview = self
                .pipeline
                .stack
                .records
                .get(id)
                .await
                .unwrap()
                .expect("the preview exists");
            let running = self
                .pipeline
                .runner
                .describe(id.as_str())
                .unwrap()
                .is_some_and(|r| r.status == likeness_workflow::ExecutionStatus::Running);
            if preview.status.is_final() && !running {
                return preview;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "preview still {} after {limit:?}",
                preview.status
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.run.await;
        self.server.abort();
        let _ = self.server.await;
    }
}

pub fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("reading a fixture photo")
}
