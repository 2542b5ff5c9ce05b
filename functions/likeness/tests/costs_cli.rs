//! `likeness costs` over a ledger written the way the pipeline writes it.

use likeness_core::cost::{PriceTable, StageUnits, total_usd};
use likeness_core::ledger::{CostLedger, MeteredPreview, StageMeter};
use likeness_core::ports::SystemClock;
use likeness_core::{PreviewId, StyleId, TenantId};
use likeness_embedded::SqliteCosts;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Two previews as two `generate` runs would meter them, one style each.
async fn two_runs(dir: &std::path::Path) -> f64 {
    let ledger = Arc::new(SqliteCosts::open(&dir.join("likeness.sqlite")).unwrap());
    let meter = StageMeter::new(
        ledger.clone(),
        Arc::new(PriceTable::builtin()),
        Arc::new(SystemClock),
    );
    let mut total = 0.0;
    for (n, style, tenant) in [('1', "watercolor", "acme"), ('2', "oil", "globex")] {
        let style = StyleId::new(style);
        let preview = MeteredPreview {
            id: PreviewId::new(format!("pv_{}", n.to_string().repeat(32))),
            tenant: TenantId::new(tenant),
            styles: vec![style.clone()],
        };
        let analyze = StageUnits {
            lambda_ms: 900,
            memory_mb: 1024,
            lambda_requests: 1,
            sqs_requests: 3,
            ddb_wru: 2.0,
            ..Default::default()
        };
        meter
            .record_stage(&preview, "analyze", 0, None, &analyze)
            .await
            .unwrap();
        let render = StageUnits {
            gpu_seconds: 18.0,
            s3_put: 3,
            s3_get: 1,
            ..Default::default()
        };
        meter
            .record_stage(&preview, "render", 0, Some(&style), &render)
            .await
            .unwrap();
        total += total_usd(&ledger.lines_for(&preview.id).await.unwrap());
    }
    total
}

fn likeness(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_likeness"))
        .args(args)
        .env_remove("LIKENESS_DATA_DIR")
        .output()
        .unwrap()
}

#[tokio::test]
async fn group_by_style_csv_loads_in_pythons_csv_module_with_both_styles() {
    let dir = tempfile::tempdir().unwrap();
    let total = two_runs(dir.path()).await;
    let data_dir = dir.path().to_str().unwrap();
    let out = likeness(&[
        "costs",
        "--group-by",
        "style",
        "--format",
        "csv",
        "--data-dir",
        data_dir,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = r#"
import csv, sys
rows = list(csv.DictReader(sys.stdin))
expected = ["group_by", "key", "previews", "lines", "usd", "gpu_seconds", "gpu_energy_wh", "co2e_g", "gpu_idle_seconds", "gpu_idle_share"]
assert list(rows[0].keys()) == expected, list(rows[0].keys())
assert sorted(r["key"] for r in rows) == ["oil", "watercolor"], rows
assert all(r["group_by"] == "style" and int(r["previews"]) == 1 for r in rows), rows
print(sum(float(r["usd"]) for r in rows))
"#;
    let mut python = Command::new("python3")
        .args(["-c", check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH");
    use std::io::Write;
    python.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let result = python.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let csv_total: f64 = String::from_utf8_lossy(&result.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        (csv_total - total).abs() < 1e-9,
        "csv {csv_total} vs ledger {total}"
    );

    let table = likeness(&["costs", "--group-by", "tenant", "--data-dir", data_dir]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("acme") && text.contains("globex") && text.contains("total"),
        "{text}"
    );

    let json = likeness(&["costs", "--format", "json", "--data-dir", data_dir]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!((value["total_usd"].as_f64().unwrap() - total).abs() < 1e-12);
}

#[test]
fn missing_data_and_bad_arguments_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = likeness(&["costs", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no likeness data"));
    let out = likeness(&["costs", "--group-by", "week"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected day, style or tenant"));
    let out = likeness(&[
        "webhooks",
        "replay",
        "pv_nope",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_days_billed_fleet_time_is_spread_over_its_previews_once() {
    let dir = tempfile::tempdir().unwrap();
    let total = two_runs(dir.path()).await;
    let data_dir = dir.path().to_str().unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let spread = |billed: &str| {
        let out = likeness(&[
            "costs",
            "--fleet-day",
            &today,
            "--fleet-billed-gpu-seconds",
            billed,
            "--format",
            "json",
            "--data-dir",
            data_dir,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // The two renders metered 36 GPU seconds; the fleet billed 100.
    let report = spread("100");
    let day = &report["groups"][0];
    assert_eq!(day["gpu_seconds"], 36.0);
    assert!(
        (day["gpu_idle_seconds"].as_f64().unwrap() - 64.0).abs() < 1e-9,
        "{day}"
    );
    let gpu_usd = PriceTable::builtin().prices["gpu_second"].usd;
    let with_idle = report["total_usd"].as_f64().unwrap();
    assert!(
        (with_idle - (total + 64.0 * gpu_usd)).abs() < 1e-9,
        "{with_idle} vs {total}"
    );
    // A second run for the same day adds nothing.
    assert_eq!(spread("100")["total_usd"].as_f64().unwrap(), with_idle);
    // A bill below what the renders metered is refused, naming both figures.
    let out = likeness(&[
        "costs",
        "--fleet-day",
        &today,
        "--fleet-billed-gpu-seconds",
        "10",
        "--data-dir",
        data_dir,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("36.000") && err.contains("10.000"), "{err}");
}
