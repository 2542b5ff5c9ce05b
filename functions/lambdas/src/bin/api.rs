//! The api Lambda: the axum Router behind API Gateway.

use likeness_lambdas::{AwsStack, api};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    likeness_lambdas::init_tracing();
    let stack = AwsStack::from_env().await?;
    let app = likeness_api::router(api::state(&stack, api::config_from_env()?));
    lambda_http::run(app).await
}
