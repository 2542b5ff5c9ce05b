//! The state machine's judge, finalize and mark-failed tasks, generic over ports,
//! so the same code runs as Lambda functions in AWS and in-process on one machine.
//! Payloads are the ones `infra/statemachine/preview.asl.json` sends.

use crate::StyleQa;
use crate::cleanup::{clean_up, deliver};
use crate::decide::{DecisionInput, JudgedCandidate, Outcome, RenderParams, Selected, decide};
use crate::deliver::DeliveryConfig;
use crate::face::FaceModel;
use crate::score::{Reference, judge_candidate};
use likeness_core::cost::StageUnits;
use likeness_core::ports::{Blobs, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::{
    Catalogue, PortError, PreviewId, Rect, Status, StyleId, SubjectKind, TenantId, keys,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A task failure as the workflow sees it: `error` is what `Retry`/`Catch` match.
#[derive(Debug, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    pub error: &'static str,
    pub cause: String,
}

impl TaskError {
    fn new(error: &'static str, cause: impl ToString) -> Self {
        Self {
            error,
            cause: cause.to_string(),
        }
    }
}

impl From<PortError> for TaskError {
    fn from(e: PortError) -> Self {
        TaskError::new(
            if e.is_retryable() {
                "Storage.Unavailable"
            } else {
                "Storage.Error"
            },
            e,
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct RenderedCandidate {
    pub key: String,
    pub seed: u64,
    #[serde(default)]
    pub compute_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RenderOutput {
    pub engine: String,
    pub candidates: Vec<RenderedCandidate>,
    #[serde(default)]
    pub render_ms: u64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AttemptParameters {
    #[serde(default)]
    pub seed_offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_scale: Option<f32>,
}

/// The `Judge` state's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct JudgeTask {
    pub preview_id: PreviewId,
    pub subject: SubjectKind,
    pub style: StyleId,
    pub attempt: u32,
    #[serde(default)]
    pub parameters: AttemptParameters,
    pub render: RenderOutput,
}

impl JudgeTask {
    /// The render worker's run as this payload reports it, for the cost
    /// ledger: its GPU seconds, the reference and hints it read, the
    /// candidates it wrote, and the task message the workflow sent and the
    /// worker received and deleted.
    pub fn render_units(&self) -> StageUnits {
        let mut render = StageUnits {
            gpu_seconds: self.render.render_ms as f64 / 1000.0,
            s3_get: 2,
            s3_put: self.render.candidates.len() as u64,
            ..StageUnits::default()
        };
        for _ in 0..3 {
            render.add_sqs_request(1024);
        }
        render
    }

    /// The judge's own run: `compute` (its function's time and memory) plus
    /// the storage it touches: reference, hints and every candidate read, its
    /// carried verdict written.
    pub fn judge_units(&self, compute: StageUnits) -> StageUnits {
        StageUnits {
            s3_get: 2 + self.render.candidates.len() as u64,
            s3_put: 1,
            ..compute
        }
    }
}

/// The subject box the analysis stored for the renderers (pets need it).
#[derive(Deserialize)]
struct StoredSubject {
    #[serde(default)]
    subject: Option<Rect>,
}

fn carry_key(id: &PreviewId, style: &StyleId) -> String {
    keys::work(id, &format!("judge/{style}.json"))
}

fn load_png(bytes: &[u8], key: &str) -> Result<image::RgbImage, TaskError> {
    Ok(image::load_from_memory(bytes)
        .map_err(|e| TaskError::new("Judge.BadImage", format!("{key}: {e}")))?
        .to_rgb8())
}

pub struct JudgeStage<'a> {
    pub blobs: &'a dyn Blobs,
    pub catalogue: &'a Catalogue,
    pub model: Option<&'a dyn FaceModel>,
}

impl JudgeStage<'_> {
    /// Score this attempt's candidates, decide, and return the verdict the
    /// state machine's `Decide` choice reads (`decision`, `parameters`).
    pub async fn judge(&self, task: &JudgeTask) -> Result<Value, TaskError> {
        let style = self
            .catalogue
            .get(&task.style)
            .ok_or_else(|| TaskError::new("Judge.UnknownStyle", &task.style))?;
        let qa = StyleQa::for_style(style).map_err(|e| TaskError::new("Judge.BadCatalogue", e))?;
        let id = &task.preview_id;
        let reference_key = keys::work(id, "reference.png");
        let reference = load_png(&self.blobs.get(&reference_key).await?, &reference_key)?;
        let subject_box = match self.blobs.get(&keys::work(id, "hints.json")).await {
            Ok(bytes) => serde_json::from_slice::<StoredSubject>(&bytes)
                .ok()
                .and_then(|s| s.subject),
            Err(PortError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let mut images = Vec::with_capacity(task.render.candidates.len());
        for candidate in &task.render.candidates {
            images.push(load_png(
                &self.blobs.get(&candidate.key).await?,
                &candidate.key,
            )?);
        }
        let earlier: Vec<JudgedCandidate> = if task.attempt > 1 {
            match self.blobs.get(&carry_key(id, &task.style)).await {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| TaskError::new("Judge.BadCarry", e))?,
                Err(PortError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            }
        } else {
            Vec::new()
        };
        let reference = Reference::build(&reference, task.subject, subject_box, self.model)
            .map_err(|e| TaskError::new("Judge.BadReference", e))?;
        let mut candidates = Vec::with_capacity(images.len());
        for (c, image) in task.render.candidates.iter().zip(&images) {
            let report = judge_candidate(&reference, image, &qa, self.model)
                .map_err(|e| TaskError::new("Judge.Failed", e))?;
            candidates.push(JudgedCandidate {
                key: c.key.clone(),
                seed: c.seed,
                attempt: task.attempt,
                report,
            });
        }
        let input = DecisionInput {
            style: task.style.clone(),
            attempt: task.attempt,
            qa,
            params: RenderParams {
                engine: task.render.engine.clone(),
                seeds: task.render.candidates.iter().map(|c| c.seed).collect(),
                strength: task.parameters.strength,
                identity_scale: task.parameters.ip_scale,
            },
            candidates,
            earlier,
        };
        let decision = decide(input);
        for key in &decision.rejected {
            self.blobs.delete(key).await?;
        }
        let carry =
            serde_json::to_vec(&decision.carry).map_err(|e| TaskError::new("Judge.Failed", e))?;
        self.blobs
            .put(&carry_key(id, &task.style), carry, "application/json")
            .await?;
        tracing::info!(preview_id = %id, style = %task.style, attempt = task.attempt, outcome = ?decision.outcome, "judged");
        let decision_name = match decision.outcome {
            Outcome::Pass => "pass",
            Outcome::Retry => "retry",
            Outcome::GiveUp => "give_up",
        };
        let parameters = decision.retry.as_ref().map(|retry| AttemptParameters {
            seed_offset: task.parameters.seed_offset + 7919 * u64::from(task.attempt),
            strength: retry.strength,
            ip_scale: retry.identity_scale,
        });
        let scores: Vec<Value> = decision
            .judged
            .iter()
            .map(|c| json!({"key": c.key, "seed": c.seed, "scores": c.report.scores, "artifacts": c.report.artifacts}))
            .collect();
        Ok(json!({
            "decision": decision_name,
            "parameters": parameters,
            "selected": decision.selected,
            "note": decision.note,
            "judged": scores,
        }))
    }
}

/// One entry of the `RenderStyles` map's output.
#[derive(Clone, Debug, Deserialize)]
pub struct StyleResult {
    pub style: StyleId,
    pub outcome: String,
    pub attempts: u32,
    pub verdict: StyleVerdict,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StyleVerdict {
    pub decision: String,
    #[serde(default)]
    pub selected: Vec<Selected>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub judged: Vec<Value>,
}

/// The `Finalize` state's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct FinalizeTask {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub results: Vec<StyleResult>,
}

pub struct FinalizeStage<'a> {
    pub blobs: &'a dyn Blobs,
    pub previews: &'a dyn Previews,
    pub delivery: &'a DeliveryConfig,
}

impl FinalizeStage<'_> {
    /// Deliver the selected candidates without metadata, record the results,
    /// mark the preview ready, and delete everything under `work/{id}/`.
    /// Safe to repeat: a second run re-delivers the same keys and finds the
    /// preview ready already.
    pub async fn finalize(&self, task: &FinalizeTask) -> Result<Value, TaskError> {
        let id = &task.preview_id;
        let preview = self
            .previews
            .get(id)
            .await?
            .ok_or_else(|| TaskError::new("Finalize.NoPreview", id))?;
        if preview.tenant != task.tenant {
            return Err(TaskError::new("Finalize.WrongTenant", id));
        }
        if preview.status == Status::Ready {
            return Ok(
                json!({"status": "ready", "styles": preview.results.unwrap_or(Value::Null)}),
            );
        }
        let mut styles = Vec::new();
        for result in &task.results {
            let mut previews = Vec::new();
            for (n, selected) in result.verdict.selected.iter().enumerate() {
                let bytes = match self.blobs.get(&selected.key).await {
                    Ok(b) => b,
                    // Delivered by an earlier run of this task, which then failed later.
                    Err(PortError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                let image = load_png(&bytes, &selected.key)?;
                let delivered = deliver(
                    self.blobs,
                    &task.tenant,
                    id,
                    &result.style,
                    n as u32 + 1,
                    &image,
                    self.delivery,
                )
                .await
                .map_err(|e| TaskError::new("Finalize.Delivery", e))?;
                let scores = result
                    .verdict
                    .judged
                    .iter()
                    .find(|j| j["key"] == selected.key.as_str())
                    .cloned();
                previews.push(json!({
                    "webp": delivered.webp,
                    "jpeg": delivered.jpeg,
                    "seed": selected.seed,
                    "overall": selected.overall,
                    "flagged": selected.flagged,
                    "below": selected.below,
                    "scores": scores.map(|s| s["scores"].clone()),
                }));
            }
            styles.push(json!({
                "style": result.style,
                "outcome": result.outcome,
                "attempts": result.attempts,
                "note": result.verdict.note,
                "previews": previews,
            }));
        }
        let results = Value::Array(styles);
        if preview.status == Status::Rendering {
            self.previews
                .transition(
                    id,
                    Status::Rendering,
                    Status::Judging,
                    PreviewPatch::default(),
                )
                .await?;
        }
        let patch = PreviewPatch {
            results: Some(results.clone()),
            ..PreviewPatch::default()
        };
        match self
            .previews
            .transition(id, Status::Judging, Status::Ready, patch)
            .await
        {
            Ok(_) => {}
            Err(PortError::Conflict(_)) => {
                let now = self.previews.get(id).await?.map(|p| p.status);
                if now != Some(Status::Ready) {
                    return Err(TaskError::new(
                        "Finalize.Conflict",
                        format!("preview {id} is {now:?}"),
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
        clean_up(self.blobs, id, &[]).await?;
        tracing::info!(preview_id = %id, "preview ready");
        Ok(json!({"status": "ready", "styles": results}))
    }
}

/// The `MarkFailed` state's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct MarkFailedTask {
    pub preview_id: PreviewId,
    #[serde(default)]
    pub error: Value,
}

/// Record the failure in words fit for the customer and delete the work objects,
/// so nothing is left half-written. A preview already final is left as it is.
pub async fn mark_failed(
    blobs: &dyn Blobs,
    previews: &dyn Previews,
    task: &MarkFailedTask,
) -> Result<Value, TaskError> {
    let id = &task.preview_id;
    let error = task
        .error
        .get("Error")
        .and_then(Value::as_str)
        .unwrap_or("States.TaskFailed");
    let message = match error {
        "States.Timeout" | "States.HeartbeatTimeout" => {
            "Rendering took too long and was stopped; please try again."
        }
        e if e.starts_with("Render.") => "Rendering your portraits failed; please try again.",
        _ => "Something went wrong while making your portraits; please try again.",
    };
    tracing::warn!(preview_id = %id, error, "preview failed");
    for _ in 0..3 {
        let Some(preview) = previews.get(id).await? else {
            return Err(TaskError::new("MarkFailed.NoPreview", id));
        };
        if preview.status.is_final() {
            break;
        }
        let patch = PreviewPatch {
            failure: Some(message.to_owned()),
            ..PreviewPatch::default()
        };
        match previews
            .transition(id, preview.status, Status::Failed, patch)
            .await
        {
            Ok(_) => break,
            // The preview moved under us: look again.
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    clean_up(blobs, id, &[]).await?;
    Ok(json!({"status": "failed", "error": error}))
}
