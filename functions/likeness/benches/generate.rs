//! Orchestration overhead of `likeness generate`: obama.jpg, three styles, four
//! variations each, through the whole embedded pipeline (API order, presigned
//! upload, upload event, analysis, the state machine, the render worker, judge,
//! finalize, notify) in the release binary.
//!
//! Baseline, same run: the compute the stages recorded in the cost ledger
//! (analysis, render and judge time as billed, finalize's encoding too). The
//! overhead is the wall time of the run minus that compute: queue hops, the
//! runner, SQLite writes, the API and upload, polling. Styles run one at a time
//! (`--max-concurrency 1`) so no compute overlaps and the subtraction is exact.
//!
//! With `--baseline BIN` (another build of `likeness`, e.g. the previous
//! release) both binaries run alternately in the same session and the medians
//! of both, with their ratio, are reported: the machine's load then weighs on
//! both alike.
//!
//! `cargo bench -p likeness --bench generate [-- --runs N] [--baseline BIN]`

use likeness_core::PreviewId;
use likeness_core::cost::{CostLine, meters};
use likeness_core::ledger::CostLedger;
use likeness_core::metering::Function;
use likeness_embedded::SqliteCosts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const PHOTO: &str = "tests/fixtures/photos/obama.jpg";
const STYLES: &str = "watercolor,oil,pencil";
const VARIATIONS: u32 = 4;
/// Lambda memory of each metered stage, to turn GB-seconds back into seconds.
const LAMBDA_MEMORY_MB: [(&str, f64); 3] = [
    ("analyze", Function::Analyze.memory_mb() as f64),
    ("judge", Function::Judge.memory_mb() as f64),
    ("finalize", Function::Finalize.memory_mb() as f64),
];

struct Run {
    total_s: f64,
    pipeline_s: f64,
    compute_s: BTreeMap<&'static str, f64>,
    previews: usize,
    status: String,
}

fn compute_seconds(lines: &[CostLine]) -> BTreeMap<&'static str, f64> {
    let mut seconds: BTreeMap<&'static str, f64> = BTreeMap::new();
    for line in lines {
        if line.stage == "render" && line.meter == meters::GPU_SECOND {
            *seconds.entry("render").or_default() += line.quantity;
        }
        for (stage, memory_mb) in LAMBDA_MEMORY_MB {
            if line.stage == stage && line.meter == meters::LAMBDA_GB_SECOND {
                *seconds.entry(stage).or_default() += line.quantity / (memory_mb / 1024.0);
            }
        }
    }
    seconds
}

fn run_once(binary: &str, root: &Path) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(binary)
        .current_dir(root)
        .args(["generate", PHOTO, "--json", "--max-concurrency", "1"])
        .args(["--styles", STYLES, "--variations", &VARIATIONS.to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout)?;
    let id = PreviewId::new(summary["id"].as_str().unwrap_or_default());
    let costs = SqliteCosts::open(&dir.path().join("likeness.sqlite"))?;
    let lines = tokio::runtime::Runtime::new()?.block_on(costs.lines_for(&id))?;
    let previews = summary["styles"]
        .as_array()
        .map(|styles| {
            styles
                .iter()
                .map(|s| s["previews"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    Ok(Run {
        total_s: summary["seconds"].as_f64().unwrap_or(f64::NAN),
        pipeline_s: summary["pipeline_seconds"].as_f64().unwrap_or(f64::NAN),
        compute_s: compute_seconds(&lines),
        previews,
        status: summary["status"].as_str().unwrap_or_default().to_owned(),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Medians over a binary's runs: total wall time and compute per stage.
#[derive(Default)]
struct Series {
    totals: Vec<f64>,
    overheads: Vec<f64>,
    stages: BTreeMap<&'static str, Vec<f64>>,
}

impl Series {
    fn add(&mut self, run: &Run, ordered: f64) {
        let compute: f64 = run.compute_s.values().sum();
        self.totals.push(run.total_s);
        self.overheads
            .push((run.total_s - compute) * 1000.0 / ordered);
        for (stage, s) in &run.compute_s {
            self.stages.entry(stage).or_default().push(*s);
        }
    }

    fn stage(&self, name: &str) -> f64 {
        self.stages.get(name).cloned().map_or(0.0, median)
    }

    fn summary(&self) -> String {
        let total = median(self.totals.clone());
        let judge = self.stage("judge");
        format!(
            "median total {total:.3} s (judge {judge:.3} s = {:.0}% of it, render {:.3} s, finalize {:.3} s, analyze {:.3} s), median overhead {:.1} ms per preview",
            100.0 * judge / total,
            self.stage("render"),
            self.stage("finalize"),
            self.stage("analyze"),
            median(self.overheads.clone()),
        )
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = env!("CARGO_BIN_EXE_likeness");
    // Model download and first-touch costs stay out of the measured runs.
    run_once(binary, &root)?;
    if let Some(base) = &baseline {
        run_once(base, &root)?;
    }

    let ordered = STYLES.split(',').count() as f64 * f64::from(VARIATIONS);
    let mut current = Series::default();
    let mut base = Series::default();
    for n in 1..=runs {
        let mut contenders = vec![("this build", binary)];
        if let Some(b) = &baseline {
            contenders.push(("baseline", b.as_str()));
        }
        for (label, bin) in contenders {
            let run = run_once(bin, &root)?;
            let compute: f64 = run.compute_s.values().sum();
            let overhead = run.total_s - compute;
            println!(
                "run {n} ({label}): {} previews={} total={:.3}s pipeline={:.3}s compute={:.3}s {:?} overhead={:.3}s ({:.1} ms/preview; {:.1} ms/preview after the upload)",
                run.status,
                run.previews,
                run.total_s,
                run.pipeline_s,
                compute,
                run.compute_s
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.3}"))
                    .collect::<Vec<_>>(),
                overhead,
                overhead * 1000.0 / ordered,
                (run.pipeline_s - compute) * 1000.0 / ordered
            );
            if label == "baseline" {
                base.add(&run, ordered);
            } else {
                current.add(&run, ordered);
            }
        }
    }
    println!(
        "generate obama.jpg, {STYLES} x {VARIATIONS}, {runs} runs: {} (overhead target <= 100)",
        current.summary()
    );
    if baseline.is_some() {
        println!("baseline, same session: {}", base.summary());
        let ratio = |f: &dyn Fn(&Series) -> f64| f(&current) / f(&base).max(1e-9);
        println!(
            "this build / baseline: total {:.2}, judge {:.2}, render {:.2}, finalize {:.2}",
            ratio(&|s| median(s.totals.clone())),
            ratio(&|s| s.stage("judge")),
            ratio(&|s| s.stage("render")),
            ratio(&|s| s.stage("finalize")),
        );
    }
    Ok(())
}
