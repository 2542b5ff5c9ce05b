//! The one-machine retention sweeper: what S3 lifecycle rules and the table's
//! TTL do on AWS, on the schedule of `likeness_core::retention`. Each pass
//! deletes uploads and work objects past their lifetimes and expires previews
//! past retention (their objects deleted, the record kept as `expired`, with
//! its cost lines, which hold no personal data).

use crate::SqliteRecords;
use likeness_core::ports::{Blobs, Clock, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::retention::{Due, Retention};
use likeness_core::{PortError, Preview, Status, keys};
use std::sync::Arc;

pub struct Sweeper {
    pub records: Arc<SqliteRecords>,
    pub blobs: Arc<dyn Blobs>,
    pub clock: Arc<dyn Clock>,
    pub retention: Retention,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Previews moved to `expired`.
    pub expired: usize,
    /// Objects deleted, of every kind.
    pub objects_deleted: usize,
}

impl Sweeper {
    /// One pass over every preview retention still has work on. A preview that
    /// changes under the pass (a stage moved it) is left for the next one.
    pub async fn sweep(&self) -> Result<SweepReport, PortError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for preview in self.records.retained().await? {
            match self.retention.due(&preview, now) {
                Due::Nothing => {}
                Due::Upload => {
                    report.objects_deleted += self.delete_upload(&preview).await?;
                }
                Due::UploadAndWork => {
                    report.objects_deleted += self.delete_upload(&preview).await?;
                    report.objects_deleted +=
                        self.delete_prefix(&keys::work_prefix(&preview.id)).await?;
                }
                Due::Expire => {
                    report.objects_deleted += self.delete_everything(&preview).await?;
                    match self
                        .records
                        .transition(
                            &preview.id,
                            preview.status,
                            Status::Expired,
                            PreviewPatch::default(),
                        )
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(preview_id = %preview.id, "preview expired");
                            report.expired += 1;
                        }
                        Err(PortError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                expired = report.expired,
                objects_deleted = report.objects_deleted,
                "retention sweep"
            );
        }
        Ok(report)
    }

    /// Sweep now and then every `every` until `stop` resolves. A failed pass is
    /// logged and tried again at the next tick.
    pub async fn run(
        &self,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.sweep().await {
                tracing::error!(error = %e, "retention sweep failed; trying again later");
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn delete_upload(&self, preview: &Preview) -> Result<usize, PortError> {
        self.delete_prefix(&preview.upload.key).await
    }

    async fn delete_everything(&self, preview: &Preview) -> Result<usize, PortError> {
        Ok(self.delete_upload(preview).await?
            + self.delete_prefix(&keys::work_prefix(&preview.id)).await?
            + self
                .delete_prefix(&keys::delivered_prefix(&preview.tenant, &preview.id))
                .await?)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, PortError> {
        let found = self.blobs.list(prefix).await?;
        for key in &found {
            self.blobs.delete(key).await?;
        }
        Ok(found.len())
    }
}
