//! The render worker: takes render tasks that the state machine sends with
//! `sqs:sendMessage.waitForTaskToken`, renders the candidates, stores them under
//! `work/{id}/candidates/`, and answers the task token. It heartbeats while an
//! engine runs, so a worker that dies is noticed (`States.HeartbeatTimeout`) and
//! the task retried elsewhere; on shutdown it fails its in-flight task back to
//! the workflow instead of leaving it to time out.

use crate::{Engine, FaceHint, FaceLandmarks, IdentityHints, RenderRequest, add_landmarks};
use image::RgbImage;
use likeness_core::ports::{Blobs, Queue, QueueMessage, Workflow};
use likeness_core::{
    Catalogue, Point, PortError, PreviewId, Rect, StyleId, SubjectKind, TenantId, keys,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The message body the `Render` state sends (see `infra/statemachine/preview.asl.json`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RenderTask {
    #[serde(rename = "TaskToken")]
    pub task_token: String,
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub subject: SubjectKind,
    pub style: StyleId,
    pub attempt: u32,
    pub variations: u32,
    #[serde(default)]
    pub parameters: RenderParameters,
}

/// What the judge may change between attempts.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RenderParameters {
    #[serde(default)]
    pub seed_offset: u64,
    #[serde(default)]
    pub strength: Option<f32>,
    #[serde(default)]
    pub ip_scale: Option<f32>,
}

/// Faces and subject of the reference, as the analysis stage stored them in
/// `work/{id}/hints.json` (coordinates of the normalized reference).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct StoredHints {
    #[serde(default)]
    pub faces: Vec<StoredFace>,
    #[serde(default)]
    pub subject: Option<Rect>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoredFace {
    pub rect: Rect,
    #[serde(default)]
    pub landmarks: Option<Vec<Point>>,
}

impl StoredHints {
    pub fn key(id: &PreviewId) -> String {
        keys::work(id, "hints.json")
    }

    fn into_hints(self) -> IdentityHints {
        IdentityHints {
            faces: self
                .faces
                .into_iter()
                .map(|f| FaceHint {
                    rect: f.rect,
                    landmarks: f.landmarks.and_then(|p| <[Point; 5]>::try_from(p).ok()),
                })
                .collect(),
            subject: self.subject,
        }
    }
}

pub fn reference_key(id: &PreviewId) -> String {
    keys::work(id, "reference.png")
}

pub fn candidate_key(id: &PreviewId, style: &StyleId, attempt: u32, n: usize) -> String {
    keys::work(id, &format!("candidates/{style}/{attempt}-{n}.png"))
}

/// A failure the workflow sees as the task's error name (its `Retry` matches on it).
#[derive(Debug, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    pub error: &'static str,
    pub cause: String,
}

impl TaskFailure {
    fn new(error: &'static str, cause: impl ToString) -> Self {
        Self {
            error,
            cause: cause.to_string(),
        }
    }
}

impl From<PortError> for TaskFailure {
    fn from(e: PortError) -> Self {
        TaskFailure::new("Render.Storage", e)
    }
}

/// Deterministic per preview and style, so a re-run of the same attempt
/// reproduces the same candidates (FNV-1a over the ids).
pub fn base_seed(id: &PreviewId, style: &StyleId) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in id.as_str().bytes().chain([0]).chain(style.as_str().bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash >> 16
}

pub struct RenderWorker {
    pub queue: Arc<dyn Queue>,
    pub queue_name: String,
    pub workflow: Arc<dyn Workflow>,
    pub blobs: Arc<dyn Blobs>,
    pub engine: Arc<dyn Engine>,
    pub catalogue: Arc<Catalogue>,
    pub heartbeat: Duration,
    /// Candidates' long side in pixels.
    pub long_side: u32,
    /// Fills in face landmarks the analysis stage did not store; without it
    /// the face mask follows the boxes.
    pub landmarks: Option<Arc<dyn FaceLandmarks>>,
}

impl RenderWorker {
    /// Render one task: returns the task output for `SendTaskSuccess`.
    pub async fn render(&self, task: &RenderTask) -> Result<Value, TaskFailure> {
        let style = self.catalogue.get(&task.style).cloned().ok_or_else(|| {
            TaskFailure::new("Render.UnknownStyle", format!("no style `{}`", task.style))
        })?;
        let reference = self.blobs.get(&reference_key(&task.preview_id)).await?;
        let reference = image::load_from_memory(&reference)
            .map_err(|e| TaskFailure::new("Render.BadReference", e))?
            .to_rgb8();
        let hints = match self.blobs.get(&StoredHints::key(&task.preview_id)).await {
            Ok(bytes) => serde_json::from_slice::<StoredHints>(&bytes)
                .map_err(|e| TaskFailure::new("Render.BadReference", e))?
                .into_hints(),
            Err(PortError::NotFound(_)) => IdentityHints::default(),
            Err(e) => return Err(e.into()),
        };
        let seed = base_seed(&task.preview_id, &task.style)
            .wrapping_add(task.parameters.seed_offset)
            .wrapping_add(u64::from(task.attempt.saturating_sub(1)) * 1000);
        let mut request = RenderRequest::new(reference, style, seed);
        request.identity = hints;
        request.variations = task.variations.max(1);
        request.long_side = self.long_side;
        if let Some(strength) = task.parameters.strength {
            request.strength = strength.clamp(0.0, 1.0);
        }
        let engine = self.engine.clone();
        let landmarks = self.landmarks.clone();
        let started = Instant::now();
        let mut rendering = tokio::task::spawn_blocking(move || {
            if let Some(finder) = landmarks {
                add_landmarks(&mut request.identity, &request.reference, finder.as_ref());
            }
            engine.render(&request)
        });
        let candidates = loop {
            tokio::select! {
                done = &mut rendering => break done,
                _ = tokio::time::sleep(self.heartbeat) => {
                    match self.workflow.send_task_heartbeat(&task.task_token).await {
                        Ok(()) => {}
                        // The task timed out or was answered elsewhere: stop working on it.
                        Err(PortError::Conflict(_) | PortError::NotFound(_)) => {
                            rendering.abort();
                            return Err(TaskFailure::new("Render.Abandoned", "the task is no longer waiting for this worker"));
                        }
                        Err(e) => tracing::warn!(error = %e, "heartbeat"),
                    }
                }
            }
        }
        .map_err(|e| TaskFailure::new("Render.Crashed", e))?
        .map_err(|e| TaskFailure::new("Render.EngineFailed", e))?;
        let mut stored = Vec::with_capacity(candidates.len());
        for (n, candidate) in candidates.iter().enumerate() {
            let key = candidate_key(&task.preview_id, &task.style, task.attempt, n);
            self.blobs
                .put(&key, encode_png(&candidate.image)?, "image/png")
                .await?;
            stored.push(json!({
                "key": key,
                "seed": candidate.seed,
                "engine": candidate.engine,
                "compute_ms": candidate.compute_ms,
            }));
        }
        Ok(json!({
            "engine": self.engine.name(),
            "candidates": stored,
            "render_ms": started.elapsed().as_millis() as u64,
        }))
    }

    /// Handle one queue message end to end: render, answer the token, delete.
    pub async fn handle(&self, message: &QueueMessage, stop: &CancellationToken) {
        let task: RenderTask = match serde_json::from_str(&message.body) {
            Ok(t) => t,
            Err(e) => {
                // Without a token nobody can be answered; keeping it would only loop.
                tracing::error!(error = %e, "dropping a render message that is not a render task");
                let _ = self
                    .queue
                    .delete(&self.queue_name, &message.receipt_handle)
                    .await;
                return;
            }
        };
        let span = tracing::info_span!("render", preview_id = %task.preview_id, style = %task.style, attempt = task.attempt);
        self.answer(&task, message, stop).instrument(span).await;
    }

    async fn answer(&self, task: &RenderTask, message: &QueueMessage, stop: &CancellationToken) {
        // The message stays invisible while the task is worked on, however long
        // the engine takes; otherwise another worker would take it and render it twice.
        let keep_invisible = async {
            loop {
                tokio::time::sleep(self.heartbeat).await;
                if let Err(e) = self
                    .queue
                    .change_visibility(&self.queue_name, &message.receipt_handle, self.visibility())
                    .await
                {
                    tracing::warn!(error = %e, "extending the render task's visibility");
                }
            }
        };
        let outcome = tokio::select! {
            outcome = self.render(task) => outcome,
            _ = stop.cancelled() => Err(TaskFailure::new("Render.Interrupted", "the render worker is shutting down")),
            () = keep_invisible => Err(TaskFailure::new("Render.Crashed", "the visibility loop ended")),
        };
        let answered = match outcome {
            Ok(output) => {
                self.workflow
                    .send_task_success(&task.task_token, output)
                    .await
            }
            Err(failure) => {
                tracing::warn!(error = failure.error, cause = %failure.cause, "render failed");
                self.workflow
                    .send_task_failure(&task.task_token, failure.error, &failure.cause)
                    .await
            }
        };
        match answered {
            // A token that is no longer waiting (timed out, answered elsewhere) is done with.
            Ok(()) | Err(PortError::Conflict(_) | PortError::NotFound(_)) => {
                if let Err(e) = self
                    .queue
                    .delete(&self.queue_name, &message.receipt_handle)
                    .await
                {
                    tracing::warn!(error = %e, "deleting an answered render task");
                }
            }
            // Left on the queue: it comes back after its visibility timeout.
            Err(e) => tracing::error!(error = %e, "answering the render task"),
        }
    }

    /// How long a received task stays hidden from other workers; extended at
    /// every heartbeat while the task is worked on.
    fn visibility(&self) -> Duration {
        self.heartbeat * 4
    }

    /// Take tasks until `stop` is cancelled; the task in hand is failed back.
    pub async fn run(&self, stop: CancellationToken) {
        let visibility = self.visibility();
        while !stop.is_cancelled() {
            let received = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.queue.receive(&self.queue_name, 1, visibility, Duration::from_secs(1)) => r,
            };
            match received {
                Ok(messages) => {
                    for message in &messages {
                        self.handle(message, &stop).await;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "receiving render tasks");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

fn encode_png(image: &RgbImage) -> Result<Vec<u8>, TaskFailure> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| TaskFailure::new("Render.Encode", e))?;
    Ok(out.into_inner())
}
