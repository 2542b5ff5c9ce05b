//! The notify function: the state machine's `Notify`/`NotifyFailed` tasks. It
//! builds the tenant's webhook event for the preview's final state, stores it,
//! and queues the first delivery attempt on the webhooks queue; delivery and its
//! retries happen from that queue. Announcing twice queues nothing new.

use crate::metering::Meter;
use crate::task::{TaskFailed, payload};
use lambda_runtime::LambdaEvent;
use likeness_core::ledger::{CostLedger, Deliveries};
use likeness_core::ports::{Blobs, Clock, Previews, Queue};
use likeness_core::{PreviewId, TenantId};
use likeness_notify::{Notifier, NotifyConfig, NotifyError, Portrait};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Builds and queues the webhook event of a finished preview.
pub struct Announcer {
    pub previews: Arc<dyn Previews>,
    pub costs: Arc<dyn CostLedger>,
    pub blobs: Arc<dyn Blobs>,
    notifier: Notifier,
}

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("no preview {0}")]
    NoPreview(PreviewId),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Port(#[from] likeness_core::PortError),
}

impl Announcer {
    /// `queue` is the webhooks queue (a URL or a queue name).
    pub fn new(
        previews: Arc<dyn Previews>,
        costs: Arc<dyn CostLedger>,
        blobs: Arc<dyn Blobs>,
        deliveries: Arc<dyn Deliveries>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        queue_name: &str,
    ) -> Self {
        let config = NotifyConfig {
            queue: queue_name.to_owned(),
            ..NotifyConfig::production()
        };
        Self {
            previews,
            costs,
            blobs,
            notifier: Notifier::new(deliveries, queue, clock, config),
        }
    }

    /// The webhook id queued (or queued before), `None` when the tenant has no URL.
    pub async fn announce(&self, id: &PreviewId) -> Result<Option<String>, AnnounceError> {
        let preview = self
            .previews
            .get(id)
            .await?
            .ok_or_else(|| AnnounceError::NoPreview(id.clone()))?;
        let cost = self.costs.lines_for(id).await?;
        let portraits = Portrait::from_results(preview.results.as_ref());
        Ok(self
            .notifier
            .emit(&preview, &portraits, &cost, &*self.blobs)
            .await?)
    }
}

/// The `Notify` and `NotifyFailed` payloads.
#[derive(Debug, Deserialize)]
pub struct NotifyTask {
    #[serde(rename = "type")]
    pub kind: String,
    pub preview_id: PreviewId,
    pub tenant: TenantId,
}

pub async fn handle(
    announcer: &Announcer,
    meter: Option<&Meter>,
    event: LambdaEvent<Value>,
) -> Result<Value, TaskFailed> {
    let started = std::time::Instant::now();
    let task: NotifyTask = payload(event.payload, "notify")?;
    if !matches!(task.kind.as_str(), "preview.ready" | "preview.failed") {
        return Err(TaskFailed::new(
            "Task.BadPayload",
            format!("notify: unknown event type `{}`", task.kind),
        ));
    }
    let preview = announcer
        .previews
        .get(&task.preview_id)
        .await
        .map_err(|e| TaskFailed::new("Notify.Failed", e))?;
    if preview.is_some_and(|p| p.tenant != task.tenant) {
        return Err(TaskFailed::new("Notify.WrongTenant", &task.preview_id));
    }
    let webhook = announcer
        .announce(&task.preview_id)
        .await
        .map_err(|e| TaskFailed::new("Notify.Failed", e))?;
    if let Some(meter) = meter {
        // `Notify` runs once per execution, `NotifyFailed` after a failure.
        let run = if task.kind == "preview.failed" { 2 } else { 1 };
        let units = meter.lambda(started.elapsed());
        meter
            .record(&task.preview_id, "notify", run, None, units)
            .await;
    }
    Ok(json!({ "webhook_id": webhook }))
}

/// The announcer over the table, the bucket and the webhooks queue at `queue_url`.
pub fn announcer(stack: &crate::AwsStack, queue_url: &str) -> Announcer {
    Announcer::new(
        stack.records.clone(),
        stack.records.clone(),
        stack.blobs.clone(),
        stack.records.clone(),
        stack.queue(),
        Arc::new(likeness_core::ports::SystemClock),
        queue_url,
    )
}

/// The announcer, when `LIKENESS_WEBHOOKS_QUEUE_URL` is set.
pub fn announcer_from_env(stack: &crate::AwsStack) -> Option<Announcer> {
    crate::config::optional(crate::config::WEBHOOKS_QUEUE_URL).map(|url| announcer(stack, &url))
}
