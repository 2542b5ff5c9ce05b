//! The finalize function: the state machine's `Finalize` task.

use crate::task::{TaskFailed, payload};
use lambda_runtime::LambdaEvent;
use likeness_core::ports::{Blobs, Previews};
use likeness_judge::DeliveryConfig;
use likeness_judge::tasks::{FinalizeStage, FinalizeTask};
use serde_json::Value;

pub struct Finalize<'a> {
    pub blobs: &'a dyn Blobs,
    pub previews: &'a dyn Previews,
    pub delivery: &'a DeliveryConfig,
}

impl Finalize<'_> {
    /// The summary the state machine hands to `Notify`.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, TaskFailed> {
        let task: FinalizeTask = payload(event.payload, "finalize")?;
        let stage = FinalizeStage {
            blobs: self.blobs,
            previews: self.previews,
            delivery: self.delivery,
        };
        Ok(stage.finalize(&task).await?)
    }
}
