//! The `Judge` task: score an attempt's candidates against the reference,
//! decide (pass, retry with new parameters, give up), delete what is not kept,
//! and meter both the render worker's run and the judge's own. One handler for
//! the judge Lambda and the one-machine runner.

use crate::StyleQa;
use crate::decide::{DecisionInput, JudgedCandidate, Outcome, RenderParams, decide};
use crate::face::FaceModel;
use crate::score::{Reference, judge_candidates};
use futures_util::TryFutureExt;
use futures_util::future::{try_join_all, try_join4};
use likeness_core::cost::StageUnits;
use likeness_core::metering::{Function, Meter, Stopwatch};
use likeness_core::ports::{Blobs, Clock};
use likeness_core::task_error::names;
use likeness_core::tasks::{Decision, Hints, JudgeTask, JudgedScores, Verdict};
use likeness_core::{Catalogue, PortError, TaskError, keys, seeds};
use rayon::prelude::*;
use std::sync::Arc;

/// What the judge works with.
#[derive(Clone)]
pub struct JudgePorts {
    pub blobs: Arc<dyn Blobs>,
    pub catalogue: Arc<Catalogue>,
    /// The identity model; without it people are judged by structure only.
    pub model: Option<Arc<dyn FaceModel>>,
    pub clock: Arc<dyn Clock>,
    pub meter: Option<Arc<dyn Meter>>,
}

/// The render worker's run as the judge's payload reports it, for the cost
/// ledger: its GPU seconds, the reference and hints it read, the candidates it
/// wrote, and the task message the workflow sent and the worker received and
/// deleted.
pub fn render_units(task: &JudgeTask) -> StageUnits {
    let mut render = StageUnits {
        gpu_seconds: task.render.render_ms as f64 / 1000.0,
        s3_get: 2,
        s3_put: task.render.candidates.len() as u64,
        ..StageUnits::default()
    };
    for _ in 0..3 {
        render.add_sqs_request(1024);
    }
    render
}

/// The judge's own run: `compute` (its function's time and memory) plus the
/// storage it touches: reference, hints and every candidate read, its carried
/// verdict written.
pub fn judge_units(task: &JudgeTask, compute: StageUnits) -> StageUnits {
    StageUnits {
        s3_get: 2 + task.render.candidates.len() as u64,
        s3_put: 1,
        ..compute
    }
}

fn load_png(bytes: &[u8], key: &str) -> Result<image::RgbImage, TaskError> {
    Ok(image::load_from_memory(bytes)
        .map_err(|e| TaskError::new(names::JUDGE_BAD_IMAGE, format!("{key}: {e}")))?
        .to_rgb8())
}

/// Score this attempt's candidates, decide, and return the verdict the state
/// machine's `Decide` choice reads.
pub async fn handle(ports: &JudgePorts, task: JudgeTask) -> Result<Verdict, TaskError> {
    let stopwatch = Stopwatch::start(&*ports.clock);
    let verdict = judge(ports, &task).await?;
    if let Some(meter) = &ports.meter {
        let style = Some(&task.style);
        let id = &task.preview_id;
        meter
            .record(id, "render", task.attempt, style, render_units(&task))
            .await;
        let compute = Function::Judge.run(stopwatch.elapsed());
        meter
            .record(
                id,
                "judge",
                task.attempt,
                style,
                judge_units(&task, compute),
            )
            .await;
    }
    Ok(verdict)
}

async fn judge(ports: &JudgePorts, task: &JudgeTask) -> Result<Verdict, TaskError> {
    let style = ports
        .catalogue
        .get(&task.style)
        .ok_or_else(|| TaskError::new(names::JUDGE_UNKNOWN_STYLE, &task.style))?;
    let mut qa =
        StyleQa::for_style(style).map_err(|e| TaskError::new(names::JUDGE_BAD_CATALOGUE, e))?;
    // The state machine gives up after its own `MaxJudgeAttempts`: asking for a
    // retry it will not run would deliver nothing instead of the best so far.
    if task.max_attempts > 0 {
        qa.max_attempts = qa.max_attempts.min(task.max_attempts);
    }
    let id = &task.preview_id;
    let blobs = &*ports.blobs;
    let reference_key = keys::reference(id);
    let carry_key = keys::judge_carry(id, &task.style);
    // Every object the judge reads is independent: fetched side by side.
    let hints = async {
        match blobs.get(&keys::hints(id)).await {
            Ok(bytes) => Ok(serde_json::from_slice::<Hints>(&bytes).unwrap_or_default()),
            Err(PortError::NotFound(_)) => Ok(Hints::default()),
            Err(e) => Err(TaskError::from(e)),
        }
    };
    let earlier = async {
        if task.attempt <= 1 {
            return Ok(Vec::new());
        }
        match blobs.get(&carry_key).await {
            Ok(bytes) => serde_json::from_slice::<Vec<JudgedCandidate>>(&bytes)
                .map_err(|e| TaskError::new(names::JUDGE_BAD_CARRY, e)),
            Err(PortError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(TaskError::from(e)),
        }
    };
    let stored = try_join_all(task.render.candidates.iter().map(|c| blobs.get(&c.key)));
    let (reference, hints, earlier, stored) = try_join4(
        blobs.get(&reference_key).map_err(TaskError::from),
        hints,
        earlier,
        stored.map_err(TaskError::from),
    )
    .await?;
    let reference = load_png(&reference, &reference_key)?;
    // Decoding is independent per candidate: side by side.
    let images = stored
        .par_iter()
        .zip(&task.render.candidates)
        .map(|(bytes, candidate)| load_png(bytes, &candidate.key))
        .collect::<Result<Vec<_>, _>>()?;
    let model = ports.model.as_deref();
    // Analysis already found the reference's faces; the judge starts from them.
    let hint_faces: Vec<likeness_core::Rect> = hints.faces.iter().map(|f| f.rect).collect();
    let reference =
        Reference::build_with_faces(&reference, task.subject, hints.subject, &hint_faces, model)
            .map_err(|e| TaskError::new(names::JUDGE_BAD_REFERENCE, e))?;
    let reports = judge_candidates(&reference, &images, &qa, model)
        .map_err(|e| TaskError::new(names::JUDGE_FAILED, e))?;
    let candidates: Vec<JudgedCandidate> = task
        .render
        .candidates
        .iter()
        .zip(reports)
        .map(|(c, report)| JudgedCandidate {
            key: c.key.clone(),
            seed: c.seed,
            attempt: task.attempt,
            report,
        })
        .collect();
    let used = task.render.parameters;
    let input = DecisionInput {
        style: task.style.clone(),
        attempt: task.attempt,
        qa,
        params: RenderParams {
            engine: task.render.engine.clone(),
            seed: used
                .seed
                .or(task.parameters.seed)
                .unwrap_or_else(|| seeds::first(id, &task.style)),
            strength: used.strength.or(task.parameters.strength),
            identity_scale: used.identity_scale.or(task.parameters.identity_scale),
        },
        candidates,
        earlier,
    };
    let decision = decide(input);
    try_join_all(decision.rejected.iter().map(|key| blobs.delete(key))).await?;
    let carry =
        serde_json::to_vec(&decision.carry).map_err(|e| TaskError::new(names::JUDGE_FAILED, e))?;
    blobs.put(&carry_key, carry, "application/json").await?;
    tracing::info!(preview_id = %id, style = %task.style, attempt = task.attempt, outcome = ?decision.outcome, "judged");
    Ok(Verdict {
        decision: match decision.outcome {
            Outcome::Pass => Decision::Pass,
            Outcome::Retry => Decision::Retry,
            Outcome::GiveUp => Decision::GiveUp,
        },
        parameters: decision.retry,
        selected: decision.selected,
        note: decision.note,
        judged: decision
            .judged
            .iter()
            .map(|c| JudgedScores {
                key: c.key.clone(),
                seed: c.seed,
                scores: c.report.scores,
                artifacts: c.report.artifacts.clone(),
            })
            .collect(),
    })
}
