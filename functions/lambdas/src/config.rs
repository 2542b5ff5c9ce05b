//! What the functions read from their environment (names as in
//! `infra/template.yaml`), and the AWS adapters built from it once per process.

use likeness_analyze::handler::AnalyzePorts;
use likeness_aws::{DynamoRecords, S3Blobs, SqsQueue, StepFunctionsWorkflow};
use likeness_core::Catalogue;
use likeness_core::metering::{LedgerMeter, Meter};
use likeness_core::ports::{Clock, SystemClock, Workflow};
use likeness_judge::{DeliveryConfig, FaceModel, FinalizePorts, JudgePorts, MarkFailedPorts};
use likeness_notify::{Announcer, NotifyConfig, NotifyPorts};
use likeness_vision::AnalysisConfig;
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
pub const WEBHOOKS_ALLOW_PRIVATE: &str = "LIKENESS_WEBHOOKS_ALLOW_PRIVATE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (the template sets it for each function)")]
    Missing(&'static str),
    #[error("environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// The API's settings; the reason names the variable.
    #[error("API configuration: {0}")]
    Api(String),
}

/// A variable that must be set and not empty.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where webhooks may go. On AWS: public https endpoints only. The template
/// never sets `LIKENESS_WEBHOOKS_ALLOW_PRIVATE`; a deployment whose receivers
/// live inside its own network (and the local stack test, whose receiver is on
/// loopback) sets it to `1` to allow private addresses and plain http, as
/// `likeness serve` does.
pub fn webhook_targets() -> likeness_notify::TargetPolicy {
    let private = optional(WEBHOOKS_ALLOW_PRIVATE).is_some_and(|v| v == "1" || v == "true");
    likeness_notify::TargetPolicy {
        allow_private_targets: private,
        require_https: !private,
    }
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
/// config (cheap: the config's HTTP client and credentials are shared). The
/// `*_ports` methods are the AWS composition of each stage's handler.
#[derive(Clone)]
pub struct AwsStack {
    pub sdk: aws_config::SdkConfig,
    pub records: Arc<DynamoRecords>,
    pub blobs: Arc<S3Blobs>,
    pub clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
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

    /// The cost ledger in the table, priced by the shipped price table.
    pub fn meter(&self) -> Arc<dyn Meter> {
        Arc::new(LedgerMeter::builtin(
            self.records.clone(),
            self.records.clone(),
            self.clock.clone(),
        ))
    }

    /// Webhook events into the queue at `queue_url`.
    pub fn announcer(&self, queue_url: &str) -> Announcer {
        let config = NotifyConfig {
            queue: queue_url.to_owned(),
            ..NotifyConfig::production()
        };
        Announcer::new(
            self.records.clone(),
            self.records.clone(),
            self.blobs.clone(),
            self.records.clone(),
            self.queue(),
            self.clock.clone(),
            config,
        )
    }

    /// The analyze function, from the environment: executions of
    /// `LIKENESS_STATE_MACHINE_ARN`, rejected photos announced when
    /// `LIKENESS_WEBHOOKS_QUEUE_URL` is set.
    pub fn analyze_ports(&self) -> Result<AnalyzePorts, ConfigError> {
        Ok(self.analyze_ports_with(self.workflow()?, optional(WEBHOOKS_QUEUE_URL).as_deref()))
    }

    pub fn analyze_ports_with(
        &self,
        workflow: Arc<dyn Workflow>,
        webhooks_queue_url: Option<&str>,
    ) -> AnalyzePorts {
        AnalyzePorts {
            previews: self.records.clone(),
            blobs: self.blobs.clone(),
            workflow,
            config: AnalysisConfig::default(),
            clock: self.clock.clone(),
            meter: Some(self.meter()),
            announce: webhooks_queue_url.map(|url| Arc::new(self.announcer(url)) as Arc<_>),
        }
    }

    /// The judge function, with the identity model when it is installed.
    pub fn judge_ports(&self, model: Option<Arc<dyn FaceModel>>) -> JudgePorts {
        JudgePorts {
            blobs: self.blobs.clone(),
            catalogue: Arc::new(Catalogue::builtin()),
            model,
            clock: self.clock.clone(),
            meter: Some(self.meter()),
        }
    }

    pub fn finalize_ports(&self) -> FinalizePorts {
        FinalizePorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
            delivery: DeliveryConfig::default(),
            clock: self.clock.clone(),
            meter: Some(self.meter()),
        }
    }

    pub fn mark_failed_ports(&self) -> MarkFailedPorts {
        MarkFailedPorts {
            blobs: self.blobs.clone(),
            previews: self.records.clone(),
        }
    }

    /// The notify function: events into `LIKENESS_WEBHOOKS_QUEUE_URL`, the
    /// execution's transitions counted from Step Functions' history.
    pub fn notify_ports(&self) -> Result<NotifyPorts, ConfigError> {
        Ok(self.notify_ports_with(&required(WEBHOOKS_QUEUE_URL)?))
    }

    pub fn notify_ports_with(&self, webhooks_queue_url: &str) -> NotifyPorts {
        NotifyPorts {
            previews: self.records.clone(),
            announce: Arc::new(self.announcer(webhooks_queue_url)),
            clock: self.clock.clone(),
            meter: Some(self.meter()),
            history: Some(self.task_tokens()),
        }
    }
}

/// The identity model from `LIKENESS_MODELS_DIR` (a Lambda layer or the image),
/// or `None` with a warning: the judge then scores people by structure only.
pub fn face_model() -> Option<Arc<dyn FaceModel>> {
    match likeness_identity::FaceModels::shared() {
        Ok(models) => Some(models),
        Err(e) => {
            tracing::warn!(error = %e, "no identity model: likeness of people is judged by structure only");
            None
        }
    }
}
