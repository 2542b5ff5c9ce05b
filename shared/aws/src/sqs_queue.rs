//! `Queue` over Amazon SQS. Handlers name queues; the adapter resolves each
//! name to its URL once. Dead-lettering is the queue's redrive policy, set by
//! the infrastructure (the template, or a test), never by this adapter.

use crate::sdk_error::port_error_with;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ports::{Queue, QueueMessage};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

/// SQS limits, checked here so a bad argument is `Invalid`, not a round trip.
const MAX_BATCH: usize = 10;
const MAX_WAIT: Duration = Duration::from_secs(20);
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
const MAX_DELAY: Duration = Duration::from_secs(900);

const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];
const STALE_RECEIPT: &[&str] = &["ReceiptHandleIsInvalid", "InvalidParameterValue"];

pub struct SqsQueue {
    client: Client,
    urls: RwLock<HashMap<String, String>>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue").finish_non_exhaustive()
    }
}

impl SqsQueue {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            urls: RwLock::new(HashMap::new()),
        }
    }

    /// The queue's URL. A full URL passes through, so deployments can hand the
    /// template's output straight to a handler.
    pub async fn queue_url(&self, queue: &str) -> PortResult<String> {
        if queue.starts_with("https://") || queue.starts_with("http://") {
            return Ok(queue.to_owned());
        }
        if let Some(url) = self.urls.read().expect("queue url cache").get(queue) {
            return Ok(url.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| port_error_with(&format!("resolve queue {queue}"), e, not_found))?;
        let url = out
            .queue_url
            .ok_or_else(|| PortError::Backend(format!("no URL returned for queue {queue}")))?;
        self.urls
            .write()
            .expect("queue url cache")
            .insert(queue.to_owned(), url.clone());
        Ok(url)
    }
}

fn not_found(code: &str) -> Option<fn(String) -> PortError> {
    NOT_FOUND
        .contains(&code)
        .then_some(PortError::NotFound as fn(String) -> PortError)
}

/// A receipt from an earlier receive (the message was received again since, or
/// deleted) is a lost race, not a backend failure.
fn stale_receipt(code: &str) -> Option<fn(String) -> PortError> {
    if STALE_RECEIPT.contains(&code) {
        Some(PortError::Conflict)
    } else {
        not_found(code)
    }
}

fn seconds(d: Duration, max: Duration, what: &str) -> PortResult<i32> {
    if d > max {
        return Err(PortError::Invalid(format!(
            "{what} {}s exceeds the SQS maximum of {}s",
            d.as_secs(),
            max.as_secs()
        )));
    }
    i32::try_from(d.as_secs()).map_err(|_| PortError::Invalid(format!("{what} out of range")))
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> PortResult<String> {
        let delay = seconds(delay, MAX_DELAY, "delay")?;
        let url = self.queue_url(queue).await?;
        let out = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| port_error_with(&format!("send to {queue}"), e, not_found))?;
        out.message_id
            .ok_or_else(|| PortError::Backend(format!("no message id from {queue}")))
    }

    async fn receive(
        &self,
        queue: &str,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>> {
        if !(1..=MAX_BATCH).contains(&max_messages) {
            return Err(PortError::Invalid(format!(
                "max_messages {max_messages} must be 1 to {MAX_BATCH}"
            )));
        }
        let visibility = seconds(visibility, MAX_VISIBILITY, "visibility")?;
        let wait = seconds(wait, MAX_WAIT, "wait")?;
        let url = self.queue_url(queue).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max_messages as i32)
            .visibility_timeout(visibility)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| port_error_with(&format!("receive from {queue}"), e, not_found))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                match (m.message_id, m.receipt_handle) {
                    (Some(id), Some(receipt_handle)) => Ok(QueueMessage {
                        id,
                        body: m.body.unwrap_or_default(),
                        receipt_handle,
                        receive_count,
                    }),
                    _ => Err(PortError::Backend(format!(
                        "message from {queue} without id or receipt handle"
                    ))),
                }
            })
            .collect()
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()> {
        let url = self.queue_url(queue).await?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| port_error_with(&format!("delete from {queue}"), e, stale_receipt))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> PortResult<()> {
        let visibility = seconds(visibility, MAX_VISIBILITY, "visibility")?;
        let url = self.queue_url(queue).await?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(visibility)
            .send()
            .await
            .map_err(|e| {
                port_error_with(&format!("change visibility on {queue}"), e, stale_receipt)
            })?;
        Ok(())
    }
}
