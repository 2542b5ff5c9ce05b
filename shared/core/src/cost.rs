//! Cost lines and the versioned price table that prices them.
//!
//! A stage reports what it metered ([`StageUnits`]: milliseconds, requests, bytes,
//! GPU seconds) in the units AWS bills; the [`PriceTable`] turns each non-zero unit
//! into one [`CostLine`] that keeps the table version it was priced with.

use crate::ids::{PreviewId, StyleId, TenantId};
use crate::price_book::{Deployment, PriceBook};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use thiserror::Error;

/// Names of the metered units, as the price table names them.
pub mod meters {
    pub const LAMBDA_GB_SECOND: &str = "lambda_gb_second";
    pub const LAMBDA_REQUEST: &str = "lambda_request";
    pub const SFN_STATE_TRANSITION: &str = "sfn_state_transition";
    pub const SQS_REQUEST: &str = "sqs_request";
    pub const DDB_WRITE_UNIT: &str = "ddb_write_unit";
    pub const DDB_READ_UNIT: &str = "ddb_read_unit";
    pub const S3_PUT_REQUEST: &str = "s3_put_request";
    pub const S3_GET_REQUEST: &str = "s3_get_request";
    pub const S3_STORAGE_GB_MONTH: &str = "s3_storage_gb_month";
    pub const GPU_SECOND: &str = "gpu_second";
    pub const GPU_ENERGY_WH: &str = "gpu_energy_wh";
    pub const CO2E_G: &str = "co2e_g";
    /// Fleet GPU time billed but not metered by a render (cold starts, idle
    /// tasks, renders cut short), spread over a day's previews; priced as
    /// `gpu_second`, so it is not a line of the price table.
    pub const GPU_IDLE_SECOND: &str = "gpu_idle_second";

    pub const ALL: [&str; 12] = [
        LAMBDA_GB_SECOND,
        LAMBDA_REQUEST,
        SFN_STATE_TRANSITION,
        SQS_REQUEST,
        DDB_WRITE_UNIT,
        DDB_READ_UNIT,
        S3_PUT_REQUEST,
        S3_GET_REQUEST,
        S3_STORAGE_GB_MONTH,
        GPU_SECOND,
        GPU_ENERGY_WH,
        CO2E_G,
    ];
}

/// SQS bills every 64 KiB of payload as one request.
pub const SQS_CHUNK_BYTES: u64 = 64 * 1024;
/// S3 prices storage per GB-month; AWS counts a month as 730 hours.
pub const HOURS_PER_MONTH: f64 = 730.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Error)]
pub enum CostError {
    #[error("price table is not valid TOML: {0}")]
    Parse(String),
    #[error("price table: {0}")]
    Invalid(String),
    #[error("price table {version} has no price for `{meter}`")]
    MissingPrice { version: String, meter: String },
    #[error("stage units: {0}")]
    Units(String),
}

/// One priced measurement of one stage of one preview.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub stage: String,
    /// Distinguishes runs of the same stage (judge retries, one render per style).
    pub seq: u32,
    pub meter: String,
    /// The styles this line's cost is attributed to: one for per-style stages, all
    /// of the preview's styles for glue stages (split evenly when grouping by style).
    pub styles: Vec<StyleId>,
    pub quantity: f64,
    pub unit: String,
    pub unit_price_usd: f64,
    pub price_table_version: String,
    pub usd: f64,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub usd: f64,
    pub unit: String,
    pub source: String,
}

/// How GPU seconds become energy and emissions estimates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyModel {
    pub gpu_board_watts: f64,
    pub grid_g_co2e_per_kwh: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub version: String,
    pub region: String,
    pub energy: EnergyModel,
    pub prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The shipped price book's line for [`Deployment::default`] (the
    /// one-machine stack): us-east-1, g5.xlarge on demand, arm64 Lambda.
    pub fn builtin() -> Self {
        PriceBook::builtin()
            .select(&Deployment::default())
            .expect("the shipped price book prices the default deployment (tested)")
    }

    /// The shipped price book's line for the deployment the variables
    /// describe (`crate::price_book::env`; `get` is `std::env::var` at the edges).
    pub fn deployed(get: impl Fn(&str) -> Option<String>) -> Result<Self, CostError> {
        PriceBook::builtin().select(&Deployment::from_vars(get)?)
    }

    pub fn from_toml(text: &str) -> Result<Self, CostError> {
        let table: PriceTable =
            toml::from_str(text).map_err(|e| CostError::Parse(e.to_string()))?;
        table.validate()?;
        Ok(table)
    }

    pub(crate) fn validate(&self) -> Result<(), CostError> {
        if self.version.trim().is_empty() {
            return Err(CostError::Invalid("version must not be empty".into()));
        }
        for meter in meters::ALL {
            let price = self
                .prices
                .get(meter)
                .ok_or_else(|| CostError::MissingPrice {
                    version: self.version.clone(),
                    meter: meter.into(),
                })?;
            if !price.usd.is_finite() || price.usd < 0.0 {
                return Err(CostError::Invalid(format!("{meter}: usd must be >= 0")));
            }
            if price.source.trim().is_empty() {
                return Err(CostError::Invalid(format!(
                    "{meter}: every price needs a source"
                )));
            }
        }
        let e = &self.energy;
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        if !valid(e.gpu_board_watts) || !valid(e.grid_g_co2e_per_kwh) {
            return Err(CostError::Invalid(
                "energy figures must be finite and >= 0".into(),
            ));
        }
        Ok(())
    }

    /// Price one stage's units. Units that are zero make no line.
    pub fn price_stage(
        &self,
        stage: &StageRun,
        units: &StageUnits,
    ) -> Result<Vec<CostLine>, CostError> {
        let mut lines = Vec::new();
        for (meter, quantity) in units.quantities(&self.energy)? {
            if quantity == 0.0 {
                continue;
            }
            let price = self
                .prices
                .get(meter)
                .ok_or_else(|| CostError::MissingPrice {
                    version: self.version.clone(),
                    meter: meter.into(),
                })?;
            lines.push(CostLine {
                preview_id: stage.preview_id.clone(),
                tenant: stage.tenant.clone(),
                stage: stage.stage.clone(),
                seq: stage.seq,
                meter: meter.into(),
                styles: stage.styles.clone(),
                quantity,
                unit: price.unit.clone(),
                unit_price_usd: price.usd,
                price_table_version: self.version.clone(),
                usd: quantity * price.usd,
                recorded_at: stage.at,
            });
        }
        Ok(lines)
    }
}

/// Which run of which stage the units belong to.
#[derive(Clone, Debug, PartialEq)]
pub struct StageRun {
    pub preview_id: PreviewId,
    pub tenant: TenantId,
    pub stage: String,
    pub seq: u32,
    /// The style a per-style stage worked on, or all of the preview's styles.
    pub styles: Vec<StyleId>,
    pub at: DateTime<Utc>,
}

/// What one stage metered, in the units AWS bills. In the embedded stack these are
/// what the same work would meter in AWS: measured duration and memory, counted
/// requests and transitions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageUnits {
    /// Billed Lambda duration (ms) and the function's configured memory (MB).
    pub lambda_ms: u64,
    pub memory_mb: u64,
    pub lambda_requests: u64,
    pub state_transitions: u64,
    /// Billed SQS requests (API calls, each 64 KiB of payload counting as one;
    /// [`StageUnits::add_sqs_request`] counts them), and the payload bytes in total.
    pub sqs_requests: u64,
    pub sqs_bytes: u64,
    /// PUT/COPY/POST/LIST-class and GET/HEAD-class S3 requests.
    pub s3_put: u64,
    pub s3_get: u64,
    /// Bytes stored and for how many hours (retention), for GB-month storage.
    pub s3_bytes_stored: u64,
    pub s3_storage_hours: f64,
    pub ddb_wru: f64,
    pub ddb_rru: f64,
    pub gpu_seconds: f64,
}

impl StageUnits {
    /// One Lambda invocation that ran for `elapsed` with `memory_mb` configured.
    /// Lambda bills duration rounded up to the millisecond.
    pub fn lambda(elapsed: std::time::Duration, memory_mb: u64) -> Self {
        Self {
            lambda_ms: elapsed.as_micros().div_ceil(1000) as u64,
            memory_mb,
            lambda_requests: 1,
            ..Self::default()
        }
    }

    /// Count one SQS API call (send, receive, delete, visibility change) carrying
    /// `payload_bytes`: one billed request per started 64 KiB, at least one.
    pub fn add_sqs_request(&mut self, payload_bytes: u64) {
        self.sqs_requests += payload_bytes.div_ceil(SQS_CHUNK_BYTES).max(1);
        self.sqs_bytes += payload_bytes;
    }

    /// Billed SQS requests: at least one per 64 KiB of payload, so a caller that
    /// only knows call count and total bytes is not undercharged for big messages.
    pub fn sqs_billed_requests(&self) -> u64 {
        self.sqs_requests
            .max(self.sqs_bytes.div_ceil(SQS_CHUNK_BYTES))
    }

    pub fn gpu_energy_wh(&self, energy: &EnergyModel) -> f64 {
        self.gpu_seconds * energy.gpu_board_watts / 3600.0
    }

    fn quantities(&self, energy: &EnergyModel) -> Result<Vec<(&'static str, f64)>, CostError> {
        for (name, v) in [
            ("s3_storage_hours", self.s3_storage_hours),
            ("ddb_wru", self.ddb_wru),
            ("ddb_rru", self.ddb_rru),
            ("gpu_seconds", self.gpu_seconds),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(CostError::Units(format!(
                    "{name} must be finite and >= 0, got {v}"
                )));
            }
        }
        if self.lambda_ms > 0 && self.memory_mb == 0 {
            return Err(CostError::Units(
                "lambda_ms without memory_mb cannot be priced".into(),
            ));
        }
        let wh = self.gpu_energy_wh(energy);
        Ok(vec![
            (
                meters::LAMBDA_GB_SECOND,
                self.lambda_ms as f64 / 1000.0 * self.memory_mb as f64 / 1024.0,
            ),
            (meters::LAMBDA_REQUEST, self.lambda_requests as f64),
            (meters::SFN_STATE_TRANSITION, self.state_transitions as f64),
            (meters::SQS_REQUEST, self.sqs_billed_requests() as f64),
            (meters::DDB_WRITE_UNIT, self.ddb_wru),
            (meters::DDB_READ_UNIT, self.ddb_rru),
            (meters::S3_PUT_REQUEST, self.s3_put as f64),
            (meters::S3_GET_REQUEST, self.s3_get as f64),
            (
                meters::S3_STORAGE_GB_MONTH,
                self.s3_bytes_stored as f64 / GIB * self.s3_storage_hours / HOURS_PER_MONTH,
            ),
            (meters::GPU_SECOND, self.gpu_seconds),
            (meters::GPU_ENERGY_WH, wh),
            (meters::CO2E_G, wh / 1000.0 * energy.grid_g_co2e_per_kwh),
        ])
    }
}

/// DynamoDB write units for writing an item of `bytes` (one per started KB).
pub fn ddb_write_units(bytes: usize) -> f64 {
    (bytes as u64).div_ceil(1024).max(1) as f64
}

/// The sum of the lines' USD.
pub fn total_usd(lines: &[CostLine]) -> f64 {
    lines.iter().map(|l| l.usd).sum()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Style,
    Tenant,
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(GroupBy::Day),
            "style" => Ok(GroupBy::Style),
            "tenant" => Ok(GroupBy::Tenant),
            other => Err(format!(
                "unknown group_by `{other}`: expected day, style or tenant"
            )),
        }
    }
}

/// Totals for one group (a day `YYYY-MM-DD` in UTC, a style, or a tenant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostGroup {
    pub key: String,
    pub previews: usize,
    pub lines: usize,
    pub usd: f64,
    /// GPU seconds the renders metered (busy).
    pub gpu_seconds: f64,
    /// Fleet GPU seconds billed but not rendering, spread over the previews
    /// ([`spread_fleet`]).
    #[serde(default)]
    pub gpu_idle_seconds: f64,
    pub gpu_energy_wh: f64,
    pub co2e_g: f64,
}

impl CostGroup {
    /// Idle fleet time's share of the group's GPU seconds (0 with none).
    pub fn gpu_idle_share(&self) -> f64 {
        let all = self.gpu_seconds + self.gpu_idle_seconds;
        if all > 0.0 {
            self.gpu_idle_seconds / all
        } else {
            0.0
        }
    }
}

/// Group lines. By style, a line attributed to several styles counts a share
/// `1/n` of its quantity and USD toward each; a line with no style goes to `-`.
pub fn group(lines: &[CostLine], by: GroupBy) -> Vec<CostGroup> {
    struct Acc {
        previews: BTreeSet<PreviewId>,
        lines: usize,
        usd: f64,
        gpu_seconds: f64,
        idle: f64,
        wh: f64,
        co2e: f64,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for line in lines {
        let shares: Vec<(String, f64)> = match by {
            GroupBy::Day => vec![(line.recorded_at.format("%Y-%m-%d").to_string(), 1.0)],
            GroupBy::Tenant => vec![(line.tenant.to_string(), 1.0)],
            GroupBy::Style if line.styles.is_empty() => vec![("-".into(), 1.0)],
            GroupBy::Style => {
                let share = 1.0 / line.styles.len() as f64;
                line.styles.iter().map(|s| (s.to_string(), share)).collect()
            }
        };
        for (key, share) in shares {
            let acc = groups.entry(key).or_insert_with(|| Acc {
                previews: BTreeSet::new(),
                lines: 0,
                usd: 0.0,
                gpu_seconds: 0.0,
                idle: 0.0,
                wh: 0.0,
                co2e: 0.0,
            });
            acc.previews.insert(line.preview_id.clone());
            acc.lines += 1;
            acc.usd += line.usd * share;
            match line.meter.as_str() {
                meters::GPU_SECOND => acc.gpu_seconds += line.quantity * share,
                meters::GPU_IDLE_SECOND => acc.idle += line.quantity * share,
                meters::GPU_ENERGY_WH => acc.wh += line.quantity * share,
                meters::CO2E_G => acc.co2e += line.quantity * share,
                _ => {}
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, a)| CostGroup {
            key,
            previews: a.previews.len(),
            lines: a.lines,
            usd: a.usd,
            gpu_seconds: a.gpu_seconds,
            gpu_idle_seconds: a.idle,
            gpu_energy_wh: a.wh,
            co2e_g: a.co2e,
        })
        .collect()
}

/// The stage name of the lines [`spread_fleet`] makes.
pub const FLEET_STAGE: &str = "fleet";

/// A period's fleet GPU time split into what the renders metered and what
/// was billed besides, and the lines that carry the latter.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSpread {
    /// One [`meters::GPU_IDLE_SECOND`] line per preview of the period.
    pub lines: Vec<CostLine>,
    pub busy_seconds: f64,
    pub idle_seconds: f64,
    /// Idle seconds with no preview to carry them (a warm fleet on a day
    /// without orders): reported, not dropped.
    pub unallocated_seconds: f64,
}

/// Spread a period's billed-but-not-rendering fleet seconds over its
/// previews. `lines` are the period's cost lines (earlier fleet lines are
/// ignored); busy = their `gpu_second` quantities; idle = `billed_gpu_seconds`
/// − busy, shared equally by the previews that have lines in the period,
/// each share priced as `gpu_second` and recorded `at`. So busy + idle equals
/// what the fleet billed, and a preview's lines add up to its real cost.
pub fn spread_fleet(
    table: &PriceTable,
    lines: &[CostLine],
    billed_gpu_seconds: f64,
    at: DateTime<Utc>,
) -> Result<FleetSpread, CostError> {
    if !billed_gpu_seconds.is_finite() || billed_gpu_seconds < 0.0 {
        return Err(CostError::Units(format!(
            "billed GPU seconds must be finite and >= 0, got {billed_gpu_seconds}"
        )));
    }
    let mut previews: BTreeMap<PreviewId, (TenantId, BTreeSet<StyleId>)> = BTreeMap::new();
    let mut busy = 0.0;
    for line in lines.iter().filter(|l| l.stage != FLEET_STAGE) {
        if line.meter == meters::GPU_SECOND {
            busy += line.quantity;
        }
        previews
            .entry(line.preview_id.clone())
            .or_insert_with(|| (line.tenant.clone(), BTreeSet::new()))
            .1
            .extend(line.styles.iter().cloned());
    }
    // Rounding of many small lines may put busy a hair above the bill.
    if busy > billed_gpu_seconds * (1.0 + 1e-9) + 1e-6 {
        return Err(CostError::Units(format!(
            "the renders metered {busy:.3} GPU seconds but the fleet billed only \
             {billed_gpu_seconds:.3}: the billed figure misses instances"
        )));
    }
    let idle = (billed_gpu_seconds - busy).max(0.0);
    let price = table
        .prices
        .get(meters::GPU_SECOND)
        .ok_or_else(|| CostError::MissingPrice {
            version: table.version.clone(),
            meter: meters::GPU_SECOND.into(),
        })?;
    if previews.is_empty() {
        return Ok(FleetSpread {
            lines: Vec::new(),
            busy_seconds: busy,
            idle_seconds: idle,
            unallocated_seconds: idle,
        });
    }
    let share = idle / previews.len() as f64;
    let lines = previews
        .into_iter()
        .map(|(preview_id, (tenant, styles))| CostLine {
            preview_id,
            tenant,
            stage: FLEET_STAGE.into(),
            seq: 0,
            meter: meters::GPU_IDLE_SECOND.into(),
            styles: styles.into_iter().collect(),
            quantity: share,
            unit: "GPU-second billed, not rendering (cold start, idle, cut short)".into(),
            unit_price_usd: price.usd,
            price_table_version: table.version.clone(),
            usd: share * price.usd,
            recorded_at: at,
        })
        .collect();
    Ok(FleetSpread {
        lines,
        busy_seconds: busy,
        idle_seconds: idle,
        unallocated_seconds: 0.0,
    })
}

/// The default reporting window when `from` is not given.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

/// A reporting range `[from, to)` from user input. Each bound is RFC 3339 or a
/// UTC date `YYYY-MM-DD`; a date as `to` includes that whole day. `to` defaults
/// to `now` (included), `from` to 30 days before `to`.
pub fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    fn bound(name: &str, value: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Ok(t.with_timezone(&Utc));
        }
        let day = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
            format!("{name} `{value}` is neither a date (YYYY-MM-DD) nor an RFC 3339 time")
        })?;
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    }
    let to = match to {
        Some(v) => bound("to", v, true)?,
        // Lines are stored to the millisecond: include the one that is happening now.
        None => now + chrono::Duration::milliseconds(1),
    };
    let from = match from {
        Some(v) => bound("from", v, false)?,
        None => to - chrono::Duration::days(DEFAULT_RANGE_DAYS),
    };
    if from >= to {
        return Err(format!("from ({from}) must be before to ({to})"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stage: &str, styles: &[&str]) -> StageRun {
        StageRun {
            preview_id: PreviewId::new(format!("pv_{}", "1".repeat(32))),
            tenant: TenantId::new("acme"),
            stage: stage.into(),
            seq: 0,
            styles: styles.iter().map(|s| StyleId::new(*s)).collect(),
            at: "2026-11-26T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_shipped_table_prices_every_meter_with_a_source() {
        let table = PriceTable::builtin();
        for meter in meters::ALL {
            assert!(!table.prices[meter].source.is_empty(), "{meter}");
        }
        assert_eq!(table.prices[meters::SFN_STATE_TRANSITION].usd, 0.000025);
    }

    #[test]
    fn units_become_billed_quantities() {
        let table = PriceTable::builtin();
        let units = StageUnits {
            lambda_ms: 800,
            memory_mb: 512,
            lambda_requests: 1,
            sqs_requests: 2,
            sqs_bytes: 200 * 1024,
            gpu_seconds: 20.0,
            s3_bytes_stored: 1024 * 1024 * 1024,
            s3_storage_hours: 730.0,
            ..Default::default()
        };
        let lines = table
            .price_stage(&run("analyze", &["oil"]), &units)
            .unwrap();
        let q = |m: &str| lines.iter().find(|l| l.meter == m).unwrap().quantity;
        assert!((q(meters::LAMBDA_GB_SECOND) - 0.4).abs() < 1e-12);
        // 200 KiB over two requests is four 64 KiB chunks.
        assert_eq!(q(meters::SQS_REQUEST), 4.0);
        assert!((q(meters::S3_STORAGE_GB_MONTH) - 1.0).abs() < 1e-12);
        assert!((q(meters::GPU_ENERGY_WH) - 0.4).abs() < 1e-12);
        assert!((q(meters::CO2E_G) - 0.4 / 1000.0 * 380.0).abs() < 1e-12);
        assert!(lines.iter().all(|l| l.price_table_version == table.version));
        assert!(
            !lines.iter().any(|l| l.meter == meters::DDB_READ_UNIT),
            "zero units make no line"
        );
        let gpu = lines
            .iter()
            .find(|l| l.meter == meters::GPU_SECOND)
            .unwrap();
        // g5.xlarge on demand in us-east-1, $1.006 an hour.
        assert!((gpu.usd - 20.0 * 1.006 / 3600.0).abs() < 1e-15);
    }

    #[test]
    fn lambda_durations_round_up_to_the_millisecond() {
        let mut units = StageUnits::lambda(std::time::Duration::from_micros(1_200_001), 1024);
        assert_eq!((units.lambda_ms, units.lambda_requests), (1201, 1));
        units.add_sqs_request(10);
        units.add_sqs_request(70 * 1024);
        assert_eq!(
            units.sqs_billed_requests(),
            3,
            "the 70 KiB message is two chunks"
        );
    }

    #[test]
    fn bad_units_and_tables_are_refused() {
        let table = PriceTable::builtin();
        let negative = StageUnits {
            gpu_seconds: -1.0,
            ..Default::default()
        };
        assert!(table.price_stage(&run("render", &[]), &negative).is_err());
        let no_memory = StageUnits {
            lambda_ms: 10,
            ..Default::default()
        };
        assert!(table.price_stage(&run("render", &[]), &no_memory).is_err());
        let mut without_gpu = PriceTable::builtin();
        without_gpu.prices.remove(meters::GPU_SECOND);
        assert!(matches!(
            PriceTable::from_toml(&toml::to_string(&without_gpu).unwrap()),
            Err(CostError::MissingPrice { .. })
        ));
        assert!(matches!(
            PriceTable::from_toml("version = "),
            Err(CostError::Parse(_))
        ));
    }

    #[test]
    fn glue_lines_split_evenly_across_styles() {
        let table = PriceTable::builtin();
        let units = StageUnits {
            state_transitions: 10,
            ..Default::default()
        };
        let mut lines = table
            .price_stage(&run("orchestrate", &["oil", "watercolor"]), &units)
            .unwrap();
        lines.extend(
            table
                .price_stage(
                    &run("render", &["oil"]),
                    &StageUnits {
                        gpu_seconds: 4.0,
                        ..Default::default()
                    },
                )
                .unwrap(),
        );
        let groups = group(&lines, GroupBy::Style);
        let usd = |k: &str| groups.iter().find(|g| g.key == k).unwrap().usd;
        let glue = 10.0 * 0.000025;
        assert!((usd("watercolor") - glue / 2.0).abs() < 1e-15);
        assert!((usd("oil") - (glue / 2.0 + 4.0 * 1.006 / 3600.0)).abs() < 1e-15);
        let sum: f64 = groups.iter().map(|g| g.usd).sum();
        assert!((sum - total_usd(&lines)).abs() < 1e-15);
        assert_eq!(group(&lines, GroupBy::Day)[0].key, "2026-11-26");
        assert_eq!("tenant".parse::<GroupBy>().unwrap(), GroupBy::Tenant);
        assert!("week".parse::<GroupBy>().is_err());
    }

    #[test]
    fn ranges_take_dates_or_times_and_include_the_last_day() {
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let (from, to) = parse_range(Some("2026-11-01"), Some("2026-11-25"), now).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-26T00:00:00+00:00");
        let (from, to) = parse_range(None, None, now).unwrap();
        assert_eq!((to - from).num_days(), 30);
        assert!(to > now);
        assert!(parse_range(Some("2026-11-26T11:00:00Z"), None, now).is_err());
        assert!(
            parse_range(Some("yesterday"), None, now)
                .unwrap_err()
                .contains("yesterday")
        );
    }

    #[test]
    fn idle_fleet_seconds_are_spread_over_the_periods_previews() {
        let table = PriceTable::builtin();
        let mut lines = Vec::new();
        for (n, (preview, style, gpu)) in
            [("1", "oil", 20.0), ("2", "ink", 30.0), ("2", "oil", 10.0)]
                .into_iter()
                .enumerate()
        {
            let mut r = run("render", &[style]);
            r.preview_id = PreviewId::new(format!("pv_{}", preview.repeat(32)));
            r.seq = n as u32;
            let units = StageUnits {
                gpu_seconds: gpu,
                ..Default::default()
            };
            lines.extend(table.price_stage(&r, &units).unwrap());
        }
        let at = "2026-11-26T23:59:59Z".parse().unwrap();
        let spread = spread_fleet(&table, &lines, 300.0, at).unwrap();
        assert_eq!(spread.busy_seconds, 60.0);
        assert_eq!(spread.idle_seconds, 240.0);
        assert_eq!(spread.lines.len(), 2, "one line per preview");
        assert!(spread.lines.iter().all(|l| l.quantity == 120.0));
        let two = &spread.lines[1];
        assert_eq!(two.styles, vec![StyleId::new("ink"), StyleId::new("oil")]);
        // Busy and idle lines together price exactly what the fleet billed.
        let all: Vec<CostLine> = lines.iter().chain(&spread.lines).cloned().collect();
        let gpu_usd: f64 = all
            .iter()
            .filter(|l| {
                matches!(
                    l.meter.as_str(),
                    meters::GPU_SECOND | meters::GPU_IDLE_SECOND
                )
            })
            .map(|l| l.usd)
            .sum();
        assert!((gpu_usd - 300.0 * table.prices[meters::GPU_SECOND].usd).abs() < 1e-12);
        let day = &group(&all, GroupBy::Day)[0];
        assert_eq!((day.gpu_seconds, day.gpu_idle_seconds), (60.0, 240.0));
        assert_eq!(day.gpu_idle_share(), 0.8);
        // Spreading again over lines that include the fleet lines changes nothing.
        assert_eq!(spread_fleet(&table, &all, 300.0, at).unwrap(), spread);
        // A bill below what the renders metered is refused; no previews leaves it unallocated.
        assert!(spread_fleet(&table, &lines, 59.0, at).is_err());
        let empty = spread_fleet(&table, &[], 50.0, at).unwrap();
        assert_eq!((empty.lines.len(), empty.unallocated_seconds), (0, 50.0));
    }
}
