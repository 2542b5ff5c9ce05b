//! The mark-failed Lambda: the state machine's `MarkFailed` task.

use likeness_judge::mark_failed;
use likeness_lambdas::{AwsStack, task};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let ports = AwsStack::from_env().await?.mark_failed_ports();
    task::run("mark-failed", |t| mark_failed::handle(&ports, t)).await
}
