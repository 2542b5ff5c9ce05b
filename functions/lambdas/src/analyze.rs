//! The analyze function: an SQS batch of S3 `ObjectCreated` notifications for
//! `uploads/`. Each message is handled on its own and the response lists only
//! the failed ones (`ReportBatchItemFailures`), so one bad message never holds
//! back the rest of the batch. A photo that cannot make a portrait is not a
//! failure: analysis rejects it with reasons and the message is done.

use crate::metering::Meter;
use crate::notify::Announcer;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use likeness_analyze::stage::{AnalyzeStage, StageOutcome};
use likeness_analyze::{AnalyzeError, UploadOutcome, handle_upload_notification};
use likeness_core::Status;
use likeness_core::ports::{Blobs, Previews, Workflow};
use likeness_vision::AnalysisConfig;
use tracing::Instrument;

pub struct Analyze<'a> {
    pub previews: &'a dyn Previews,
    pub blobs: &'a dyn Blobs,
    pub workflow: &'a dyn Workflow,
    pub config: &'a AnalysisConfig,
    /// Tells the tenant about rejected photos; `None` leaves that to polling.
    pub announcer: Option<&'a Announcer>,
    pub meter: Option<&'a Meter>,
}

impl Analyze<'_> {
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in event.payload.records {
            let id = message.message_id.clone().unwrap_or_default();
            let body = message.body.as_deref().unwrap_or_default();
            let span = tracing::info_span!("upload_event", message_id = %id);
            match self.message(body).instrument(span).await {
                Ok(()) => {}
                Err(e @ AnalyzeError::Malformed(_)) => {
                    // Not S3's message at all: reported, so that after the queue's
                    // maxReceiveCount SQS keeps it in the dead-letter queue (whose
                    // alarm fires) for someone to look at, instead of losing it.
                    tracing::error!(message_id = %id, error = %e, "an upload event that is not an S3 notification");
                    report(&mut response, id);
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(message_id = %id, error = %e, "upload event failed; SQS delivers it again");
                    report(&mut response, id);
                }
                Err(e) => {
                    // A real upload that no retry can fix (the record refuses the
                    // change): consumed with the batch.
                    tracing::error!(message_id = %id, error = %e, "dropping an upload event that can never succeed");
                }
            }
        }
        response
    }

    /// One notification body: claim each upload, then analyse what was claimed.
    pub async fn message(&self, body: &str) -> Result<(), AnalyzeError> {
        for outcome in handle_upload_notification(body, self.previews, self.blobs).await? {
            let id = match outcome {
                UploadOutcome::Claimed(id)
                | UploadOutcome::AlreadyClaimed(id, Status::Analyzing | Status::Rendering) => id,
                _ => continue,
            };
            let stage = AnalyzeStage {
                previews: self.previews,
                blobs: self.blobs,
                workflow: self.workflow,
                config: self.config,
            };
            let started = std::time::Instant::now();
            let outcome = stage.run(&id).await?;
            if let Some(meter) = self.meter {
                let mut units = meter.lambda(started.elapsed());
                units.s3_get = 1;
                units.s3_put = 1;
                // The upload event: sent by S3, received and deleted by the function.
                for _ in 0..3 {
                    units.add_sqs_request(body.len() as u64);
                }
                units.ddb_rru = 2.0;
                units.ddb_wru = 2.0 * likeness_core::cost::ddb_write_units(4096);
                meter.record(&id, "analyze", 1, None, units).await;
            }
            if let StageOutcome::Rejected(reasons) = outcome {
                tracing::info!(preview_id = %id, reasons = reasons.len(), "photo rejected");
                if let Some(announcer) = self.announcer {
                    // The rejection is recorded; a webhook that fails is only logged,
                    // since the customer can still read the reasons from the API.
                    if let Err(e) = announcer.announce(&id).await {
                        tracing::error!(preview_id = %id, error = %e, "announcing a rejected photo");
                    }
                }
            }
        }
        Ok(())
    }
}

fn report(response: &mut SqsBatchResponse, message_id: String) {
    if message_id.is_empty() {
        // SQS cannot be told which message failed; the rest of the batch still counts.
        tracing::error!("an SQS record without a messageId failed");
        return;
    }
    response.add_failure(message_id);
}
