//! How stages meter their own work: each stage handler measures its run and
//! hands the units to a [`Meter`], which prices them into the cost ledger. The
//! same handler meters the same units on AWS and on one machine; only the
//! [`Meter`] behind it differs (or is absent).

use crate::cost::{PriceTable, StageUnits};
use crate::ids::{PreviewId, StyleId};
use crate::ledger::{CostLedger, StageMeter};
use crate::ports::{Clock, Previews};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The Lambda functions of `infra/template.yaml`, with the memory each is
/// configured with there: the duration a stage runs is billed at that memory,
/// wherever it actually ran. A test reads the template and checks these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Api,
    Analyze,
    Judge,
    Finalize,
    MarkFailed,
    Notify,
    Webhooks,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Api,
        Function::Analyze,
        Function::Judge,
        Function::Finalize,
        Function::MarkFailed,
        Function::Notify,
        Function::Webhooks,
    ];

    /// The function's resource name in the SAM template.
    pub fn resource(self) -> &'static str {
        match self {
            Function::Api => "ApiFunction",
            Function::Analyze => "AnalyzeFunction",
            Function::Judge => "JudgeFunction",
            Function::Finalize => "FinalizeFunction",
            Function::MarkFailed => "MarkFailedFunction",
            Function::Notify => "NotifyFunction",
            Function::Webhooks => "WebhooksFunction",
        }
    }

    /// `MemorySize` in the template (its `Globals` where the function sets none).
    pub const fn memory_mb(self) -> u64 {
        match self {
            Function::Analyze | Function::Judge => 2048,
            Function::Api
            | Function::Finalize
            | Function::MarkFailed
            | Function::Notify
            | Function::Webhooks => 512,
        }
    }

    /// One invocation of this function that ran for `elapsed`.
    pub fn run(self, elapsed: Duration) -> StageUnits {
        StageUnits::lambda(elapsed, self.memory_mb())
    }
}

/// Where a stage's units go. Metering never fails the work it measures: a
/// meter that cannot record logs and carries on.
#[async_trait]
pub trait Meter: Send + Sync {
    /// Record one run of `stage` for preview `id`. `run` numbers the runs of
    /// the stage (the attempt for render and judge); `style` is set for
    /// per-style stages. Recording the same run twice records it once.
    async fn record(
        &self,
        id: &PreviewId,
        stage: &str,
        run: u32,
        style: Option<&StyleId>,
        units: StageUnits,
    );
}

/// A stopwatch on the injected clock, so tests with a still clock meter the
/// same durations everywhere.
pub struct Stopwatch<'a> {
    clock: &'a dyn Clock,
    started: chrono::DateTime<chrono::Utc>,
}

impl<'a> Stopwatch<'a> {
    pub fn start(clock: &'a dyn Clock) -> Self {
        Self {
            clock,
            started: clock.now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        (self.clock.now() - self.started)
            .to_std()
            .unwrap_or(Duration::ZERO)
    }
}

/// The meter over the cost ledger, priced by a price table.
#[derive(Clone)]
pub struct LedgerMeter {
    previews: Arc<dyn Previews>,
    meter: StageMeter,
}

impl LedgerMeter {
    pub fn new(
        previews: Arc<dyn Previews>,
        ledger: Arc<dyn CostLedger>,
        prices: Arc<PriceTable>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            previews,
            meter: StageMeter::new(ledger, prices, clock),
        }
    }

    /// Priced by the price table shipped with likeness.
    pub fn builtin(
        previews: Arc<dyn Previews>,
        ledger: Arc<dyn CostLedger>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::new(previews, ledger, Arc::new(PriceTable::builtin()), clock)
    }
}

#[async_trait]
impl Meter for LedgerMeter {
    async fn record(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `MemorySize` of each function resource in `infra/template.yaml`, read
    /// by indentation: a function's own setting, else `Globals.Function`'s.
    fn template_memory() -> std::collections::BTreeMap<String, u64> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let text = std::fs::read_to_string(&path).expect("the SAM template");
        let mut global = None;
        let mut section = String::new();
        let mut resource = None::<String>;
        let mut found = std::collections::BTreeMap::new();
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if indent == 0 {
                section = trimmed.trim_end_matches(':').to_owned();
                resource = None;
                continue;
            }
            if section == "Resources" && indent == 2 {
                resource = Some(trimmed.trim_end_matches(':').to_owned());
                continue;
            }
            if let Some(value) = trimmed.strip_prefix("MemorySize:") {
                let mb: u64 = value.trim().parse().expect("a number of MB");
                match (&*section, &resource) {
                    ("Globals", _) => global = Some(mb),
                    ("Resources", Some(name)) => {
                        found.insert(name.clone(), mb);
                    }
                    _ => {}
                }
            }
        }
        let global = global.expect("Globals.Function.MemorySize");
        Function::ALL
            .iter()
            .map(|f| {
                let name = f.resource().to_owned();
                let mb = found.get(&name).copied().unwrap_or(global);
                (name, mb)
            })
            .collect()
    }

    #[test]
    fn metered_memory_is_the_memory_the_template_deploys() {
        let template = template_memory();
        for function in Function::ALL {
            assert_eq!(
                template[function.resource()],
                function.memory_mb(),
                "{} is deployed with {} MB but metered at {} MB",
                function.resource(),
                template[function.resource()],
                function.memory_mb()
            );
        }
    }

    #[test]
    fn a_still_clock_meters_no_time() {
        let clock = crate::ports::ManualClock::new(chrono::Utc::now());
        let watch = Stopwatch::start(&clock);
        assert_eq!(watch.elapsed(), Duration::ZERO);
        clock.advance(chrono::Duration::milliseconds(1500));
        assert_eq!(watch.elapsed(), Duration::from_millis(1500));
        let units = Function::Judge.run(watch.elapsed());
        assert_eq!((units.lambda_ms, units.memory_mb), (1500, 2048));
    }
}
