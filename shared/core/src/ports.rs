//! Ports: one small trait per capability. AWS adapters live in `shared/aws`, the
//! one-machine adapters in `shared/embedded`; handlers are generic over these.

use crate::error::PortResult;
use crate::ids::{PreviewId, TenantId};
use crate::preview::{Preview, PreviewPatch, Status};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A presigned HTTP request: the client sends `method` to `url` with exactly `headers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// Object storage (S3 or the embedded S3-compatible server).
#[async_trait]
pub trait Blobs: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> PortResult<()>;
    /// `PortError::NotFound` when there is no such object.
    async fn get(&self, key: &str) -> PortResult<Vec<u8>>;
    /// Deleting a missing object succeeds (as in S3), so clean-up is idempotent.
    async fn delete(&self, key: &str) -> PortResult<()>;
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>>;
    /// A PUT bound to this key, content type, exact length and expiry.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedRequest>;
    async fn presign_get(&self, key: &str, expires_in: Duration) -> PortResult<PresignedRequest>;
    /// The object's size in bytes; `PortError::NotFound` when there is none.
    /// Adapters that can ask for the size alone (S3's HEAD) should: this
    /// default reads the whole object.
    async fn size(&self, key: &str) -> PortResult<u64> {
        Ok(self.get(key).await?.len() as u64)
    }
}

/// Preview records. Every status change is a conditional write on the current
/// status: under at-least-once delivery exactly one of two racing writers wins.
#[async_trait]
pub trait Previews: Send + Sync {
    /// `PortError::AlreadyExists` if the id is taken.
    async fn create(&self, preview: &Preview) -> PortResult<()>;
    async fn get(&self, id: &PreviewId) -> PortResult<Option<Preview>>;
    /// Move `id` from `from` to `to`, applying `patch`. Fails with `Conflict` when the
    /// stored status is not `from`, `Invalid` when `from → to` is not allowed.
    async fn transition(
        &self,
        id: &PreviewId,
        from: Status,
        to: Status,
        patch: PreviewPatch,
    ) -> PortResult<Preview>;
    /// The tenant's previews, newest first.
    async fn list_by_tenant(&self, tenant: &TenantId, limit: usize) -> PortResult<Vec<Preview>>;
}

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Create and read the tenant's own previews.
    Tenant,
    /// Read costs across tenants.
    Finance,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Hex SHA-256 of the key; the key itself is never stored.
    pub hash: String,
    pub tenant: TenantId,
    pub scope: KeyScope,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn put_key(&self, record: &ApiKeyRecord) -> PortResult<()>;
    async fn find_key(&self, hash: &str) -> PortResult<Option<ApiKeyRecord>>;
}

/// The secret that browser tokens are signed with: one per deployment, made by
/// whichever API process asks first and read by every other one.
#[async_trait]
pub trait TokenKeys: Send + Sync {
    /// The key, creating it from `candidate` when none exists yet. Racing
    /// callers all get the one that was stored first.
    async fn token_key(&self, candidate: &[u8]) -> PortResult<Vec<u8>>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    /// Valid for this receipt only; a later receive issues a new one.
    pub receipt_handle: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// A message queue with SQS semantics: at-least-once, visibility timeout,
/// dead-letter after the queue's maximum receive count.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> PortResult<String>;
    async fn receive(
        &self,
        queue: &str,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>>;
    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()>;
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> PortResult<()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// An execution with this name exists already; starting again is a no-op.
    AlreadyRunning,
}

/// The workflow engine (Step Functions or the embedded ASL runner).
#[async_trait]
pub trait Workflow: Send + Sync {
    async fn start_execution(
        &self,
        name: &str,
        input: serde_json::Value,
    ) -> PortResult<StartOutcome>;
    /// A token whose task already finished or timed out is not an error: the work is done.
    async fn send_task_success(&self, token: &str, output: serde_json::Value) -> PortResult<()>;
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> PortResult<()>;
    async fn send_task_heartbeat(&self, token: &str) -> PortResult<()>;
}

/// Tells the tenant about a preview's final state (ready, rejected, failed):
/// builds and queues its webhook event, once however often it is called.
#[async_trait]
pub trait Announce: Send + Sync {
    /// The webhook id queued (or queued before); `None` when the tenant set no URL.
    async fn announce(&self, id: &PreviewId) -> PortResult<Option<String>>;
}

/// What the workflow engine remembers of an execution, for metering.
#[async_trait]
pub trait ExecutionHistory: Send + Sync {
    /// How many states `execution` (its id or ARN) has entered so far.
    async fn states_entered(&self, execution: &str) -> PortResult<u64>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub trait Ids: Send + Sync {
    fn preview_id(&self) -> PreviewId;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Time-ordered random ids: `pv_` + UUIDv7 in hex.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn preview_id(&self) -> PreviewId {
        PreviewId::new(format!("pv_{}", uuid::Uuid::now_v7().simple()))
    }
}

/// A clock that stands still unless moved; for tests of expiry and schedules.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(at))
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ids_are_well_formed_and_distinct() {
        let a = RandomIds.preview_id();
        let b = RandomIds.preview_id();
        assert!(a.is_well_formed(), "{a}");
        assert_ne!(a, b);
    }
}
