//! The delivery handler: one queue message is one attempt at one event.
//!
//! [`Notifier::run_once`] handles a batch in order (tests, tools); the
//! long-running worker is [`Notifier::serve`], which runs attempts concurrently
//! with a cap per tenant, so a tenant whose endpoint hangs until the timeout
//! holds a few lanes of its own and never the one other tenants' events use.

use crate::config::NotifyConfig;
use crate::event::{self, Portrait};
use crate::guard::{self, Refused, Target};
use crate::signing;
use chrono::{DateTime, Utc};
use likeness_core::cost::CostLine;
use likeness_core::ledger::{AttemptOutcome, Deliveries, DeliveryAttempt, WebhookEvent};
use likeness_core::ports::{Blobs, Clock, Queue, QueueMessage};
use likeness_core::{PortError, Preview, PreviewId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The queue message: which event, which attempt, and not before when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub webhook_id: String,
    /// 1-based number of the attempt this message makes.
    pub attempt: u32,
    /// When the attempt is due; a message received earlier is delayed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The message can never be handled (not a job, or its event is gone).
    #[error("unusable webhook message: {0}")]
    BadMessage(String),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Event(#[from] event::EventError),
}

/// What handling one message did.
#[derive(Clone, Debug, PartialEq)]
pub enum Handled {
    /// Not due yet: re-enqueued with the queue's longest delay.
    Deferred,
    /// An attempt was made (or refused) and recorded.
    Attempted(DeliveryAttempt),
}

#[derive(Clone)]
pub struct Notifier {
    deliveries: Arc<dyn Deliveries>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    config: NotifyConfig,
}

/// The receipt's visibility: longer than one attempt can take.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(30);

impl Notifier {
    pub fn new(
        deliveries: Arc<dyn Deliveries>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        config: NotifyConfig,
    ) -> Self {
        Self {
            deliveries,
            queue,
            clock,
            config,
        }
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// Announce a final preview: build its event, store it, and enqueue the first
    /// attempt. Emitting the same event again enqueues nothing once it has been
    /// attempted. Returns the webhook id, or `None` when the preview has no URL.
    pub async fn emit(
        &self,
        preview: &Preview,
        portraits: &[Portrait],
        cost: &[CostLine],
        blobs: &dyn Blobs,
    ) -> Result<Option<String>, NotifyError> {
        let now = self.clock.now();
        let Some(event) = event::build(
            preview,
            portraits,
            cost,
            blobs,
            self.config.preview_url_ttl,
            now,
        )
        .await?
        else {
            return Ok(None);
        };
        let fresh = self.deliveries.save_event(&event).await?;
        if !fresh {
            let attempted = self
                .deliveries
                .attempts_for(&preview.id)
                .await?
                .iter()
                .any(|a| a.webhook_id == event.webhook_id);
            if attempted {
                return Ok(Some(event.webhook_id));
            }
        }
        self.enqueue(&event.webhook_id, 1, Duration::ZERO, None)
            .await?;
        Ok(Some(event.webhook_id))
    }

    /// Send a preview's events again, now, starting a fresh schedule with the
    /// same webhook ids; failures retry through the queue as usual.
    pub async fn replay(&self, preview: &PreviewId) -> Result<Vec<DeliveryAttempt>, NotifyError> {
        let events = self.deliveries.events_for(preview).await?;
        if events.is_empty() {
            return Err(NotifyError::BadMessage(format!(
                "preview {preview} has no webhook events to replay"
            )));
        }
        let mut attempts = Vec::new();
        for event in events {
            let job = DeliveryJob {
                webhook_id: event.webhook_id.clone(),
                attempt: 1,
                not_before: None,
            };
            attempts.push(self.attempt(&event, &job).await?);
        }
        Ok(attempts)
    }

    /// Handle one queue message body.
    pub async fn handle(&self, body: &str) -> Result<Handled, NotifyError> {
        let job: DeliveryJob = serde_json::from_str(body)
            .map_err(|e| NotifyError::BadMessage(format!("not a delivery job: {e}")))?;
        if job.attempt == 0 {
            return Err(NotifyError::BadMessage("attempt numbers start at 1".into()));
        }
        if let Some(due) = job.not_before {
            let now = self.clock.now();
            if due > now {
                let wait = (due - now).to_std().unwrap_or_default();
                let delay = wait.min(self.config.scaled(self.config.max_queue_delay));
                self.send_job(&self.config.queue, &job, delay).await?;
                return Ok(Handled::Deferred);
            }
        }
        let event = self
            .deliveries
            .event(&job.webhook_id)
            .await?
            .ok_or_else(|| NotifyError::BadMessage(format!("no event {}", job.webhook_id)))?;
        Ok(Handled::Attempted(self.attempt(&event, &job).await?))
    }

    /// Receive and handle what is waiting; returns how many messages were handled.
    pub async fn run_once(&self, wait: Duration) -> Result<usize, PortError> {
        let visibility = self.config.request_timeout + VISIBILITY_MARGIN;
        let messages = self
            .queue
            .receive(&self.config.queue, 10, visibility, wait)
            .await?;
        let n = messages.len();
        for message in messages {
            self.process(&message).await?;
        }
        Ok(n)
    }

    /// Deliver queued webhooks until `stop` completes: up to `max_in_flight`
    /// attempts at once, at most `per_tenant_in_flight` of them for one tenant.
    /// A job whose tenant has no free lane goes back on the queue for a second
    /// (as a fresh message, so parking never counts towards dead-lettering).
    /// On stop, attempts in flight get `request_timeout` to finish; one cut
    /// short is still on the queue and is attempted again (same webhook id).
    pub async fn serve(&self, stop: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight.max(1)));
        let lanes = Lanes::new(self.config.per_tenant_in_flight.max(1));
        let visibility = self.config.request_timeout + VISIBILITY_MARGIN;
        let mut tasks = JoinSet::new();
        tokio::pin!(stop);
        loop {
            while tasks.try_join_next().is_some() {}
            let free = slots.available_permits().min(10);
            if free == 0 {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tasks.join_next() => continue,
                }
            }
            let received = tokio::select! {
                _ = &mut stop => break,
                r = self.queue.receive(&self.config.queue, free, visibility, Duration::from_secs(1)) => r,
            };
            let messages = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "receiving webhook jobs");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for message in messages {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    // Cannot happen (we asked for at most `free`); the message
                    // simply comes back after its visibility timeout.
                    continue;
                };
                let this = self.clone();
                let lanes = lanes.clone();
                tasks.spawn(async move {
                    if let Err(e) = this.process_fairly(&message, &lanes).await {
                        tracing::warn!(message_id = %message.id, error = %e, "webhook job left on the queue");
                    }
                    drop(permit);
                });
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.request_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("webhook attempts cut short by shutdown; they will be retried");
        }
    }

    /// One message under the tenant's lane limit.
    async fn process_fairly(&self, message: &QueueMessage, lanes: &Lanes) -> Result<(), PortError> {
        let tenant = match serde_json::from_str::<DeliveryJob>(&message.body) {
            Ok(job) => self
                .deliveries
                .event(&job.webhook_id)
                .await?
                .map(|e| (job, e.tenant)),
            Err(_) => None,
        };
        // Unusable messages take the ordinary path, which dead-letters them.
        let Some((job, tenant)) = tenant else {
            return self.process(message).await;
        };
        let Some(_lane) = lanes.try_take(&tenant) else {
            tracing::debug!(%tenant, webhook_id = %job.webhook_id, "tenant's lanes are busy: job parked");
            self.send_job(&self.config.queue, &job, PARK_DELAY).await?;
            return self
                .queue
                .delete(&self.config.queue, &message.receipt_handle)
                .await;
        };
        self.process(message).await
    }

    /// Handle one received message and settle it on the queue.
    async fn process(&self, message: &QueueMessage) -> Result<(), PortError> {
        match self.handle(&message.body).await {
            Ok(_) => {}
            Err(NotifyError::BadMessage(reason)) => {
                tracing::error!(message_id = %message.id, %reason, "dead-lettering a webhook message");
                self.queue
                    .send(
                        &self.config.dead_letter_queue,
                        &message.body,
                        Duration::ZERO,
                    )
                    .await?;
            }
            Err(e) => {
                // Left on the queue: it comes back after the visibility timeout.
                tracing::warn!(message_id = %message.id, error = %e, "webhook message will be retried");
                return Ok(());
            }
        }
        self.queue
            .delete(&self.config.queue, &message.receipt_handle)
            .await
    }

    async fn attempt(
        &self,
        event: &WebhookEvent,
        job: &DeliveryJob,
    ) -> Result<DeliveryAttempt, NotifyError> {
        let at = self.clock.now();
        let started = Instant::now();
        let result = match guard::check(&event.url, &self.config.policy).await {
            Ok(target) => self.post(event, &target).await,
            Err(refused) => Err(Failure::Refused(refused)),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let (status_code, error, delivered, permanent) = match result {
            Ok(code) if (200..300).contains(&code) => (Some(code), None, true, false),
            Ok(code) => (Some(code), None, false, false),
            Err(Failure::Refused(r)) => {
                let permanent = !r.is_transient();
                (None, Some(format!("refused: {r}")), false, permanent)
            }
            Err(Failure::Other(e)) => (None, Some(e), false, false),
        };
        let next_delay = self
            .config
            .schedule
            .get(job.attempt as usize)
            .map(|d| self.config.scaled(*d));
        let outcome = match (delivered, permanent, next_delay) {
            (true, _, _) => AttemptOutcome::Delivered,
            (false, false, Some(_)) => AttemptOutcome::Retrying,
            _ => AttemptOutcome::DeadLettered,
        };
        let next_attempt_at = match (outcome, next_delay) {
            (AttemptOutcome::Retrying, Some(d)) => {
                Some(at + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
            }
            _ => None,
        };
        let attempt = DeliveryAttempt {
            webhook_id: event.webhook_id.clone(),
            preview_id: event.preview_id.clone(),
            attempt: job.attempt,
            url: event.url.clone(),
            at,
            status_code,
            latency_ms,
            error,
            outcome,
            next_attempt_at,
        };
        tracing::info!(
            webhook_id = %attempt.webhook_id,
            preview = %attempt.preview_id,
            attempt = attempt.attempt,
            status = ?attempt.status_code,
            latency_ms,
            error = ?attempt.error,
            outcome = ?attempt.outcome,
            "webhook attempt"
        );
        self.deliveries.record_attempt(&attempt).await?;
        match (outcome, next_delay) {
            (AttemptOutcome::Retrying, Some(delay)) => {
                // `not_before` rides along even when the queue delay covers the wait:
                // it carries waits past the queue's cap, and a queue that shows a
                // message a little early cannot make an attempt early.
                let cap = self.config.scaled(self.config.max_queue_delay);
                self.enqueue(
                    &event.webhook_id,
                    job.attempt + 1,
                    delay.min(cap),
                    next_attempt_at,
                )
                .await?;
            }
            (AttemptOutcome::DeadLettered, _) => {
                let dead = DeliveryJob {
                    not_before: None,
                    ..job.clone()
                };
                self.send_job(&self.config.dead_letter_queue, &dead, Duration::ZERO)
                    .await?;
            }
            _ => {}
        }
        Ok(attempt)
    }

    async fn post(&self, event: &WebhookEvent, target: &Target) -> Result<u16, Failure> {
        let now = self.clock.now();
        let secrets = self
            .deliveries
            .live_secrets(&event.tenant, now)
            .await
            .map_err(|e| Failure::Other(format!("loading signing secrets: {e}")))?;
        if secrets.is_empty() {
            return Err(Failure::Other(format!(
                "tenant {} has no webhook secret: create one with POST /v1/webhooks/secret",
                event.tenant
            )));
        }
        let timestamp = now.timestamp();
        let names: Vec<&str> = secrets.iter().map(|s| s.secret.as_str()).collect();
        let signature =
            signing::signature_header(&names, &event.webhook_id, timestamp, event.body.as_bytes())
                .map_err(|e| Failure::Other(format!("signing: {e}")))?;
        // A client per attempt: the resolved address is pinned for this host only,
        // and environment proxies must not carry the request elsewhere.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.config.request_timeout)
            .connect_timeout(self.config.connect_timeout.min(self.config.request_timeout))
            .no_proxy()
            .resolve(&target.host, target.addr)
            .user_agent(concat!("likeness-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Other(format!("building the HTTP client: {e}")))?;
        let response = client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &event.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.body.clone())
            .send()
            .await
            .map_err(|e| Failure::Other(describe(&e)))?;
        Ok(response.status().as_u16())
    }

    async fn enqueue(
        &self,
        webhook_id: &str,
        attempt: u32,
        delay: Duration,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let job = DeliveryJob {
            webhook_id: webhook_id.to_owned(),
            attempt,
            not_before,
        };
        self.send_job(&self.config.queue, &job, delay).await
    }

    async fn send_job(
        &self,
        queue: &str,
        job: &DeliveryJob,
        delay: Duration,
    ) -> Result<(), PortError> {
        let body = serde_json::to_string(job).map_err(|e| PortError::Backend(e.to_string()))?;
        self.queue.send(queue, &body, delay).await.map(|_| ())
    }
}

/// How long a job whose tenant has no free lane waits before it is looked at again.
const PARK_DELAY: Duration = Duration::from_secs(1);

/// Attempts in flight per tenant, capped.
#[derive(Clone)]
struct Lanes {
    cap: usize,
    busy: Arc<Mutex<HashMap<TenantId, usize>>>,
}

/// A lane held by one attempt; dropping it frees the lane.
struct Lane {
    tenant: TenantId,
    busy: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl Lanes {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            busy: Arc::default(),
        }
    }

    fn try_take(&self, tenant: &TenantId) -> Option<Lane> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let n = busy.entry(tenant.clone()).or_default();
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Lane {
            tenant: tenant.clone(),
            busy: self.busy.clone(),
        })
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.tenant);
            }
        }
    }
}

enum Failure {
    Refused(Refused),
    Other(String),
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    }
}
