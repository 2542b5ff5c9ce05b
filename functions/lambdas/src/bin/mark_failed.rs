//! The mark-failed Lambda: the state machine's `MarkFailed` task.

use lambda_runtime::{LambdaEvent, service_fn};
use likeness_lambdas::{AwsStack, mark_failed};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = &AwsStack::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        mark_failed::handle(&*stack.blobs, &*stack.records, event).await
    }))
    .await
}
