//! Where `Task` states go: the runner hands each resource to a [`TaskHandlers`]
//! implementation. [`InProcessHandlers`] maps `lambda:invoke` to in-process
//! functions by ARN and `sqs:sendMessage` to a [`Queue`] port.

use crate::error::StatesError;
use async_trait::async_trait;
use likeness_core::ports::Queue;
use likeness_core::task_error::{TaskError, parse_payload, to_output};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What the runner knows about the task being run.
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub execution: String,
    pub state: String,
    /// Set for `.waitForTaskToken` resources: the token the worker must answer with.
    pub token: Option<String>,
}

#[async_trait]
pub trait TaskHandlers: Send + Sync {
    /// Runs `resource` (without any `.waitForTaskToken` suffix) with the evaluated
    /// `Parameters`. For callback tasks the returned value is discarded and the
    /// runner waits for the token instead.
    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, StatesError>;
}

/// An in-process Lambda function.
#[async_trait]
pub trait Lambda: Send + Sync {
    async fn invoke(&self, payload: Value) -> Result<Value, StatesError>;
}

type BoxFut = Pin<Box<dyn Future<Output = Result<Value, StatesError>> + Send>>;

/// Adapts an async closure into a [`Lambda`].
pub struct FnLambda(Box<dyn Fn(Value) -> BoxFut + Send + Sync>);

impl FnLambda {
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, StatesError>> + Send + 'static,
    {
        Self(Box::new(move |v| Box::pin(f(v))))
    }
}

impl FnLambda {
    /// A stage handler as an in-process function: the payload is parsed into
    /// the stage's contract (`Task.BadPayload` when it does not fit, as on
    /// AWS), and its result or [`TaskError`] goes back to the runner.
    pub fn task<T, O, F, Fut>(name: &'static str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::new(move |payload: Value| {
            let handler = handler.clone();
            async move {
                let task: T = parse_payload(name, payload)?;
                let output = handler(task).await?;
                Ok(to_output(name, &output)?)
            }
        })
    }
}

#[async_trait]
impl Lambda for FnLambda {
    async fn invoke(&self, payload: Value) -> Result<Value, StatesError> {
        (self.0)(payload).await
    }
}

/// `lambda:invoke` by function ARN (or name) and `sqs:sendMessage` through a queue port.
#[derive(Default, Clone)]
pub struct InProcessHandlers {
    lambdas: HashMap<String, Arc<dyn Lambda>>,
    queue: Option<Arc<dyn Queue>>,
}

pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
pub const SQS_SEND: &str = "arn:aws:states:::sqs:sendMessage";

/// The queue name of an SQS queue URL (`https://sqs.region.amazonaws.com/123/name` → `name`).
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

impl InProcessHandlers {
    pub fn new() -> Self {
        Self::default()
    }
    /// Registers a function under its ARN; it also answers to its bare name.
    pub fn lambda(mut self, arn: &str, f: Arc<dyn Lambda>) -> Self {
        let name = arn.rsplit(':').next().unwrap_or(arn).to_string();
        self.lambdas.insert(arn.to_string(), f.clone());
        self.lambdas.insert(name, f);
        self
    }
    pub fn queue(mut self, q: Arc<dyn Queue>) -> Self {
        self.queue = Some(q);
        self
    }

    fn find(&self, function: &str) -> Result<&Arc<dyn Lambda>, StatesError> {
        self.lambdas
            .get(function)
            .or_else(|| {
                self.lambdas
                    .get(function.rsplit(':').next().unwrap_or(function))
            })
            .ok_or_else(|| {
                StatesError::new(
                    "Lambda.ResourceNotFoundException",
                    format!("Function not found: {function}"),
                )
            })
    }
}

#[async_trait]
impl TaskHandlers for InProcessHandlers {
    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        _ctx: &TaskContext,
    ) -> Result<Value, StatesError> {
        if resource == LAMBDA_INVOKE {
            let function = parameters
                .get("FunctionName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    StatesError::runtime("lambda:invoke needs Parameters.FunctionName")
                })?;
            let payload = parameters.get("Payload").cloned().unwrap_or(json!({}));
            let out = self.find(function)?.invoke(payload).await?;
            return Ok(json!({
                "ExecutedVersion": "$LATEST",
                "Payload": out,
                "StatusCode": 200,
            }));
        }
        if resource.starts_with("arn:aws:lambda:") {
            let payload = if parameters.is_null() {
                json!({})
            } else {
                parameters
            };
            return self.find(resource)?.invoke(payload).await;
        }
        if resource == SQS_SEND {
            let queue = self.queue.as_ref().ok_or_else(|| {
                StatesError::new("SQS.SdkClientException", "no queue is configured")
            })?;
            let url = parameters
                .get("QueueUrl")
                .and_then(Value::as_str)
                .ok_or_else(|| StatesError::runtime("sqs:sendMessage needs Parameters.QueueUrl"))?;
            // Step Functions serialises a JSON MessageBody to a string.
            let body = match parameters.get("MessageBody") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => {
                    return Err(StatesError::runtime(
                        "sqs:sendMessage needs Parameters.MessageBody",
                    ));
                }
            };
            let delay = parameters
                .get("DelaySeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let id = queue
                .send(queue_name(url), &body, Duration::from_secs(delay))
                .await
                .map_err(|e| StatesError::new("SQS.AmazonSQSException", e.to_string()))?;
            return Ok(json!({"MessageId": id}));
        }
        Err(StatesError::new(
            "States.TaskFailed",
            format!("no handler for resource {resource}"),
        ))
    }
}
