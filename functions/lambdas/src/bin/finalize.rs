//! The finalize Lambda: the state machine's `Finalize` task.

use lambda_runtime::service_fn;
use likeness_judge::DeliveryConfig;
use likeness_lambdas::AwsStack;
use likeness_lambdas::finalize::Finalize;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let delivery = DeliveryConfig::default();
    let finalize = &Finalize {
        blobs: &*stack.blobs,
        previews: &*stack.records,
        delivery: &delivery,
    };
    lambda_runtime::run(service_fn(move |event| finalize.handle(event))).await
}
