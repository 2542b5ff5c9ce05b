//! Test doubles shared by the analyze tests.

use chrono::Utc;
use likeness_core::ports::{Blobs, PresignedRequest, StartOutcome, Workflow};
use likeness_core::preview::UploadSpec;
use likeness_core::{
    Consent, PortError, Preview, PreviewId, Status, StyleId, SubjectKind, TenantId, keys,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryBlobs(Mutex<BTreeMap<String, Vec<u8>>>);

#[async_trait::async_trait]
impl Blobs for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _: &str) -> Result<(), PortError> {
        self.0.lock().unwrap().insert(key.into(), bytes);
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Vec<u8>, PortError> {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| PortError::NotFound(key.into()))
    }
    async fn delete(&self, key: &str) -> Result<(), PortError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn presign_put(
        &self,
        _: &str,
        _: &str,
        _: u64,
        _: Duration,
    ) -> Result<PresignedRequest, PortError> {
        Err(PortError::Invalid("not used".into()))
    }
    async fn presign_get(&self, _: &str, _: Duration) -> Result<PresignedRequest, PortError> {
        Err(PortError::Invalid("not used".into()))
    }
}

#[allow(dead_code)] // used by some of the test binaries that include this module
/// Records the executions started, by name, as Step Functions would dedupe them.
#[derive(Default)]
pub struct RecordingWorkflow(pub Mutex<Vec<(String, serde_json::Value)>>);

#[async_trait::async_trait]
impl Workflow for RecordingWorkflow {
    async fn start_execution(
        &self,
        name: &str,
        input: serde_json::Value,
    ) -> Result<StartOutcome, PortError> {
        let mut started = self.0.lock().unwrap();
        if started.iter().any(|(n, _)| n == name) {
            return Ok(StartOutcome::AlreadyRunning);
        }
        started.push((name.to_owned(), input));
        Ok(StartOutcome::Started)
    }
    async fn send_task_success(&self, _: &str, _: serde_json::Value) -> Result<(), PortError> {
        Ok(())
    }
    async fn send_task_failure(&self, _: &str, _: &str, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn send_task_heartbeat(&self, _: &str) -> Result<(), PortError> {
        Ok(())
    }
}

pub fn ordered(tenant: &str, n: u32, length: u64) -> Preview {
    let now = Utc::now();
    let id = PreviewId::new(format!("pv_{n:032x}"));
    let tenant = TenantId::new(tenant);
    Preview {
        upload: UploadSpec {
            key: keys::upload(&tenant, &id),
            content_type: "image/jpeg".into(),
            content_length: length,
            expires_at: now,
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
        expires_at: now,
    }
}
