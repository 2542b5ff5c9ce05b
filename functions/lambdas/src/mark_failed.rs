//! The mark-failed function: the state machine's `MarkFailed` task (its `Catch`
//! target), which records the failure in the customer's words.

use crate::task::{TaskFailed, payload};
use lambda_runtime::LambdaEvent;
use likeness_core::ports::{Blobs, Previews};
use likeness_judge::tasks::{MarkFailedTask, mark_failed};
use serde_json::Value;

pub async fn handle(
    blobs: &dyn Blobs,
    previews: &dyn Previews,
    event: LambdaEvent<Value>,
) -> Result<Value, TaskFailed> {
    let task: MarkFailedTask = payload(event.payload, "mark-failed")?;
    Ok(mark_failed(blobs, previews, &task).await?)
}
