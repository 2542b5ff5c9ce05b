//! The notify Lambda: the state machine's `Notify` and `NotifyFailed` tasks.

use lambda_runtime::service_fn;
use likeness_lambdas::config::{WEBHOOKS_QUEUE_URL, required};
use likeness_lambdas::metering::Meter;
use likeness_lambdas::{AwsStack, notify};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let announcer = &notify::announcer(&stack, &required(WEBHOOKS_QUEUE_URL)?);
    let meter = &Meter::for_function(stack.records.clone(), stack.records.clone(), 512);
    lambda_runtime::run(service_fn(move |event| {
        notify::handle(announcer, Some(meter), event)
    }))
    .await
}
