//! The Lambda runtime's side of a stage: a Step Functions task's payload is
//! parsed into the stage's contract, the stage's handler runs, and its result
//! comes back as JSON, or its [`TaskError`] as the Lambda error whose
//! `errorType` the state machine's `Retry` and `Catch` match. SQS batches go
//! message by message, reporting only the failed ones.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use likeness_core::TaskError;
use likeness_core::task_error::{parse_payload, to_output};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;

/// The one conversion of a stage's failure into the runtime's error.
pub fn diagnostic(e: TaskError) -> Diagnostic {
    let (error_type, error_message) = e.into_parts();
    Diagnostic {
        error_type,
        error_message,
    }
}

/// One invocation of task `name`: payload in, result or error out.
pub async fn invoke<T, O, F, Fut>(
    name: &str,
    payload: Value,
    handler: F,
) -> Result<Value, Diagnostic>
where
    T: DeserializeOwned,
    O: Serialize,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<O, TaskError>>,
{
    let run = async {
        let task: T = parse_payload(name, payload)?;
        let output = handler(task).await?;
        to_output(name, &output)
    };
    run.await.map_err(diagnostic)
}

/// Serve task `name` with `handler` until the runtime stops.
pub async fn run<T, O, F, Fut>(name: &'static str, handler: F) -> Result<(), lambda_runtime::Error>
where
    T: DeserializeOwned,
    O: Serialize,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<O, TaskError>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        invoke(name, event.payload, handler).await
    }))
    .await
}

/// An SQS batch, message by message: `redeliver(message_id, body)` says whether
/// the message failed and must come back (`ReportBatchItemFailures`); one bad
/// message never holds back the rest of the batch.
pub async fn batch<F, Fut>(event: SqsEvent, redeliver: F) -> SqsBatchResponse
where
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        let body = message.body.unwrap_or_default();
        if redeliver(id.clone(), body).await {
            if id.is_empty() {
                // SQS cannot be told which message failed; the rest of the batch still counts.
                tracing::error!("an SQS record without a messageId failed");
                continue;
            }
            response.add_failure(id);
        }
    }
    response
}
