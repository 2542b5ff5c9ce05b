//! Webhooks on one machine: the state machine's notify function announces final
//! previews, rejected photos are announced by the analysis stage, and a loop
//! delivers what is queued. Private and loopback targets are refused unless
//! `LIKENESS_WEBHOOKS_ALLOW_PRIVATE=1`; plain http is allowed here (it is not the
//! production configuration, which requires https).

use crate::stack::EmbeddedStack;
use likeness_core::PreviewId;
use likeness_core::cost::StageUnits;
use likeness_core::ledger::CostLedger;
use likeness_core::ports::{Blobs, Previews};
use likeness_embedded::QueueOptions;
use likeness_notify::{Notifier, NotifyConfig, Portrait, TargetPolicy};
use likeness_workflow::{FnLambda, Runner, StatesError};
use serde_json::Value;
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

pub async fn notifier(stack: &EmbeddedStack) -> Result<Notifier, likeness_core::PortError> {
    let config = config();
    let options = QueueOptions {
        max_receives: Some(20),
        dead_letter: Some(config.dead_letter_queue.clone()),
    };
    stack.queue.declare(&config.queue, options).await?;
    Ok(Notifier::new(
        stack.deliveries.clone(),
        stack.queue.clone(),
        stack.clock.clone(),
        config,
    ))
}

/// Announce the preview's final state (ready, rejected or failed), once.
pub async fn announce(stack: &EmbeddedStack, id: &PreviewId) -> anyhow::Result<Option<String>> {
    let preview = stack
        .records
        .get(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no preview {id}"))?;
    let cost = stack.costs.lines_for(id).await?;
    let notifier = notifier(stack).await?;
    let blobs: &dyn Blobs = &*stack.blobs;
    Ok(notifier
        .emit(
            &preview,
            &Portrait::from_results(preview.results.as_ref()),
            &cost,
            blobs,
        )
        .await?)
}

/// The state machine's `Notify`/`NotifyFailed` function. It is the last task of
/// an execution, so it also meters the execution's state transitions: those
/// entered so far plus the final `Succeed`/`Fail` state.
pub fn lambda(stack: Arc<EmbeddedStack>, runner: Arc<OnceLock<Runner>>) -> FnLambda {
    FnLambda::new(move |payload: Value| {
        let (stack, runner) = (stack.clone(), runner.clone());
        async move {
            let started = std::time::Instant::now();
            let id = PreviewId::new(payload["preview_id"].as_str().unwrap_or_default());
            let webhook = announce(&stack, &id)
                .await
                .map_err(|e| StatesError::new("Notify.Failed", e.to_string()))?;
            let run = if payload["type"] == "preview.failed" {
                2
            } else {
                1
            };
            if let Some(entered) = runner
                .get()
                .and_then(|r| r.states_entered(id.as_str()).ok())
            {
                let units = StageUnits {
                    state_transitions: entered.len() as u64 + 1,
                    ..StageUnits::default()
                };
                crate::costs::record(&stack, &id, "workflow", run, None, units).await;
            }
            let units = StageUnits::lambda(started.elapsed(), crate::costs::GLUE_MEMORY_MB);
            crate::costs::record(&stack, &id, "notify", run, None, units).await;
            Ok(serde_json::json!({ "webhook_id": webhook }))
        }
    })
}

/// Called when analysis rejects a photo: the customer's system learns why.
pub async fn rejected(stack: &EmbeddedStack, id: &PreviewId) {
    if let Err(e) = announce(stack, id).await {
        tracing::error!(preview_id = %id, error = %e, "announcing a rejected preview");
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
