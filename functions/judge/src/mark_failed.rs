//! The `MarkFailed` task, the state machine's `Catch` target: record the
//! failure in words fit for the customer and delete the work objects, so
//! nothing is left half-written. A preview already final is left as it is.

use crate::cleanup::clean_up;
use likeness_core::ports::{Blobs, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::task_error::names;
use likeness_core::tasks::{MarkFailedOutput, MarkFailedTask};
use likeness_core::{PortError, Status, TaskError};
use std::sync::Arc;

#[derive(Clone)]
pub struct MarkFailedPorts {
    pub blobs: Arc<dyn Blobs>,
    pub previews: Arc<dyn Previews>,
}

/// The customer's words for a workflow error.
pub fn customer_message(error: &str) -> &'static str {
    match error {
        // The render task's cap covers waiting for a worker and working: most
        // often it means no render capacity came in time.
        names::STATES_TIMEOUT | names::STATES_HEARTBEAT_TIMEOUT => {
            "Our render service was too busy to finish your portraits in time; please try again later."
        }
        e if e.starts_with("Render.") => "Rendering your portraits failed; please try again.",
        _ => "Something went wrong while making your portraits; please try again.",
    }
}

pub async fn handle(
    ports: &MarkFailedPorts,
    task: MarkFailedTask,
) -> Result<MarkFailedOutput, TaskError> {
    let id = &task.preview_id;
    let previews = &*ports.previews;
    let error = task
        .error
        .as_ref()
        .map_or(names::STATES_TASK_FAILED, |e| e.error.as_str());
    let message = customer_message(error);
    tracing::warn!(preview_id = %id, error, "preview failed");
    for _ in 0..3 {
        let Some(preview) = previews.get(id).await? else {
            return Err(TaskError::new(names::MARK_FAILED_NO_PREVIEW, id));
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
    clean_up(&*ports.blobs, id, &[]).await?;
    Ok(MarkFailedOutput {
        status: Status::Failed,
        error: error.to_owned(),
    })
}
