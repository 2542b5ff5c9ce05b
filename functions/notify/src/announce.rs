//! Announcing a preview's final state: build the tenant's webhook event for
//! it (ready, rejected or failed), store it, and queue its first delivery
//! attempt. The analyze stage announces rejected photos through it, the
//! `Notify` task everything else.

use crate::config::NotifyConfig;
use crate::delivery::Notifier;
use crate::event::Portrait;
use async_trait::async_trait;
use likeness_core::ledger::{CostLedger, Deliveries};
use likeness_core::ports::{Announce, Blobs, Clock, Previews, Queue};
use likeness_core::{PortError, PreviewId};
use std::sync::Arc;

/// Builds and queues the webhook event of a finished preview.
pub struct Announcer {
    previews: Arc<dyn Previews>,
    costs: Arc<dyn CostLedger>,
    blobs: Arc<dyn Blobs>,
    notifier: Notifier,
}

impl Announcer {
    /// Events go to `config.queue`; portrait links are presigned by `blobs`.
    pub fn new(
        previews: Arc<dyn Previews>,
        costs: Arc<dyn CostLedger>,
        blobs: Arc<dyn Blobs>,
        deliveries: Arc<dyn Deliveries>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        config: NotifyConfig,
    ) -> Self {
        Self {
            previews,
            costs,
            blobs,
            notifier: Notifier::new(deliveries, queue, clock, config),
        }
    }
}

#[async_trait]
impl Announce for Announcer {
    /// Announcing twice queues nothing new: the event id is derived from the
    /// preview and its final state.
    async fn announce(&self, id: &PreviewId) -> Result<Option<String>, PortError> {
        let preview = self
            .previews
            .get(id)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("preview {id}")))?;
        let cost = self.costs.lines_for(id).await?;
        let portraits = Portrait::from_results(preview.results.as_deref());
        self.notifier
            .emit(&preview, &portraits, &cost, &*self.blobs)
            .await
            .map_err(|e| match e {
                crate::NotifyError::Port(e) => e,
                other => PortError::Backend(other.to_string()),
            })
    }
}
