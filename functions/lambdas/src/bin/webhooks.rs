//! The webhooks Lambda: delivers queued webhook attempts.

use lambda_runtime::{LambdaEvent, service_fn};
use likeness_core::ports::SystemClock;
use likeness_lambdas::{AwsStack, webhooks};
use std::convert::Infallible;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let queue = stack.queue();
    let notifier =
        &webhooks::notifier(stack.records.clone(), queue.clone(), Arc::new(SystemClock))?;
    let queue = &*queue;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Infallible>(webhooks::handle(notifier, queue, event).await)
    }))
    .await
}
