//! likeness-workflow: the embedded Amazon States Language runner.
//!
//! The state machine definition that Step Functions runs in AWS
//! (`infra/statemachine/preview.asl.json`) is executed here in-process, so the
//! flow that is tested is the flow that is deployed. The one-machine
//! composition (`functions/likeness/src/pipeline.rs`) wires it to the embedded
//! queue and registers each stage's handler as an in-process function
//! ([`FnLambda::task`]).
//!
//! ```text
//! Definition::load(text, substitutions) ─▶ Runner::new(machine, &def, handlers, Store, TimeScale)
//! Runner: Workflow (start_execution / send_task_success / failure / heartbeat), recover(), wait(), history()
//! ```

mod choice;
pub mod definition;
mod engine;
pub mod error;
mod intrinsic;
pub mod path;
mod runner;
pub mod store;
pub mod tasks;
mod template;
pub mod time;

pub use definition::{Definition, substitute};
pub use error::{LoadError, StatesError};
pub use runner::{Runner, RunnerError, failure_of};
pub use store::{Event, ExecutionRecord, ExecutionStatus, Store, StoreError};
pub use tasks::{FnLambda, InProcessHandlers, Lambda, TaskContext, TaskHandlers, queue_name};
pub use time::TimeScale;

/// The substitutions the tests and the embedded stack use for the project's
/// definition (queue URLs and function ARNs of the in-process handlers).
pub fn testing_substitutions() -> std::collections::BTreeMap<String, String> {
    [
        ("RenderQueueUrl", "https://sqs.local/000000000000/render"),
        (
            "JudgeFunctionArn",
            "arn:aws:lambda:local:000000000000:function:judge",
        ),
        (
            "FinalizeFunctionArn",
            "arn:aws:lambda:local:000000000000:function:finalize",
        ),
        (
            "MarkFailedFunctionArn",
            "arn:aws:lambda:local:000000000000:function:mark-failed",
        ),
        (
            "NotifyFunctionArn",
            "arn:aws:lambda:local:000000000000:function:notify",
        ),
        ("MaxConcurrency", "2"),
        ("MaxJudgeAttempts", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
