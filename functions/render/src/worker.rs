//! The render worker: takes render tasks that the state machine sends with
//! `sqs:sendMessage.waitForTaskToken`, renders the candidates, stores them under
//! `work/{id}/candidates/`, and answers the task token. While an engine runs it
//! keeps the message invisible to other workers; a worker that dies stops doing
//! so, and its message reappears for another worker, which renders the same task
//! token (docs/WORKFLOW.md). It heartbeats too, so it learns when nobody waits
//! for the task any more; on shutdown it fails its in-flight task back to the
//! workflow instead of leaving it to time out. A render it stops waiting for
//! (abandoned, or dropped at shutdown) is cancelled, so its compute stops too.

use crate::{
    CancelFlag, Engine, FaceHint, FaceLandmarks, IdentityHints, RenderRequest, add_landmarks,
};
use image::RgbImage;
use likeness_core::ports::{Blobs, Queue, QueueMessage, Workflow};
use likeness_core::task_error::names;
use likeness_core::tasks::{Hints, RenderOutput, RenderParameters, RenderTask, RenderedCandidate};
use likeness_core::{Catalogue, Point, PortError, TaskError, keys, seeds};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The engine's view of the hints analysis stored with the reference.
pub fn identity_hints(hints: Hints) -> IdentityHints {
    IdentityHints {
        faces: hints
            .faces
            .into_iter()
            .map(|f| FaceHint {
                rect: f.rect,
                landmarks: f.landmarks.and_then(|p| <[Point; 5]>::try_from(p).ok()),
            })
            .collect(),
        subject: hints.subject,
    }
}

/// Storage trouble while rendering: the `Render` state's retry sends the task
/// to a worker again.
fn storage(e: PortError) -> TaskError {
    TaskError::new(names::RENDER_STORAGE, e)
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
    /// The engine request for `task`: the judge's seed, strength and identity
    /// scale where it set them, the style's defaults and the first seed otherwise.
    pub fn request(
        &self,
        task: &RenderTask,
        reference: RgbImage,
        hints: IdentityHints,
    ) -> Result<RenderRequest, TaskError> {
        let style = self.catalogue.get(&task.style).cloned().ok_or_else(|| {
            TaskError::new(
                names::RENDER_UNKNOWN_STYLE,
                format!("no style `{}`", task.style),
            )
        })?;
        let seed = task
            .parameters
            .seed
            .unwrap_or_else(|| seeds::first(&task.preview_id, &task.style));
        let mut request = RenderRequest::new(reference, style, seed);
        request.identity = hints;
        request.variations = task.variations.max(1);
        request.long_side = self.long_side;
        if let Some(strength) = task.parameters.strength {
            request.strength = strength.clamp(0.0, 1.0);
        }
        request.identity_scale = task.parameters.identity_scale;
        request.subject = Some(task.subject);
        Ok(request)
    }

    /// Render one task: returns the task output for `SendTaskSuccess`.
    pub async fn render(&self, task: &RenderTask) -> Result<RenderOutput, TaskError> {
        // A message can outlive its task: the execution timed out (no worker came
        // in time) or ended while the message waited. Ask before spending GPU time.
        match self.workflow.send_task_heartbeat(&task.task_token).await {
            Ok(()) => {}
            Err(PortError::Conflict(_) | PortError::NotFound(_)) => {
                return Err(TaskError::new(
                    names::RENDER_ABANDONED,
                    "the task stopped waiting before a worker took it",
                ));
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat on receipt"),
        }
        let reference = self
            .blobs
            .get(&keys::reference(&task.preview_id))
            .await
            .map_err(storage)?;
        let reference = image::load_from_memory(&reference)
            .map_err(|e| TaskError::new(names::RENDER_BAD_REFERENCE, e))?
            .to_rgb8();
        let hints = match self.blobs.get(&keys::hints(&task.preview_id)).await {
            Ok(bytes) => identity_hints(
                serde_json::from_slice::<Hints>(&bytes)
                    .map_err(|e| TaskError::new(names::RENDER_BAD_REFERENCE, e))?,
            ),
            Err(PortError::NotFound(_)) => IdentityHints::default(),
            Err(e) => return Err(storage(e)),
        };
        let mut request = self.request(task, reference, hints)?;
        let used = RenderParameters {
            seed: Some(request.seed),
            strength: Some(request.strength),
            identity_scale: self.engine.identity_scale(&request),
        };
        let engine = self.engine.clone();
        let landmarks = self.landmarks.clone();
        // On the runtime's clock: real time in production, the simulated one
        // when a fleet model runs the worker on a paused clock.
        let started = tokio::time::Instant::now();
        // Dropping a blocking task's handle does not stop its thread: the engine
        // is told instead, whichever way this function stops waiting (abandoned,
        // or dropped when the worker shuts down), and stops within one step.
        let cancel = CancelFlag::default();
        let _stop_compute = cancel.cancel_on_drop();
        let cancel_on_abandon = cancel.clone();
        if let Some(finder) = landmarks {
            let span = tracing::Span::current();
            request = tokio::task::spawn_blocking(move || {
                let _in_task = span.enter();
                add_landmarks(&mut request.identity, &request.reference, finder.as_ref());
                request
            })
            .await
            .map_err(|e| TaskError::new(names::RENDER_CRASHED, e))?;
        }
        let mut rendering = engine.start(request, cancel);
        let candidates = loop {
            tokio::select! {
                done = &mut rendering => break done,
                _ = tokio::time::sleep(self.heartbeat) => {
                    match self.workflow.send_task_heartbeat(&task.task_token).await {
                        Ok(()) => {}
                        // The task timed out or was answered elsewhere: stop working on it.
                        Err(PortError::Conflict(_) | PortError::NotFound(_)) => {
                            // Free the device before taking the next task: the
                            // engine stops at its next check (one step or pass).
                            cancel_on_abandon.cancel();
                            let _ = (&mut rendering).await;
                            return Err(TaskError::new(names::RENDER_ABANDONED, "the task is no longer waiting for this worker"));
                        }
                        Err(e) => tracing::warn!(error = %e, "heartbeat"),
                    }
                }
            }
        }
        .map_err(|e| TaskError::new(names::RENDER_CRASHED, e))?
        .map_err(|e| TaskError::new(names::RENDER_ENGINE_FAILED, e))?;
        let mut stored = Vec::with_capacity(candidates.len());
        for (n, candidate) in candidates.iter().enumerate() {
            let key = keys::candidate(&task.preview_id, &task.style, task.attempt, n);
            self.blobs
                .put(&key, encode_png(&candidate.image)?, "image/png")
                .await
                .map_err(storage)?;
            stored.push(RenderedCandidate {
                key,
                seed: candidate.seed,
                engine: candidate.engine.clone(),
                compute_ms: candidate.compute_ms,
            });
        }
        Ok(RenderOutput {
            engine: self.engine.name().to_owned(),
            parameters: used,
            candidates: stored,
            render_ms: started.elapsed().as_millis() as u64,
        })
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
            _ = stop.cancelled() => Err(TaskError::new(names::RENDER_INTERRUPTED, "the render worker is shutting down")),
            () = keep_invisible => Err(TaskError::new(names::RENDER_CRASHED, "the visibility loop ended")),
        };
        let answered = match outcome {
            Ok(output) => match likeness_core::task_error::to_json(&output) {
                Ok(output) => {
                    self.workflow
                        .send_task_success(&task.task_token, output)
                        .await
                }
                Err(e) => {
                    self.workflow
                        .send_task_failure(&task.task_token, names::RENDER_ENCODE, &e.to_string())
                        .await
                }
            },
            Err(failure) => {
                tracing::warn!(error = %failure.error, cause = %failure.cause, "render failed");
                self.workflow
                    .send_task_failure(&task.task_token, &failure.error, &failure.cause)
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
    pub fn visibility(&self) -> Duration {
        self.heartbeat * 4
    }

    /// Take tasks until `stop` is cancelled; the task in hand is failed back.
    pub async fn run(&self, stop: CancellationToken) {
        self.run_holding(stop, None).await;
    }

    /// [`RenderWorker::run`], telling `holding` when a task is taken and when
    /// it is answered (the ECS worker protects its task from scale-in meanwhile).
    pub async fn run_holding(&self, stop: CancellationToken, holding: Option<&dyn TaskHolding>) {
        let visibility = self.visibility();
        while !stop.is_cancelled() {
            let received = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.queue.receive(&self.queue_name, 1, visibility, Duration::from_secs(1)) => r,
            };
            match received {
                Ok(messages) => {
                    for message in &messages {
                        if let Some(h) = holding {
                            h.took_task().await;
                        }
                        self.handle(message, &stop).await;
                        if let Some(h) = holding {
                            h.finished_task().await;
                        }
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

/// Told when a worker loop takes a task and when it has answered it.
#[async_trait::async_trait]
pub trait TaskHolding: Send + Sync {
    async fn took_task(&self);
    async fn finished_task(&self);
}

fn encode_png(image: &RgbImage) -> Result<Vec<u8>, TaskError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| TaskError::new(names::RENDER_ENCODE, e))?;
    Ok(out.into_inner())
}
