//! What the functions read from their environment (names as in
//! `infra/template.yaml`), and the AWS adapters built from it once per process.

use likeness_aws::{DynamoRecords, S3Blobs, SqsQueue, StepFunctionsWorkflow};
use std::sync::Arc;

pub const TABLE: &str = "LIKENESS_TABLE";
pub const BUCKET: &str = "LIKENESS_BUCKET";
pub const STATE_MACHINE_ARN: &str = "LIKENESS_STATE_MACHINE_ARN";
pub const WEBHOOKS_QUEUE_URL: &str = "LIKENESS_WEBHOOKS_QUEUE_URL";
pub const WEBHOOKS_DLQ_URL: &str = "LIKENESS_WEBHOOKS_DLQ_URL";
pub const RENDER_QUEUE_URL: &str = "LIKENESS_RENDER_QUEUE_URL";
pub const RENDER_HEARTBEAT_SECONDS: &str = "LIKENESS_RENDER_HEARTBEAT_SECONDS";
pub const RENDER_WORKERS: &str = "LIKENESS_RENDER_WORKERS";
pub const RENDER_LONG_SIDE: &str = "LIKENESS_RENDER_LONG_SIDE";
pub const DIFFUSION_MODEL: &str = "LIKENESS_DIFFUSION_MODEL";
pub const RETENTION_DAYS: &str = "LIKENESS_RETENTION_DAYS";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (the template sets it for each function)")]
    Missing(&'static str),
    #[error("environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A variable that must be set and not empty.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A positive number, `default` when unset.
pub fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("`{v}` is not a positive whole number"),
            }),
        },
    }
}

/// The adapters every function shares: the table and the bucket. Functions
/// that also need SQS or Step Functions build those clients from the same SDK
/// config (cheap: the config's HTTP client and credentials are shared).
#[derive(Clone)]
pub struct AwsStack {
    pub sdk: aws_config::SdkConfig,
    pub records: Arc<DynamoRecords>,
    pub blobs: Arc<S3Blobs>,
}

impl AwsStack {
    /// Region, credentials and endpoint from the Lambda (or container) environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = likeness_aws::sdk_config_from_env().await;
        Self::with_sdk_config(sdk)
    }

    pub fn with_sdk_config(sdk: aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let records = Arc::new(DynamoRecords::from_sdk_config(&sdk, required(TABLE)?));
        let blobs = Arc::new(S3Blobs::from_sdk_config(&sdk, required(BUCKET)?));
        Ok(Self {
            sdk,
            records,
            blobs,
        })
    }

    pub fn queue(&self) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::from_sdk_config(&self.sdk))
    }

    /// Step Functions for `LIKENESS_STATE_MACHINE_ARN`.
    pub fn workflow(&self) -> Result<Arc<StepFunctionsWorkflow>, ConfigError> {
        Ok(Arc::new(StepFunctionsWorkflow::from_sdk_config(
            &self.sdk,
            required(STATE_MACHINE_ARN)?,
        )))
    }

    /// Step Functions for answering task tokens only (no executions are started).
    pub fn task_tokens(&self) -> Arc<StepFunctionsWorkflow> {
        Arc::new(StepFunctionsWorkflow::from_sdk_config(
            &self.sdk,
            optional(STATE_MACHINE_ARN).unwrap_or_default(),
        ))
    }
}
