//! The judge Lambda: the state machine's `Judge` task.

use likeness_judge::judge_task;
use likeness_lambdas::{AwsStack, config, task};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let ports = stack.judge_ports(config::face_model());
    task::run("judge", |t| judge_task::handle(&ports, t)).await
}
