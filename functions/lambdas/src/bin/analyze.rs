//! The analyze Lambda: SQS batches of S3 upload notifications.

use lambda_runtime::{LambdaEvent, service_fn};
use likeness_analyze::handler::{Disposition, disposition, handle_message};
use likeness_lambdas::{AwsStack, task};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let ports = &AwsStack::from_env().await?.analyze_ports()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let response = task::batch(event.payload, |id, body| async move {
            let result = handle_message(ports, &body).await;
            disposition(&result, &id) == Disposition::Redeliver
        })
        .await;
        Ok::<_, Infallible>(response)
    }))
    .await
}
