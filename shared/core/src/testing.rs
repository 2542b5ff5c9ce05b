//! In-memory test doubles of the ports, for the tests of every crate (the
//! `testing` feature; never in a shipped binary): blobs, a queue, a workflow
//! that records what it was asked, and a builder for previews.

use crate::error::{PortError, PortResult};
use crate::ids::{PreviewId, StyleId, TenantId};
use crate::ports::{Blobs, PresignedRequest, Queue, QueueMessage, StartOutcome, Workflow};
use crate::preview::{Consent, Preview, Status, SubjectKind, UploadSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Objects in a map. Presigned requests point at `https://blobs.test/{key}`
/// with the headers and expiry S3 would bind, so code that only hands URLs
/// on can be tested without a server.
#[derive(Default)]
pub struct MemoryBlobs {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBlobs {
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.objects.lock().unwrap().contains_key(key)
    }
}

fn expiry(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero())
}

#[async_trait]
impl Blobs for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> PortResult<()> {
        self.objects.lock().unwrap().insert(key.into(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> PortResult<Vec<u8>> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| PortError::NotFound(key.into()))
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedRequest> {
        Ok(PresignedRequest {
            url: format!("https://blobs.test/{key}?X-Amz-Signature=test"),
            method: "PUT".into(),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), content_length.to_string()),
            ],
            expires_at: expiry(expires_in),
        })
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> PortResult<PresignedRequest> {
        Ok(PresignedRequest {
            url: format!("https://blobs.test/{key}?X-Amz-Signature=test"),
            method: "GET".into(),
            headers: vec![],
            expires_at: expiry(expires_in),
        })
    }
}

/// A queue per name in memory: what is sent is received once (no visibility
/// timeout, no redelivery); `receive` waits up to `wait` for a message. Can
/// be told to fail every send.
#[derive(Default)]
pub struct MemQueue {
    queues: Mutex<HashMap<String, VecDeque<String>>>,
    sent: Mutex<Vec<(String, String)>>,
    arrived: tokio::sync::Notify,
    failing: AtomicBool,
}

impl MemQueue {
    /// Every message ever sent, as (queue, body), in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().unwrap().clone()
    }

    /// While set, every send fails as `Unavailable`.
    pub fn fail_sends(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Queue for MemQueue {
    async fn send(&self, queue: &str, body: &str, _delay: Duration) -> PortResult<String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PortError::Unavailable("the queue is down".into()));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((queue.to_owned(), body.to_owned()));
        self.queues
            .lock()
            .unwrap()
            .entry(queue.to_owned())
            .or_default()
            .push_back(body.to_owned());
        self.arrived.notify_waiters();
        Ok(format!("m-{}", sent.len()))
    }

    async fn receive(
        &self,
        queue: &str,
        max_messages: usize,
        _visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.arrived.notified();
            {
                let mut queues = self.queues.lock().unwrap();
                let waiting = queues.entry(queue.to_owned()).or_default();
                if !waiting.is_empty() {
                    let n = max_messages.min(waiting.len());
                    return Ok(waiting
                        .drain(..n)
                        .enumerate()
                        .map(|(i, body)| QueueMessage {
                            id: format!("r-{i}"),
                            body,
                            receipt_handle: format!("h-{i}"),
                            receive_count: 1,
                        })
                        .collect());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(vec![]);
            }
        }
    }

    async fn delete(&self, _queue: &str, _receipt_handle: &str) -> PortResult<()> {
        Ok(())
    }

    async fn change_visibility(
        &self,
        _queue: &str,
        _receipt_handle: &str,
        _visibility: Duration,
    ) -> PortResult<()> {
        Ok(())
    }
}

/// Step Functions as a handler sees it: executions started once per name, and
/// every task answer recorded.
#[derive(Default)]
pub struct RecordingWorkflow {
    pub started: Mutex<Vec<(String, Value)>>,
    pub successes: Mutex<Vec<(String, Value)>>,
    pub failures: Mutex<Vec<(String, String, String)>>,
    pub heartbeats: Mutex<Vec<String>>,
}

#[async_trait]
impl Workflow for RecordingWorkflow {
    async fn start_execution(&self, name: &str, input: Value) -> PortResult<StartOutcome> {
        let mut started = self.started.lock().unwrap();
        if started.iter().any(|(n, _)| n == name) {
            return Ok(StartOutcome::AlreadyRunning);
        }
        started.push((name.to_owned(), input));
        Ok(StartOutcome::Started)
    }

    async fn send_task_success(&self, token: &str, output: Value) -> PortResult<()> {
        self.successes
            .lock()
            .unwrap()
            .push((token.to_owned(), output));
        Ok(())
    }

    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> PortResult<()> {
        self.failures
            .lock()
            .unwrap()
            .push((token.to_owned(), error.to_owned(), cause.to_owned()));
        Ok(())
    }

    async fn send_task_heartbeat(&self, token: &str) -> PortResult<()> {
        self.heartbeats.lock().unwrap().push(token.to_owned());
        Ok(())
    }
}

/// A preview awaiting its upload, as the API stores an order: one `oil`
/// style, one variation, a JPEG upload, no webhook. Adjust with the methods.
#[derive(Clone, Debug)]
pub struct PreviewBuilder(Preview);

impl PreviewBuilder {
    pub fn new(tenant: &str, id: &str) -> Self {
        let now = Utc::now();
        let id = PreviewId::new(id);
        let tenant = TenantId::new(tenant);
        Self(Preview {
            upload: UploadSpec {
                key: crate::keys::upload(&tenant, &id),
                content_type: "image/jpeg".into(),
                content_length: 1,
                expires_at: now + chrono::Duration::minutes(15),
            },
            id,
            tenant,
            status: Status::AwaitingUpload,
            subject: SubjectKind::Person,
            styles: vec![StyleId::new("oil")],
            variations: 1,
            webhook_url: None,
            consent: Consent {
                rights_to_photo: true,
            },
            created_at: now,
            updated_at: now,
            version: 1,
            analysis: None,
            rejection_reasons: vec![],
            failure: None,
            results: None,
            expires_at: now + chrono::Duration::days(7),
        })
    }

    pub fn upload_length(mut self, bytes: u64) -> Self {
        self.0.upload.content_length = bytes;
        self
    }

    pub fn upload_expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.upload.expires_at = at;
        self
    }

    pub fn subject(mut self, subject: SubjectKind) -> Self {
        self.0.subject = subject;
        self
    }

    pub fn styles(mut self, styles: &[&str]) -> Self {
        self.0.styles = styles.iter().map(|s| StyleId::new(*s)).collect();
        self
    }

    pub fn variations(mut self, n: u32) -> Self {
        self.0.variations = n;
        self
    }

    pub fn webhook(mut self, url: &str) -> Self {
        self.0.webhook_url = Some(url.to_owned());
        self
    }

    pub fn status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }

    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.created_at = at;
        self.0.updated_at = at;
        self
    }

    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.expires_at = at;
        self
    }

    pub fn build(self) -> Preview {
        self.0
    }
}
