//! The analyze Lambda: SQS batches of S3 upload notifications.

use lambda_runtime::{LambdaEvent, service_fn};
use likeness_lambdas::analyze::Analyze;
use likeness_lambdas::metering::Meter;
use likeness_lambdas::{AwsStack, notify};
use likeness_vision::AnalysisConfig;
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let workflow = stack.workflow()?;
    let announcer = notify::announcer_from_env(&stack);
    let config = AnalysisConfig::default();
    let meter = Meter::for_function(stack.records.clone(), stack.records.clone(), 2048);
    let analyze = &Analyze {
        previews: &*stack.records,
        blobs: &*stack.blobs,
        workflow: &*workflow,
        config: &config,
        announcer: announcer.as_ref(),
        meter: Some(&meter),
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Infallible>(analyze.handle(event).await)
    }))
    .await
}
