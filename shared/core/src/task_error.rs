//! How a stage tells the workflow that it failed: an error name, which the
//! state machine's `Retry` and `Catch` match, and a cause for people. One type
//! for every stage and both runtimes: the Lambda runtime reports `error` as the
//! `errorType`, the embedded runner as the States error name.

use crate::error::PortError;
use std::borrow::Cow;

/// The error names likeness's stages raise. The state machine matches some
/// of them (`Render.*` by `States.TaskFailed`, everything by `States.ALL`);
/// MarkFailed turns them into the customer's words.
pub mod names {
    /// The payload does not fit the stage's contract; no retry can help.
    pub const BAD_PAYLOAD: &str = "Task.BadPayload";
    /// Storage or the table could not be reached; a retry may succeed.
    pub const STORAGE_UNAVAILABLE: &str = "Storage.Unavailable";
    /// Storage or the table refused the request.
    pub const STORAGE_ERROR: &str = "Storage.Error";

    pub const RENDER_UNKNOWN_STYLE: &str = "Render.UnknownStyle";
    pub const RENDER_BAD_REFERENCE: &str = "Render.BadReference";
    pub const RENDER_ABANDONED: &str = "Render.Abandoned";
    pub const RENDER_INTERRUPTED: &str = "Render.Interrupted";
    pub const RENDER_CRASHED: &str = "Render.Crashed";
    pub const RENDER_ENGINE_FAILED: &str = "Render.EngineFailed";
    pub const RENDER_ENCODE: &str = "Render.Encode";
    pub const RENDER_STORAGE: &str = "Render.Storage";

    pub const JUDGE_UNKNOWN_STYLE: &str = "Judge.UnknownStyle";
    pub const JUDGE_BAD_CATALOGUE: &str = "Judge.BadCatalogue";
    pub const JUDGE_BAD_IMAGE: &str = "Judge.BadImage";
    pub const JUDGE_BAD_CARRY: &str = "Judge.BadCarry";
    pub const JUDGE_BAD_REFERENCE: &str = "Judge.BadReference";
    pub const JUDGE_FAILED: &str = "Judge.Failed";

    pub const FINALIZE_NO_PREVIEW: &str = "Finalize.NoPreview";
    pub const FINALIZE_WRONG_TENANT: &str = "Finalize.WrongTenant";
    pub const FINALIZE_DELIVERY: &str = "Finalize.Delivery";
    pub const FINALIZE_CONFLICT: &str = "Finalize.Conflict";

    pub const MARK_FAILED_NO_PREVIEW: &str = "MarkFailed.NoPreview";

    pub const NOTIFY_FAILED: &str = "Notify.Failed";
    pub const NOTIFY_WRONG_TENANT: &str = "Notify.WrongTenant";

    /// The embedded runner's name for a task that could not run at all.
    pub const STATES_RUNTIME: &str = "States.Runtime";
    pub const STATES_TIMEOUT: &str = "States.Timeout";
    pub const STATES_HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const STATES_TASK_FAILED: &str = "States.TaskFailed";
}

/// A stage's failure as the workflow sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    /// One of [`names`] (or a States error name passed through).
    pub error: Cow<'static, str>,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: &'static str, cause: impl ToString) -> Self {
        Self {
            error: Cow::Borrowed(error),
            cause: cause.to_string(),
        }
    }

    /// `Task.BadPayload` for a `task` payload that does not fit its contract.
    pub fn bad_payload(task: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(names::BAD_PAYLOAD, format!("{task} payload: {reason}"))
    }

    /// The name and cause, for a runtime's own error type.
    pub fn into_parts(self) -> (String, String) {
        (self.error.into_owned(), self.cause)
    }
}

impl From<PortError> for TaskError {
    fn from(e: PortError) -> Self {
        let name = if e.is_retryable() {
            names::STORAGE_UNAVAILABLE
        } else {
            names::STORAGE_ERROR
        };
        TaskError::new(name, e)
    }
}

/// A stage's typed payload out of the JSON the workflow sent.
pub fn parse_payload<T: serde::de::DeserializeOwned>(
    task: &str,
    payload: serde_json::Value,
) -> Result<T, TaskError> {
    serde_json::from_value(payload).map_err(|e| TaskError::bad_payload(task, e))
}

/// A stage's typed result as the JSON the workflow stores.
pub fn to_output<T: serde::Serialize>(
    task: &str,
    output: &T,
) -> Result<serde_json::Value, TaskError> {
    to_json(output)
        .map_err(|e| TaskError::new(names::STATES_RUNTIME, format!("{task} output: {e}")))
}

/// `value` as JSON the way it goes over the wire. Through text, because
/// `serde_json::to_value` widens an `f32` to the `f64` nearest its binary value
/// (0.6 becomes 0.6000000238418579), and scores and strengths are `f32`.
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_say_whether_a_retry_may_help() {
        let busy = TaskError::from(PortError::Unavailable("throttled".into()));
        assert_eq!(busy.error, names::STORAGE_UNAVAILABLE);
        let refused = TaskError::from(PortError::Invalid("bad key".into()));
        assert_eq!(refused.error, names::STORAGE_ERROR);
    }

    #[test]
    fn a_payload_that_does_not_fit_is_bad_payload_with_the_task_named() {
        #[derive(Debug, serde::Deserialize)]
        struct Needs {
            #[allow(dead_code)]
            attempt: u32,
        }
        let err = parse_payload::<Needs>("judge", serde_json::json!({})).unwrap_err();
        assert_eq!(err.error, names::BAD_PAYLOAD);
        assert!(err.cause.starts_with("judge payload:"), "{}", err.cause);
    }
}
