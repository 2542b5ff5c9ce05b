//! Ports for what the pipeline remembers about money and messages: the cost
//! ledger, and webhook events, endpoint secrets and delivery attempts.

use crate::cost::{CostError, CostLine, PriceTable, StageRun, StageUnits};
use crate::error::{PortError, PortResult};
use crate::ids::{PreviewId, StyleId, TenantId};
use crate::ports::{Clock, Previews};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Cost lines, written once per (preview, stage, seq).
#[async_trait]
pub trait CostLedger: Send + Sync {
    /// Store the lines of one stage run. All lines must share preview, stage and
    /// seq. Returns `false` (and stores nothing) when that run was recorded
    /// already, so a redelivered stage does not count twice.
    async fn record(&self, lines: &[CostLine]) -> PortResult<bool>;
    async fn lines_for(&self, preview: &PreviewId) -> PortResult<Vec<CostLine>>;
    /// Lines recorded in `[from, to)`.
    async fn lines_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> PortResult<Vec<CostLine>>;
}

/// Prices and records stage units; what the orchestration calls once per stage.
#[derive(Clone)]
pub struct StageMeter {
    ledger: Arc<dyn CostLedger>,
    prices: Arc<PriceTable>,
    clock: Arc<dyn Clock>,
}

/// The preview a stage worked for, as the meter needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct MeteredPreview {
    pub id: PreviewId,
    pub tenant: TenantId,
    /// All styles ordered; glue stages are attributed to all of them.
    pub styles: Vec<StyleId>,
}

impl StageMeter {
    pub fn new(
        ledger: Arc<dyn CostLedger>,
        prices: Arc<PriceTable>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            ledger,
            prices,
            clock,
        }
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Record one run of `stage`. `style` is set for per-style stages (render,
    /// judge); `None` attributes the stage to all of the preview's styles.
    /// Recording the same (preview, stage, seq) again is a no-op that returns
    /// the lines stored the first time.
    pub async fn record_stage(
        &self,
        preview: &MeteredPreview,
        stage: &str,
        seq: u32,
        style: Option<&StyleId>,
        units: &StageUnits,
    ) -> PortResult<Vec<CostLine>> {
        if stage.is_empty()
            || !stage
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(PortError::Invalid(format!(
                "stage name `{stage}` must be [A-Za-z0-9_-]+"
            )));
        }
        let run = StageRun {
            preview_id: preview.id.clone(),
            tenant: preview.tenant.clone(),
            stage: stage.to_owned(),
            seq,
            styles: match style {
                Some(s) => vec![s.clone()],
                None => preview.styles.clone(),
            },
            at: self.clock.now(),
        };
        let lines = self
            .prices
            .price_stage(&run, units)
            .map_err(|e: CostError| PortError::Invalid(e.to_string()))?;
        if lines.is_empty() || self.ledger.record(&lines).await? {
            return Ok(lines);
        }
        let stored = self.ledger.lines_for(&preview.id).await?;
        Ok(stored
            .into_iter()
            .filter(|l| l.stage == stage && l.seq == seq)
            .collect())
    }
}

impl StageMeter {
    /// Record one run of `stage` for the preview `id`, read from `previews`.
    /// `run` numbers the runs (the attempt for render and judge); per-style runs
    /// are told apart by the style's place in the order, so a redelivered run is
    /// recorded once. A preview that no longer exists records nothing.
    pub async fn record_run(
        &self,
        previews: &dyn Previews,
        id: &PreviewId,
        stage: &str,
        run: u32,
        style: Option<&StyleId>,
        units: &StageUnits,
    ) -> PortResult<()> {
        let Some(preview) = previews.get(id).await? else {
            return Ok(());
        };
        let seq = match style.and_then(|s| preview.styles.iter().position(|o| o == s)) {
            Some(position) => (position as u32 + 1) * 100 + run,
            None => run,
        };
        let metered = MeteredPreview {
            id: preview.id,
            tenant: preview.tenant,
            styles: preview.styles,
        };
        self.record_stage(&metered, stage, seq, style, units)
            .await?;
        Ok(())
    }
}

/// A tenant's webhook signing secret, `whsec_` + base64 of the key bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    pub tenant: TenantId,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// After this the secret no longer signs (set when it is rotated out).
    pub expires_at: Option<DateTime<Utc>>,
}

impl EndpointSecret {
    /// A fresh secret: 32 random bytes, as Standard Webhooks serialises them.
    pub fn generate(tenant: &TenantId, now: DateTime<Utc>) -> Self {
        use base64::Engine;
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            tenant: tenant.clone(),
            secret: format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            ),
            created_at: now,
            expires_at: None,
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// One event to deliver, with the exact bytes that are signed and sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The `webhook-id`: the same on every attempt and replay of this event.
    pub webhook_id: String,
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub event_type: String,
    pub url: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed and the schedule is spent (or the target is refused): dead-lettered.
    DeadLettered,
}

/// One HTTP attempt (or a refusal to make one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub webhook_id: String,
    pub preview_id: PreviewId,
    /// 1-based attempt number within the delivery schedule.
    pub attempt: u32,
    pub url: String,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
    /// When the next attempt is due, if one is scheduled.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Webhook events, endpoint secrets and the record of every attempt.
#[async_trait]
pub trait Deliveries: Send + Sync {
    async fn put_secret(&self, secret: &EndpointSecret) -> PortResult<()>;
    /// Set `expires_at = at` on the tenant's secrets that would otherwise live longer.
    async fn retire_secrets(&self, tenant: &TenantId, at: DateTime<Utc>) -> PortResult<()>;
    /// The tenant's secrets live at `now`, newest first.
    async fn live_secrets(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> PortResult<Vec<EndpointSecret>>;
    /// Store an event; `false` when one with this webhook id exists (its bytes are kept).
    async fn save_event(&self, event: &WebhookEvent) -> PortResult<bool>;
    async fn event(&self, webhook_id: &str) -> PortResult<Option<WebhookEvent>>;
    /// The preview's events, oldest first.
    async fn events_for(&self, preview: &PreviewId) -> PortResult<Vec<WebhookEvent>>;
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> PortResult<()>;
    /// The preview's attempts in the order they were made.
    async fn attempts_for(&self, preview: &PreviewId) -> PortResult<Vec<DeliveryAttempt>>;
}
