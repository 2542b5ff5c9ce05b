//! The analyze stage's handler: one upload notification (an SQS message body)
//! in, every upload in it claimed and analysed, the run metered, a rejected
//! photo announced to the tenant. The analyze Lambda calls it per message of
//! its SQS batch; the one-machine pipeline per message of its uploads queue.

use crate::stage::{AnalyzeStage, StageOutcome};
use crate::{AnalyzeError, UploadOutcome, handle_upload_notification};
use likeness_core::Status;
use likeness_core::cost::ddb_write_units;
use likeness_core::metering::{Function, Meter, Stopwatch};
use likeness_core::ports::{Announce, Blobs, Clock, Previews, Workflow};
use likeness_vision::AnalysisConfig;
use std::sync::Arc;

/// What analysis works with.
#[derive(Clone)]
pub struct AnalyzePorts {
    pub previews: Arc<dyn Previews>,
    pub blobs: Arc<dyn Blobs>,
    pub workflow: Arc<dyn Workflow>,
    pub config: AnalysisConfig,
    pub clock: Arc<dyn Clock>,
    pub meter: Option<Arc<dyn Meter>>,
    /// Tells the tenant about rejected photos; `None` leaves that to polling.
    pub announce: Option<Arc<dyn Announce>>,
}

/// What becomes of the queue message once handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Done with, whatever the outcome: delete it.
    Consume,
    /// Leave it: the queue delivers it again, and after its maximum receive
    /// count keeps it in the dead-letter queue, whose alarm fires.
    Redeliver,
}

/// Claim each upload of one notification body, then analyse what was claimed.
pub async fn handle_message(ports: &AnalyzePorts, body: &str) -> Result<(), AnalyzeError> {
    let outcomes = handle_upload_notification(body, &*ports.previews, &*ports.blobs).await?;
    for outcome in outcomes {
        let id = match outcome {
            UploadOutcome::Claimed(id)
            | UploadOutcome::AlreadyClaimed(id, Status::Analyzing | Status::Rendering) => id,
            _ => continue,
        };
        let stage = AnalyzeStage {
            previews: &*ports.previews,
            blobs: &*ports.blobs,
            workflow: &*ports.workflow,
            config: &ports.config,
        };
        let stopwatch = Stopwatch::start(&*ports.clock);
        let outcome = stage.run(&id).await?;
        if let Some(meter) = &ports.meter {
            let mut units = Function::Analyze.run(stopwatch.elapsed());
            units.s3_get = 1;
            units.s3_put = 1;
            // The upload event: sent by S3, received and deleted by the function.
            for _ in 0..3 {
                units.add_sqs_request(body.len() as u64);
            }
            units.ddb_rru = 2.0;
            units.ddb_wru = 2.0 * ddb_write_units(4096);
            meter.record(&id, "analyze", 1, None, units).await;
        }
        if let StageOutcome::Rejected(reasons) = outcome {
            tracing::info!(preview_id = %id, reasons = reasons.len(), "photo rejected");
            if let Some(announce) = &ports.announce {
                // The rejection is recorded; a webhook that fails is only logged,
                // since the customer can still read the reasons from the API.
                if let Err(e) = announce.announce(&id).await {
                    tracing::error!(preview_id = %id, error = %e, "announcing a rejected photo");
                }
            }
        }
    }
    Ok(())
}

/// What to do with message `message_id` after [`handle_message`], with the
/// reason logged once, the same way on every runtime.
pub fn disposition(result: &Result<(), AnalyzeError>, message_id: &str) -> Disposition {
    let Err(e) = result else {
        return Disposition::Consume;
    };
    match e {
        AnalyzeError::NotS3Event(_) => {
            tracing::error!(message_id, error = %e, "an upload event that is not an S3 notification");
            Disposition::Redeliver
        }
        AnalyzeError::Crashed(_) | AnalyzeError::Encode(_) => {
            tracing::error!(message_id, error = %e, "analysing an upload failed; kept for redelivery and the dead-letter queue");
            Disposition::Redeliver
        }
        e if e.is_retryable() => {
            tracing::warn!(message_id, error = %e, "upload event failed; it is delivered again");
            Disposition::Redeliver
        }
        e => {
            // A real upload that no retry can fix (the record refuses the change).
            tracing::error!(message_id, error = %e, "dropping an upload event that can never succeed");
            Disposition::Consume
        }
    }
}
