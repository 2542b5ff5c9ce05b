//! `likeness costs`: cost totals from the embedded ledger, grouped by day,
//! style or tenant, as a table, CSV or JSON (columns in docs/COSTS.md).

use anyhow::{Context, bail};
use likeness_core::cost::{self, CostGroup, GroupBy};
use likeness_embedded::SqliteCosts;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct CostsArgs {
    /// Start (inclusive): YYYY-MM-DD (UTC) or RFC 3339. Default: 30 days before --to.
    #[arg(long)]
    from: Option<String>,
    /// End: YYYY-MM-DD includes that whole day; RFC 3339 is exclusive. Default: now.
    #[arg(long)]
    to: Option<String>,
    #[arg(long, default_value = "day", value_parser = parse_group_by)]
    group_by: GroupBy,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Spread a day's fleet GPU time over that day's previews before
    /// reporting: the instance-seconds the render fleet billed on --fleet-day
    /// (Cost Explorer, `likeness:component` = `render`), less what the renders
    /// metered, becomes one `gpu_idle_second` line per preview (docs/COSTS.md).
    #[arg(long, requires = "fleet_day")]
    fleet_billed_gpu_seconds: Option<f64>,
    /// The UTC day (YYYY-MM-DD) --fleet-billed-gpu-seconds covers.
    #[arg(long, requires = "fleet_billed_gpu_seconds")]
    fleet_day: Option<chrono::NaiveDate>,
    /// The embedded stack's data directory.
    #[arg(long, env = "LIKENESS_DATA_DIR", default_value = "likeness-data")]
    data_dir: PathBuf,
}

fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    s.parse()
}

/// The SQLite file holding records, cost lines and webhook deliveries.
pub fn database(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("likeness.sqlite");
    if !path.is_file() {
        bail!(
            "no likeness data at {}: pass --data-dir (or LIKENESS_DATA_DIR) pointing at the stack's data directory",
            path.display()
        );
    }
    Ok(path)
}

pub const CSV_COLUMNS: [&str; 10] = [
    "group_by",
    "key",
    "previews",
    "lines",
    "usd",
    "gpu_seconds",
    "gpu_energy_wh",
    "co2e_g",
    "gpu_idle_seconds",
    "gpu_idle_share",
];

/// Records the fleet lines of `day` (idempotent per preview: a day is spread once).
async fn spread_fleet_day(
    ledger: &SqliteCosts,
    day: chrono::NaiveDate,
    billed: f64,
) -> anyhow::Result<()> {
    use likeness_core::ledger::CostLedger;
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = start + chrono::Duration::days(1);
    let prices = cost::PriceTable::deployed(|k| std::env::var(k).ok())
        .context("choosing the price table line (LIKENESS_PRICE_REGION, LIKENESS_GPU_*)")?;
    let lines = ledger.lines_between(start, end).await?;
    // Dated inside the day, and not after now, so today's report includes them.
    let at = (end - chrono::Duration::seconds(1)).min(chrono::Utc::now());
    let spread = cost::spread_fleet(&prices, &lines, billed, at)
        .with_context(|| format!("spreading the fleet's {billed} GPU seconds of {day}"))?;
    for line in &spread.lines {
        ledger.record(std::slice::from_ref(line)).await?;
    }
    eprintln!(
        "{day}: fleet billed {billed:.0} GPU s = {:.0} rendering + {:.0} idle, spread over {} previews{}",
        spread.busy_seconds,
        spread.idle_seconds,
        spread.lines.len(),
        if spread.unallocated_seconds > 0.0 {
            format!(
                " ({:.0} s with no preview to carry them)",
                spread.unallocated_seconds
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

pub async fn run(args: CostsArgs) -> anyhow::Result<()> {
    let ledger =
        SqliteCosts::open(&database(&args.data_dir)?).context("opening the cost ledger")?;
    if let (Some(billed), Some(day)) = (args.fleet_billed_gpu_seconds, args.fleet_day) {
        spread_fleet_day(&ledger, day, billed).await?;
    }
    // After the spread: a default `to` (now) includes the lines it dated now.
    let (from, to) =
        cost::parse_range(args.from.as_deref(), args.to.as_deref(), chrono::Utc::now())
            .map_err(anyhow::Error::msg)?;
    let lines = likeness_core::ledger::CostLedger::lines_between(&ledger, from, to).await?;
    let groups = cost::group(&lines, args.group_by);
    let by = serde_json::to_value(args.group_by)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let total = cost::total_usd(&lines);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "from": from, "to": to, "group_by": by, "currency": "USD",
                "total_usd": total, "groups": groups,
            }))?
        ),
        Format::Csv => print!("{}", csv(&by, &groups)),
        Format::Table => print!("{}", table(&by, &groups, total)),
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn csv(by: &str, groups: &[CostGroup]) -> String {
    let mut out = CSV_COLUMNS.join(",") + "\n";
    for g in groups {
        out += &format!(
            "{},{},{},{},{:.10},{:.3},{:.6},{:.6},{:.3},{:.4}\n",
            by,
            csv_field(&g.key),
            g.previews,
            g.lines,
            g.usd,
            g.gpu_seconds,
            g.gpu_energy_wh,
            g.co2e_g,
            g.gpu_idle_seconds,
            g.gpu_idle_share()
        );
    }
    out
}

fn table(by: &str, groups: &[CostGroup], total: f64) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>6} {:>14} {:>10} {:>10} {:>7} {:>10} {:>10}\n",
        by, "previews", "lines", "usd", "gpu_busy_s", "gpu_idle_s", "idle_%", "gpu_wh", "co2e_g"
    );
    for g in groups {
        out += &format!(
            "{:<24} {:>8} {:>6} {:>14.8} {:>10.2} {:>10.2} {:>7.1} {:>10.4} {:>10.4}\n",
            g.key,
            g.previews,
            g.lines,
            g.usd,
            g.gpu_seconds,
            g.gpu_idle_seconds,
            100.0 * g.gpu_idle_share(),
            g.gpu_energy_wh,
            g.co2e_g
        );
    }
    out += &format!("{:<24} {:>8} {:>6} {:>14.8}\n", "total", "", "", total);
    out
}
