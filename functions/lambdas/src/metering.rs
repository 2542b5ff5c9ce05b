//! What each function meters: the units AWS bills for the work (its measured
//! duration at its configured memory, counted requests), priced by the
//! versioned price table into the cost ledger, as the one-machine pipeline does.
//! Metering never fails the work it measures.

use likeness_core::cost::{PriceTable, StageUnits};
use likeness_core::ledger::{CostLedger, StageMeter};
use likeness_core::ports::{Previews, SystemClock};
use likeness_core::{PreviewId, StyleId};
use std::sync::Arc;
use std::time::Duration;

/// Lambda sets this to the function's configured memory.
const MEMORY_ENV: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

pub struct Meter {
    previews: Arc<dyn Previews>,
    meter: StageMeter,
    memory_mb: u64,
}

impl Meter {
    pub fn new(previews: Arc<dyn Previews>, ledger: Arc<dyn CostLedger>, memory_mb: u64) -> Self {
        Self {
            previews,
            meter: StageMeter::new(
                ledger,
                Arc::new(PriceTable::builtin()),
                Arc::new(SystemClock),
            ),
            memory_mb,
        }
    }

    /// With the memory Lambda reports, `default_mb` outside Lambda.
    pub fn for_function(
        previews: Arc<dyn Previews>,
        ledger: Arc<dyn CostLedger>,
        default_mb: u64,
    ) -> Self {
        let memory_mb = std::env::var(MEMORY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_mb);
        Self::new(previews, ledger, memory_mb)
    }

    /// This function's run for `elapsed`, one request.
    pub fn lambda(&self, elapsed: Duration) -> StageUnits {
        StageUnits::lambda(elapsed, self.memory_mb)
    }

    /// Record one run of `stage` (see `StageMeter::record_run`).
    pub async fn record(
        &self,
        id: &PreviewId,
        stage: &str,
        run: u32,
        style: Option<&StyleId>,
        units: StageUnits,
    ) {
        if let Err(e) = self
            .meter
            .record_run(&*self.previews, id, stage, run, style, &units)
            .await
        {
            tracing::warn!(preview_id = %id, stage, error = %e, "metering a stage");
        }
    }
}
