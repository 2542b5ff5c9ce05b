//! What each stage meters on one machine: the units the same work would be
//! billed for in AWS (measured durations and memory, counted requests and state
//! transitions), priced by the versioned price table into the cost ledger.

use crate::stack::EmbeddedStack;
use likeness_core::cost::{StageUnits, total_usd};
use likeness_core::ledger::CostLedger;
use likeness_core::{PreviewId, StyleId};

/// Memory of the Lambda functions in the SAM template (MB).
pub const ANALYZE_MEMORY_MB: u64 = 2048;
pub const JUDGE_MEMORY_MB: u64 = 2048;
pub const FINALIZE_MEMORY_MB: u64 = 1024;
pub const GLUE_MEMORY_MB: u64 = 256;

pub async fn preview_total(stack: &EmbeddedStack, id: &PreviewId) -> anyhow::Result<f64> {
    Ok(total_usd(&stack.costs.lines_for(id).await?))
}

/// Record one run of a stage of one preview; metering never fails the stage itself.
/// `run` numbers the runs of the stage (the attempt for render and judge).
pub async fn record(
    stack: &EmbeddedStack,
    id: &PreviewId,
    stage: &str,
    run: u32,
    style: Option<&StyleId>,
    units: StageUnits,
) {
    if let Err(e) = stack
        .meter
        .record_run(&*stack.records, id, stage, run, style, &units)
        .await
    {
        tracing::warn!(preview_id = %id, stage, error = %e, "metering a stage");
    }
}
