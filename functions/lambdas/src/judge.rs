//! The judge function: the state machine's `Judge` task.

use crate::metering::Meter;
use crate::task::{TaskFailed, payload};
use lambda_runtime::LambdaEvent;
use likeness_core::Catalogue;
use likeness_core::ports::Blobs;
use likeness_judge::FaceModel;
use likeness_judge::tasks::{JudgeStage, JudgeTask};
use serde_json::Value;

pub struct Judge<'a> {
    pub blobs: &'a dyn Blobs,
    pub catalogue: &'a Catalogue,
    /// The identity model; without it people are judged by structure only.
    pub model: Option<&'a dyn FaceModel>,
    pub meter: Option<&'a Meter>,
}

impl Judge<'_> {
    /// The verdict the state machine's `Decide` choice reads.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, TaskFailed> {
        let started = std::time::Instant::now();
        let task: JudgeTask = payload(event.payload, "judge")?;
        let stage = JudgeStage {
            blobs: self.blobs,
            catalogue: self.catalogue,
            model: self.model,
        };
        let verdict = stage.judge(&task).await?;
        if let Some(meter) = self.meter {
            meter_render_and_judge(meter, &task, started.elapsed()).await;
        }
        Ok(verdict)
    }
}

/// The render worker's run (reported in the judge's payload) and the judge's own.
async fn meter_render_and_judge(meter: &Meter, task: &JudgeTask, elapsed: std::time::Duration) {
    let style = Some(&task.style);
    meter
        .record(
            &task.preview_id,
            "render",
            task.attempt,
            style,
            task.render_units(),
        )
        .await;
    let judge = task.judge_units(meter.lambda(elapsed));
    meter
        .record(&task.preview_id, "judge", task.attempt, style, judge)
        .await;
}

/// The identity model from `LIKENESS_MODELS_DIR` (a Lambda layer or the image),
/// or `None` with a warning: the judge then scores people by structure only.
pub fn face_model() -> Option<std::sync::Arc<dyn FaceModel>> {
    match likeness_identity::FaceModels::load() {
        Ok(models) => Some(std::sync::Arc::new(models)),
        Err(e) => {
            tracing::warn!(error = %e, "no identity model: likeness of people is judged by structure only");
            None
        }
    }
}
