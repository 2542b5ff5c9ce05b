//! The finalize Lambda: the state machine's `Finalize` task.

use lambda_runtime::service_fn;
use likeness_judge::DeliveryConfig;
use likeness_lambdas::AwsStack;
use likeness_lambdas::finalize::Finalize;
use likeness_lambdas::metering::Meter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let delivery = DeliveryConfig::default();
    let meter = Meter::for_function(stack.records.clone(), stack.records.clone(), 512);
    let finalize = &Finalize {
        blobs: &*stack.blobs,
        previews: &*stack.records,
        delivery: &delivery,
        meter: Some(&meter),
    };
    lambda_runtime::run(service_fn(move |event| finalize.handle(event))).await
}
