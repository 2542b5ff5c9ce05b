//! `likeness analyze PHOTO`: the quality gate on one file, as text or JSON.

use anyhow::Context;
use clap::{Args, ValueEnum};
use likeness_core::SubjectKind;
use likeness_vision::{Analysis, AnalysisConfig, AnalyzeError, Severity, analyze};
use std::path::PathBuf;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// The photo to analyse (its type is read from its bytes, not its name).
    photo: PathBuf,
    /// What the photo is meant to show.
    #[arg(long, value_enum, default_value_t = Subject::Person)]
    subject: Subject,
    /// Print the full analysis as JSON.
    #[arg(long)]
    json: bool,
    /// Thresholds as TOML (any subset of the fields documented in docs/ANALYSIS.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Subject {
    Person,
    Couple,
    Pet,
}

impl From<Subject> for SubjectKind {
    fn from(s: Subject) -> Self {
        match s {
            Subject::Person => SubjectKind::Person,
            Subject::Couple => SubjectKind::Couple,
            Subject::Pet => SubjectKind::Pet,
        }
    }
}

/// Runs the analysis; every verdict, a refused file included, is a successful run.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    println!("{}", report(&args)?);
    Ok(())
}

/// The printed report; errors only for unreadable files or configuration.
fn report(args: &AnalyzeArgs) -> anyhow::Result<String> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            AnalysisConfig::from_toml(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => AnalysisConfig::default(),
    };
    let bytes =
        std::fs::read(&args.photo).with_context(|| format!("reading {}", args.photo.display()))?;
    let result = analyze(&bytes, args.subject.into(), &config);
    let out = match (&result, args.json) {
        (Ok(a), true) => serde_json::to_string_pretty(a)?,
        (Err(e), true) => serde_json::to_string_pretty(&refusal_json(e))?,
        (Ok(a), false) => text(a),
        (Err(e), false) => {
            let r = e.reason();
            format!(
                "verdict: reject\n  {} (reject): {}\n  detail: {e}",
                r.code, r.message
            )
        }
    };
    Ok(out)
}

/// The same shape as an analysis, for files that could not be decoded.
fn refusal_json(error: &AnalyzeError) -> serde_json::Value {
    let reason = error.reason();
    serde_json::json!({
        "verdict": "reject",
        "reasons": [{"code": reason.code, "message": reason.message, "severity": Severity::Reject}],
        "detail": error.to_string(),
        "metrics": null,
        "subjects": null,
        "framing": null,
    })
}

fn text(a: &Analysis) -> String {
    let verdict = serde_json::to_value(a.verdict).unwrap_or_default();
    let mut lines = vec![format!("verdict: {}", verdict.as_str().unwrap_or("?"))];
    for r in &a.reasons {
        let severity = match r.severity {
            Severity::Reject => "reject",
            Severity::Warning => "warning",
        };
        lines.push(format!("  {} ({severity}): {}", r.code, r.message));
    }
    let m = &a.metrics;
    lines.push(format!(
        "size {}x{} ({:?}), faces {}, framing {}",
        m.width,
        m.height,
        a.format,
        a.subjects.face_count,
        a.framing
            .map(|f| serde_json::to_value(f)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
                .to_owned())
            .unwrap_or_else(|| "-".into())
    ));
    lines.push(format!(
        "sharpness {:.0}, motion {:.2}, luminance {:.2}, contrast {:.2}, noise {:.1}",
        m.sharpness, m.motion_blur, m.exposure.mean_luminance, m.exposure.contrast, m.noise
    ));
    if let Some(b) = a.subjects.subject_box {
        lines.push(format!(
            "subject box x {:.0} y {:.0} w {:.0} h {:.0} (of {}x{})",
            b.x, b.y, b.width, b.height, a.normalized_width, a.normalized_height
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AnalyzeArgs,
    }

    fn photo(name: &str) -> String {
        format!(
            "{}/../../tests/fixtures/photos/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn report_for(argv: &[&str]) -> anyhow::Result<String> {
        let cli = Cli::try_parse_from(std::iter::once("analyze").chain(argv.iter().copied()))?;
        report(&cli.args)
    }

    #[test]
    fn json_report_of_an_accepted_photo() {
        let out = report_for(&[&photo("obama.jpg"), "--json"]).unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["verdict"], "accept");
        assert_eq!(json["framing"], "half_body");
        assert!(json["metrics"]["sharpness"].is_number());
    }

    #[test]
    fn a_refused_file_is_a_report_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("photo.jpg");
        std::fs::write(&fake, b"<!DOCTYPE html><html></html>").unwrap();
        let out = report_for(&[fake.to_str().unwrap(), "--json"]).unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["verdict"], "reject");
        assert_eq!(json["reasons"][0]["code"], "unsupported_format");
        let text = report_for(&[&photo("chelsea.png"), "--subject", "person"]).unwrap();
        assert!(
            text.starts_with("verdict: reject") && text.contains("no_face"),
            "{text}"
        );
    }

    #[test]
    fn usage_errors_are_errors() {
        assert!(report_for(&["/no/such/photo.jpg"]).is_err());
        assert!(report_for(&[&photo("obama.jpg"), "--subject", "dog"]).is_err());
    }
}
