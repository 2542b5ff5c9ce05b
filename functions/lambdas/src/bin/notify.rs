//! The notify Lambda: the state machine's `Notify` and `NotifyFailed` tasks.

use likeness_lambdas::{AwsStack, task};
use likeness_notify::notify_task;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let ports = AwsStack::from_env().await?.notify_ports()?;
    task::run("notify", |t| notify_task::handle(&ports, t)).await
}
