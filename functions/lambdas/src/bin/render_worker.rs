//! The render worker container (functions/render/Dockerfile): takes render
//! tasks from SQS until SIGTERM, then fails its in-flight tasks back.

use likeness_core::Catalogue;
use likeness_lambdas::render_worker::{
    TaskProtection, WorkerSettings, cancel_on_shutdown_signal, run,
};
use likeness_lambdas::{AwsStack, config, diffusion_weights};
use likeness_render::worker::RenderWorker;
use likeness_render::{FaceLandmarks, engine_from_env};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The identity models' landmark predictor, when the image carries the models
/// (`LIKENESS_MODELS_DIR`); without it face masks follow the face boxes.
fn landmark_model() -> Option<Arc<dyn FaceLandmarks>> {
    match likeness_identity::FaceModels::shared() {
        Ok(models) => Some(models),
        Err(e) => {
            tracing::info!(error = %e, "no landmark model: face masks follow the face boxes");
            None
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    likeness_lambdas::init_tracing();
    let settings = WorkerSettings::from_env()?;
    let stack = AwsStack::from_env().await?;
    if let Some(uri) = config::optional(diffusion_weights::WEIGHTS_S3) {
        let dir = config::required(likeness_render::DIFFUSION_MODEL_ENV)?;
        let s3 = aws_sdk_s3::Client::new(&stack.sdk);
        match diffusion_weights::fetch(&s3, &uri, std::path::Path::new(&dir)).await {
            Ok(fetched) => tracing::info!(
                downloaded = fetched.downloaded.len(),
                already_present = fetched.already_present.len(),
                bytes = fetched.bytes_downloaded,
                "diffusion weights verified against their manifest"
            ),
            Err(e) => {
                tracing::error!(error = %e, "render worker stopped before taking any task");
                return Err(e.into());
            }
        }
    }
    let catalogue = Arc::new(Catalogue::builtin());
    let worker = Arc::new(RenderWorker {
        queue: stack.queue(),
        queue_name: settings.queue_url.clone(),
        workflow: stack.task_tokens(),
        blobs: stack.blobs.clone(),
        engine: engine_from_env(&catalogue)?,
        catalogue,
        heartbeat: settings.heartbeat_interval(),
        long_side: settings.long_side,
        landmarks: landmark_model(),
    });
    let stop = CancellationToken::new();
    cancel_on_shutdown_signal(stop.clone());
    tracing::info!(queue = %settings.queue_url, workers = settings.workers, "render worker started");
    let protection = TaskProtection::from_env().map(Arc::new);
    if protection.is_none() {
        tracing::info!("no ECS agent (ECS_AGENT_URI unset): no scale-in protection");
    }
    run(worker, settings.workers, stop, protection).await;
    tracing::info!("render worker stopped");
    Ok(())
}
