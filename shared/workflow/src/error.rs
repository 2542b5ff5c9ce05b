//! Two kinds of failure: a definition that cannot be loaded ([`LoadError`]) and
//! the ASL-level errors that flow through `Retry`/`Catch` ([`StatesError`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The definition is unusable; nothing was started.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("definition is not valid JSON after substitution: {0}")]
    Json(#[from] serde_json::Error),
    #[error("substitution ${{{0}}} is used by the definition but no value was given")]
    MissingSubstitution(String),
    #[error("invalid definition at {at}: {message}")]
    Invalid { at: String, message: String },
}

impl LoadError {
    pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> Self {
        LoadError::Invalid {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// An error as Step Functions names it (`States.Timeout`, `GpuOOM`, ...), with its cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{error}: {cause}")]
pub struct StatesError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause")]
    pub cause: String,
}

pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const RUNTIME: &str = "States.Runtime";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// The runner could not resume an execution after a restart (its state is gone from the definition).
    pub const RESUME_FAILED: &str = "Runner.ResumeFailed";
}

impl StatesError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Error": self.error, "Cause": self.cause})
    }
}

/// A stage's failure keeps its name: `Retry` and `Catch` match it as on AWS.
impl From<likeness_core::TaskError> for StatesError {
    fn from(e: likeness_core::TaskError) -> Self {
        let (error, cause) = e.into_parts();
        StatesError::new(error, cause)
    }
}
