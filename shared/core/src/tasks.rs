//! The messages between stages: the execution input, each task's payload and
//! result, and what analysis leaves for the renderers, with exactly the JSON
//! `infra/statemachine/preview.asl.json` passes. Producer and consumer share
//! these types, so a renamed field breaks the build (and the fixture tests
//! below) instead of a deploy.
//!
//! | state | payload | result |
//! | --- | --- | --- |
//! | (execution) | [`ExecutionInput`] | |
//! | `Render` (queue message) | [`RenderTask`] | [`RenderOutput`] |
//! | `Judge` | [`JudgeTask`] | [`Verdict`] |
//! | `Finalize` | [`FinalizeTask`] (the map's [`StyleResult`]s) | [`FinalizeSummary`] |
//! | `MarkFailed` | [`MarkFailedTask`] | [`MarkFailedOutput`] |
//! | `Notify`, `NotifyFailed` | [`NotifyTask`] | [`NotifyOutput`] |

use crate::geometry::{Point, Rect};
use crate::ids::{PreviewId, StyleId, TenantId};
use crate::preview::{Preview, Status, SubjectKind};
use crate::qa::{Artifact, ArtifactCode, Scores};
use serde::{Deserialize, Serialize};

/// What an execution starts with: what the state machine fans out over styles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub subject: SubjectKind,
    pub styles: Vec<StyleId>,
    pub variations: u32,
}

impl ExecutionInput {
    pub fn for_preview(preview: &Preview) -> Self {
        Self {
            preview_id: preview.id.clone(),
            tenant: preview.tenant.clone(),
            subject: preview.subject,
            styles: preview.styles.clone(),
            variations: preview.variations,
        }
    }
}

/// How to render one attempt. The first attempt leaves everything to the
/// style's defaults and [`crate::seeds::first`]; on a retry the judge fills in
/// what it wants changed, and the render worker's output reports every value
/// it actually used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderParameters {
    /// Base seed: variation `i` renders with [`crate::seeds::variation`]`(seed, i)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How far from the photo to go, 0..1 (img2img strength for diffusion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
    /// Weight of the subject's identity tokens against the prompt (diffusion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_scale: Option<f32>,
}

/// The message the `Render` state sends to the render queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderTask {
    #[serde(rename = "TaskToken")]
    pub task_token: String,
    /// The execution's name (the preview id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub subject: SubjectKind,
    pub style: StyleId,
    /// The style's place in the order.
    #[serde(default)]
    pub index: u32,
    pub attempt: u32,
    pub variations: u32,
    #[serde(default)]
    pub parameters: RenderParameters,
}

/// One stored candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderedCandidate {
    /// Under `work/{id}/candidates/` ([`crate::keys::candidate`]).
    pub key: String,
    pub seed: u64,
    pub engine: String,
    #[serde(default)]
    pub compute_ms: u64,
}

/// The render worker's answer (`SendTaskSuccess`), which the state machine
/// hands to the judge as `render`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderOutput {
    pub engine: String,
    /// The values this attempt rendered with, defaults filled in.
    #[serde(default)]
    pub parameters: RenderParameters,
    pub candidates: Vec<RenderedCandidate>,
    /// Wall time of the render on the worker (what the GPU is billed for).
    #[serde(default)]
    pub render_ms: u64,
}

/// The `Judge` state's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeTask {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub subject: SubjectKind,
    pub style: StyleId,
    pub attempt: u32,
    pub max_attempts: u32,
    /// What this attempt was asked to render with.
    #[serde(default)]
    pub parameters: RenderParameters,
    pub render: RenderOutput,
}

/// The judge's decision for one attempt of one style; the state machine's
/// `Decide` choice reads `decision` and `parameters`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Pass,
    Retry,
    GiveUp,
}

/// A candidate chosen for delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    pub key: String,
    pub seed: u64,
    pub overall: f32,
    /// Delivered without clearing every threshold.
    pub flagged: bool,
    pub below: Vec<String>,
    pub artifacts: Vec<ArtifactCode>,
}

/// One judged candidate's scores, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgedScores {
    pub key: String,
    pub seed: u64,
    pub scores: Scores,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// The judge's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// With `retry`: what the next attempt renders with. Always written (as
    /// `null` otherwise), since `Decide` tests it with `IsPresent`.
    pub parameters: Option<RenderParameters>,
    #[serde(default)]
    pub selected: Vec<Selected>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub judged: Vec<JudgedScores>,
}

/// How a style ended: the `StylePassed` or `GiveUp` state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StyleOutcome {
    Passed,
    BestEffort,
}

/// One item of the `RenderStyles` map's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StyleResult {
    pub style: StyleId,
    #[serde(default)]
    pub index: u32,
    pub outcome: StyleOutcome,
    pub attempts: u32,
    pub verdict: Verdict,
}

/// The `Finalize` state's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalizeTask {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub subject: SubjectKind,
    pub results: Vec<StyleResult>,
    /// The execution's id (ARN on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// One delivered portrait, as finalize records it in `Preview::results`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveredImage {
    /// Object keys under `previews/{tenant}/{id}/` ([`crate::keys::delivered`]).
    pub webp: String,
    pub jpeg: String,
    pub seed: u64,
    pub overall: f32,
    pub flagged: bool,
    #[serde(default)]
    pub below: Vec<String>,
    #[serde(default)]
    pub scores: Option<Scores>,
}

/// What was delivered for one style.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveredStyle {
    pub style: StyleId,
    pub outcome: StyleOutcome,
    pub attempts: u32,
    #[serde(default)]
    pub note: String,
    pub previews: Vec<DeliveredImage>,
}

/// Finalize's result, which `Notify` receives as `summary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalizeSummary {
    pub status: Status,
    pub styles: Vec<DeliveredStyle>,
}

/// A States error as `Catch` puts it into the state's input (`ResultPath: $.error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The `MarkFailed` state's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkFailedTask {
    pub preview_id: PreviewId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkFailedOutput {
    pub status: Status,
    pub error: String,
}

/// Which final state `Notify` announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyKind {
    #[serde(rename = "preview.ready")]
    Ready,
    #[serde(rename = "preview.failed")]
    Failed,
}

impl NotifyKind {
    /// `Notify` runs once per execution and `NotifyFailed` after a failure;
    /// their cost lines are told apart by this run number.
    pub fn run(self) -> u32 {
        match self {
            NotifyKind::Ready => 1,
            NotifyKind::Failed => 2,
        }
    }
}

/// The `Notify` and `NotifyFailed` states' payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifyTask {
    #[serde(rename = "type")]
    pub kind: NotifyKind,
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<FinalizeSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
    /// The execution's id, whose state transitions notify meters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyOutput {
    /// The webhook event queued (or queued before); `None` without a webhook URL.
    pub webhook_id: Option<String>,
}

/// One face of the reference, in its pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HintFace {
    pub rect: Rect,
    /// dlib's five points, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<Vec<Point>>,
}

/// Where analysis found the faces and the subject in the reference
/// (`work/{id}/hints.json`): renderers keep faces detailed with it, the judge
/// frames pets with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hints {
    #[serde(default)]
    pub faces: Vec<HintFace>,
    #[serde(default)]
    pub subject: Option<Rect>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The fixture parses as `T` and serialises back to the same JSON, so the
    /// type says exactly what the state machine passes.
    fn round_trips<T: DeserializeOwned + Serialize + std::fmt::Debug>(name: &str) -> T {
        let json = fixture(name);
        let typed: T = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{name} does not fit its type: {e}"));
        let back = crate::task_error::to_json(&typed).expect("serialises");
        assert_eq!(back, json, "{name} changes in a round trip");
        typed
    }

    #[test]
    fn render_task_message_round_trips() {
        let task: RenderTask = round_trips("render-task-message.json");
        assert_eq!(task.attempt, 1);
        assert_eq!(task.parameters, RenderParameters::default());
    }

    #[test]
    fn judge_payload_round_trips() {
        let task: JudgeTask = round_trips("judge.json");
        assert_eq!(task.render.candidates.len(), 2);
        assert!(task.render.parameters.seed.is_some());
    }

    #[test]
    fn judge_retry_verdict_round_trips() {
        let verdict: Verdict = round_trips("judge-verdict-retry.json");
        assert_eq!(verdict.decision, Decision::Retry);
        let next = verdict.parameters.expect("a retry says how");
        assert!(next.identity_scale.is_some() && next.strength.is_some());
    }

    #[test]
    fn finalize_payload_round_trips() {
        let task: FinalizeTask = round_trips("finalize.json");
        assert_eq!(task.results[0].outcome, StyleOutcome::Passed);
    }

    #[test]
    fn mark_failed_payload_round_trips() {
        let task: MarkFailedTask = round_trips("mark-failed.json");
        assert_eq!(
            task.error.map(|e| e.error).as_deref(),
            Some("States.Timeout")
        );
    }

    #[test]
    fn notify_payloads_round_trip() {
        let ready: NotifyTask = round_trips("notify-ready.json");
        assert_eq!(ready.kind, NotifyKind::Ready);
        assert_eq!(ready.summary.expect("a summary").styles.len(), 1);
        let failed: NotifyTask = round_trips("notify-failed.json");
        assert_eq!(failed.kind, NotifyKind::Failed);
    }

    #[test]
    fn execution_input_round_trips() {
        let input: ExecutionInput = round_trips("execution-input.json");
        assert_eq!(input.styles.len(), 1);
    }

    #[test]
    fn an_unknown_notify_type_does_not_parse() {
        let mut json = fixture("notify-ready.json");
        json["type"] = "preview.deleted".into();
        assert!(serde_json::from_value::<NotifyTask>(json).is_err());
    }
}
