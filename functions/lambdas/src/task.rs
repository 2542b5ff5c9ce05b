//! Step Functions task results: an `Err` becomes the Lambda error response, and
//! its `errorType` is the error name the state machine's `Retry`/`Catch` match.

use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailed {
    pub error: String,
    pub cause: String,
}

impl TaskFailed {
    pub fn new(error: impl Into<String>, cause: impl ToString) -> Self {
        Self {
            error: error.into(),
            cause: cause.to_string(),
        }
    }
}

impl From<likeness_judge::tasks::TaskError> for TaskFailed {
    fn from(e: likeness_judge::tasks::TaskError) -> Self {
        Self::new(e.error, e.cause)
    }
}

impl From<TaskFailed> for lambda_runtime::Diagnostic {
    fn from(e: TaskFailed) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error,
            error_message: e.cause,
        }
    }
}

/// The task's payload as `T`; a payload that does not fit is `Task.BadPayload`,
/// which no `Retry` matches (sending it again cannot help).
pub fn payload<T: DeserializeOwned>(value: Value, task: &str) -> Result<T, TaskFailed> {
    serde_json::from_value(value)
        .map_err(|e| TaskFailed::new("Task.BadPayload", format!("{task} payload: {e}")))
}
