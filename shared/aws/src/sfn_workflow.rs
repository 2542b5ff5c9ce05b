//! `Workflow` over AWS Step Functions. Executions are named by preview id, so a
//! redelivered upload notification cannot start a second run.

use crate::sdk_error::{port_error, port_error_with};
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ports::{ExecutionHistory, StartOutcome, Workflow};

/// Step Functions' limits on the free-text fields of SendTaskFailure.
const MAX_ERROR_CHARS: usize = 256;
const MAX_CAUSE_CHARS: usize = 32_768;

pub struct StepFunctionsWorkflow {
    client: Client,
    state_machine_arn: String,
}

impl std::fmt::Debug for StepFunctionsWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunctionsWorkflow")
            .field("state_machine_arn", &self.state_machine_arn)
            .finish_non_exhaustive()
    }
}

/// The task already finished, timed out, or its execution ended: whoever sent
/// the token is told the race was lost, and the work needs nothing more.
fn finished_task(code: &str) -> Option<fn(String) -> PortError> {
    matches!(code, "TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist")
        .then_some(PortError::Conflict as fn(String) -> PortError)
}

fn start_errors(code: &str) -> Option<fn(String) -> PortError> {
    match code {
        "ExecutionAlreadyExists" => Some(PortError::AlreadyExists),
        "StateMachineDoesNotExist" | "StateMachineDeleting" => Some(PortError::Backend),
        "InvalidName" | "InvalidExecutionInput" | "InvalidArn" => Some(PortError::Invalid),
        "ExecutionLimitExceeded" => Some(PortError::Unavailable),
        _ => None,
    }
}

/// Per the `Workflow` contract (and the embedded runner), settling a task that
/// already ended is not an error: whoever ended it did the work. Heartbeats keep
/// the `Conflict` so a worker learns to stop work nobody waits for.
fn settled(result: PortResult<()>) -> PortResult<()> {
    match result {
        Err(PortError::Conflict(message)) => {
            tracing::debug!(%message, "task already ended; nothing to settle");
            Ok(())
        }
        other => other,
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl StepFunctionsWorkflow {
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        state_machine_arn: impl Into<String>,
    ) -> Self {
        Self {
            client: Client::new(config),
            state_machine_arn: state_machine_arn.into(),
        }
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start_execution(
        &self,
        name: &str,
        input: serde_json::Value,
    ) -> PortResult<StartOutcome> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(StartOutcome::Started),
            Err(e) => match port_error_with(&format!("start execution {name}"), e, start_errors) {
                // Step Functions answers ExecutionAlreadyExists only when the
                // earlier run had different input or is closed; a same-input
                // restart of an open run succeeds instead. Both mean: not new.
                PortError::AlreadyExists(_) => Ok(StartOutcome::AlreadyRunning),
                other => Err(other),
            },
        }
    }

    async fn send_task_success(&self, token: &str, output: serde_json::Value) -> PortResult<()> {
        let result = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| port_error_with("send task success", e, finished_task))
            .map(|_| ());
        settled(result)
    }

    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> PortResult<()> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(truncate(error, MAX_ERROR_CHARS))
            .cause(truncate(cause, MAX_CAUSE_CHARS))
            .send()
            .await
            .map_err(|e| port_error_with("send task failure", e, finished_task))
            .map(|_| ());
        settled(result)
    }

    async fn send_task_heartbeat(&self, token: &str) -> PortResult<()> {
        let sent = self
            .client
            .send_task_heartbeat()
            .task_token(token)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // The render task has no HeartbeatSeconds (docs/WORKFLOW.md); moto 5.2
            // answers a heartbeat on such a task with InvalidToken although the
            // task waits. A heartbeat is news, not a verdict: only an ended task
            // (TaskTimedOut, TaskDoesNotExist) tells the worker to stop.
            Err(e) if e.code() == Some("InvalidToken") => {
                tracing::debug!("heartbeat answered InvalidToken; the task may still wait");
                Ok(())
            }
            Err(e) => Err(port_error_with("send task heartbeat", e, |code| {
                matches!(code, "TaskTimedOut" | "TaskDoesNotExist")
                    .then_some(PortError::Conflict as fn(String) -> PortError)
            })),
        }
    }
}

/// Counted from the execution's history pages (`…StateEntered` events), what
/// Step Functions bills as state transitions. Needs `states:GetExecutionHistory`.
#[async_trait]
impl ExecutionHistory for StepFunctionsWorkflow {
    async fn states_entered(&self, execution: &str) -> PortResult<u64> {
        let mut entered = 0u64;
        let mut pages = self
            .client
            .get_execution_history()
            .execution_arn(execution)
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| port_error(&format!("execution history of {execution}"), e))?;
            entered += page
                .events()
                .iter()
                .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
                .count() as u64;
        }
        Ok(entered)
    }
}
