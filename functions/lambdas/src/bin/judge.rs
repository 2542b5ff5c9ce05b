//! The judge Lambda: the state machine's `Judge` task.

use lambda_runtime::service_fn;
use likeness_core::Catalogue;
use likeness_lambdas::AwsStack;
use likeness_lambdas::judge::{Judge, face_model};
use likeness_lambdas::metering::Meter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let catalogue = Catalogue::builtin();
    let model = face_model();
    let meter = Meter::for_function(stack.records.clone(), stack.records.clone(), 2048);
    let judge = &Judge {
        blobs: &*stack.blobs,
        catalogue: &catalogue,
        model: model.as_deref(),
        meter: Some(&meter),
    };
    lambda_runtime::run(service_fn(move |event| judge.handle(event))).await
}
