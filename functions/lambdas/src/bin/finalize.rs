//! The finalize Lambda: the state machine's `Finalize` task.

use likeness_judge::finalize;
use likeness_lambdas::{AwsStack, task};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let ports = AwsStack::from_env().await?.finalize_ports();
    task::run("finalize", |t| finalize::handle(&ports, t)).await
}
