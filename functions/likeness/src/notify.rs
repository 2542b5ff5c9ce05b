//! Webhooks on one machine: the notify stage's announcer over the embedded
//! queue and records, and the delivery loop the webhooks Lambda runs on AWS.

use crate::stack::EmbeddedStack;
use async_trait::async_trait;
use likeness_core::PortError;
use likeness_core::ports::ExecutionHistory;
use likeness_embedded::QueueOptions;
use likeness_notify::{Announcer, Notifier, NotifyConfig, TargetPolicy};
use likeness_workflow::Runner;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

pub fn config() -> NotifyConfig {
    let mut config = NotifyConfig::production();
    config.policy = TargetPolicy {
        allow_private_targets: std::env::var("LIKENESS_WEBHOOKS_ALLOW_PRIVATE")
            .is_ok_and(|v| v == "1"),
        require_https: false,
    };
    config
}

/// The webhooks queue, declared with its dead-letter queue.
async fn declare_queue(stack: &EmbeddedStack, config: &NotifyConfig) -> Result<(), PortError> {
    let options = QueueOptions {
        max_receives: Some(20),
        dead_letter: Some(config.dead_letter_queue.clone()),
    };
    stack.queue.declare(&config.queue, options).await
}

pub async fn notifier(stack: &EmbeddedStack) -> Result<Notifier, PortError> {
    let config = config();
    declare_queue(stack, &config).await?;
    Ok(Notifier::new(
        stack.deliveries.clone(),
        stack.queue.clone(),
        stack.clock.clone(),
        config,
    ))
}

pub async fn announcer(stack: &EmbeddedStack) -> Result<Announcer, PortError> {
    let config = config();
    declare_queue(stack, &config).await?;
    Ok(Announcer::new(
        stack.records.clone(),
        stack.costs.clone(),
        stack.blobs.clone(),
        stack.deliveries.clone(),
        stack.queue.clone(),
        stack.clock.clone(),
        config,
    ))
}

/// The runner's history, once the runner exists (it is built after the
/// handlers it calls, notify among them).
pub struct RunnerHistory(pub Arc<OnceLock<Runner>>);

#[async_trait]
impl ExecutionHistory for RunnerHistory {
    async fn states_entered(&self, execution: &str) -> Result<u64, PortError> {
        let runner = self
            .0
            .get()
            .ok_or_else(|| PortError::Unavailable("the workflow runner is starting".into()))?;
        ExecutionHistory::states_entered(runner, execution).await
    }
}

/// Deliver queued webhooks until `stop` is cancelled.
pub async fn run(stack: Arc<EmbeddedStack>, stop: CancellationToken) {
    let notifier = match notifier(&stack).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery cannot start");
            return;
        }
    };
    notifier.serve(stop.cancelled()).await;
}
