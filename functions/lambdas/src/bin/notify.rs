//! The notify Lambda: the state machine's `Notify` and `NotifyFailed` tasks.

use lambda_runtime::service_fn;
use likeness_lambdas::config::{WEBHOOKS_QUEUE_URL, required};
use likeness_lambdas::{AwsStack, notify};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let announcer = &notify::announcer(&stack, &required(WEBHOOKS_QUEUE_URL)?);
    lambda_runtime::run(service_fn(move |event| notify::handle(announcer, event))).await
}
