//! `likeness judge`: score one candidate against its reference photo in a style.

use anyhow::Context;
use likeness_core::{Catalogue, StyleId, SubjectKind};
use likeness_judge::{Reference, StyleQa, judge_candidate};
use likeness_vision::decode::{DecodeLimits, decode};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SubjectArg {
    Person,
    Couple,
    Pet,
}

#[derive(clap::Args)]
pub struct JudgeArgs {
    /// The customer's photo the candidate was made from.
    #[arg(long)]
    pub reference: PathBuf,
    /// The rendered candidate to judge.
    #[arg(long)]
    pub candidate: PathBuf,
    /// Style id from `likeness styles`.
    #[arg(long)]
    pub style: String,
    #[arg(long, value_enum, default_value = "person")]
    pub subject: SubjectArg,
    /// Print the full report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn load(path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let decoded = decode(&bytes, &DecodeLimits::default())
        .with_context(|| format!("{} cannot be decoded", path.display()))?;
    Ok(decoded.image)
}

/// Exit status 0 whether the candidate passes or not; errors only for unusable input.
pub fn run(args: JudgeArgs) -> anyhow::Result<()> {
    let catalogue = Catalogue::builtin();
    let style = catalogue.get(&StyleId::new(&args.style)).with_context(|| {
        let ids: Vec<_> = catalogue.ids().map(|s| s.to_string()).collect();
        format!("unknown style `{}`; known: {}", args.style, ids.join(", "))
    })?;
    let qa = StyleQa::for_style(style)?;
    let subject = match args.subject {
        SubjectArg::Person => SubjectKind::Person,
        SubjectArg::Couple => SubjectKind::Couple,
        SubjectArg::Pet => SubjectKind::Pet,
    };
    // People are judged by identity distance when the models are there (`likeness models fetch`).
    let model = likeness::identity::face_model();
    let model = model.as_deref();
    let reference = Reference::build(&load(&args.reference)?, subject, None, model)?;
    let report = judge_candidate(&reference, &load(&args.candidate)?, &qa, model)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let s = report.scores;
    println!("{}", if report.passed { "PASS" } else { "FAIL" });
    println!(
        "likeness     {:.3}  ({:?})",
        s.likeness, report.measurements.likeness_method
    );
    println!("colour       {:.3}", s.colour);
    println!("composition  {:.3}", s.composition);
    println!("style        {:.3}", s.style);
    println!("artifacts    {:.3}", s.artifacts);
    println!("overall      {:.3}", report.overall);
    if !report.below.is_empty() {
        println!("below threshold: {}", report.below.join(", "));
    }
    for a in &report.artifacts {
        println!(
            "artifact {}: measured {:.4}, limit {:.4}",
            a.code.as_str(),
            a.measured,
            a.limit
        );
    }
    for miss in &report.measurements.style_misses {
        println!("style miss: {miss}");
    }
    println!(
        "measurements: {}",
        serde_json::to_string(&report.measurements)?
    );
    Ok(())
}
