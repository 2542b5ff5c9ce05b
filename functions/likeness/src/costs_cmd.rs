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

pub const CSV_COLUMNS: [&str; 8] = [
    "group_by",
    "key",
    "previews",
    "lines",
    "usd",
    "gpu_seconds",
    "gpu_energy_wh",
    "co2e_g",
];

pub async fn run(args: CostsArgs) -> anyhow::Result<()> {
    let (from, to) =
        cost::parse_range(args.from.as_deref(), args.to.as_deref(), chrono::Utc::now())
            .map_err(anyhow::Error::msg)?;
    let ledger =
        SqliteCosts::open(&database(&args.data_dir)?).context("opening the cost ledger")?;
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
            "{},{},{},{},{:.10},{:.3},{:.6},{:.6}\n",
            by,
            csv_field(&g.key),
            g.previews,
            g.lines,
            g.usd,
            g.gpu_seconds,
            g.gpu_energy_wh,
            g.co2e_g
        );
    }
    out
}

fn table(by: &str, groups: &[CostGroup], total: f64) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>6} {:>14} {:>10} {:>10} {:>10}\n",
        by, "previews", "lines", "usd", "gpu_s", "gpu_wh", "co2e_g"
    );
    for g in groups {
        out += &format!(
            "{:<24} {:>8} {:>6} {:>14.8} {:>10.2} {:>10.4} {:>10.4}\n",
            g.key, g.previews, g.lines, g.usd, g.gpu_seconds, g.gpu_energy_wh, g.co2e_g
        );
    }
    out += &format!("{:<24} {:>8} {:>6} {:>14.8}\n", "total", "", "", total);
    out
}
