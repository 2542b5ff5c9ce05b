//! The webhooks function: SQS batches from the webhooks queue, one delivery
//! attempt per message. A failed attempt is not a failed message: the notifier
//! records it and queues the next attempt on the Standard Webhooks schedule
//! itself (with a delay), and dead-letters the job when the schedule is spent.
//! Only trouble with our own storage is reported back to SQS for redelivery.

use crate::config::{ConfigError, WEBHOOKS_DLQ_URL, WEBHOOKS_QUEUE_URL, required};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use likeness_core::ledger::Deliveries;
use likeness_core::ports::{Clock, Queue};
use likeness_notify::{Notifier, NotifyConfig, NotifyError};
use std::sync::Arc;
use std::time::Duration;

/// The production delivery settings on the template's queues.
pub fn notifier(
    deliveries: Arc<dyn Deliveries>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
) -> Result<Notifier, ConfigError> {
    let config = NotifyConfig {
        queue: required(WEBHOOKS_QUEUE_URL)?,
        dead_letter_queue: required(WEBHOOKS_DLQ_URL)?,
        policy: crate::config::webhook_targets(),
        ..NotifyConfig::production()
    };
    Ok(Notifier::new(deliveries, queue, clock, config))
}

pub async fn handle(
    notifier: &Notifier,
    queue: &dyn Queue,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    crate::task::batch(event.payload, |id, body| async move {
        match notifier.handle(&body).await {
            Ok(_) => false,
            Err(NotifyError::BadMessage(reason)) => {
                // Kept for a person to look at, as the one-machine loop does.
                tracing::error!(message_id = %id, %reason, "dead-lettering a webhook message");
                let dlq = &notifier.config().dead_letter_queue;
                queue.send(dlq, &body, Duration::ZERO).await.is_err()
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "webhook message will be retried");
                true
            }
        }
    })
    .await
}
