//! The finalize function: the state machine's `Finalize` task.

use crate::metering::Meter;
use crate::task::{TaskFailed, payload};
use lambda_runtime::LambdaEvent;
use likeness_core::ports::{Blobs, Previews};
use likeness_judge::DeliveryConfig;
use likeness_judge::tasks::{FinalizeStage, FinalizeTask};
use serde_json::Value;

pub struct Finalize<'a> {
    pub blobs: &'a dyn Blobs,
    pub previews: &'a dyn Previews,
    pub delivery: &'a DeliveryConfig,
    pub meter: Option<&'a Meter>,
}

impl Finalize<'_> {
    /// The summary the state machine hands to `Notify`.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, TaskFailed> {
        let started = std::time::Instant::now();
        let task: FinalizeTask = payload(event.payload, "finalize")?;
        let stage = FinalizeStage {
            blobs: self.blobs,
            previews: self.previews,
            delivery: self.delivery,
        };
        let summary = stage.finalize(&task).await?;
        if let Some(meter) = self.meter {
            let delivered: u64 = task
                .results
                .iter()
                .map(|r| r.verdict.selected.len() as u64)
                .sum();
            let mut units = meter.lambda(started.elapsed());
            // Per preview: read the candidate, write WebP and JPEG, read both back.
            units.s3_get = 3 * delivered;
            units.s3_put = 2 * delivered;
            units.ddb_rru = 1.0;
            units.ddb_wru = 2.0 * likeness_core::cost::ddb_write_units(summary.to_string().len());
            meter
                .record(&task.preview_id, "finalize", 1, None, units)
                .await;
        }
        Ok(summary)
    }
}
