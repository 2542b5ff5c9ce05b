//! Print the analysis of each photo given: `cargo run -p likeness-vision --example inspect -- PHOTO [person|couple|pet]`.
use likeness_core::SubjectKind;
use likeness_vision::{AnalysisConfig, analyze};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subject = match args.last().map(String::as_str) {
        Some("pet") => SubjectKind::Pet,
        Some("couple") => SubjectKind::Couple,
        _ => SubjectKind::Person,
    };
    for path in args
        .iter()
        .filter(|a| !["person", "couple", "pet"].contains(&a.as_str()))
    {
        let bytes = std::fs::read(path).expect("readable file");
        let started = std::time::Instant::now();
        match analyze(&bytes, subject, &AnalysisConfig::default()) {
            Ok(a) => println!(
                "{path} ({:?}): {}",
                started.elapsed(),
                serde_json::to_string(&a).expect("serialisable")
            ),
            Err(e) => println!("{path}: error {} ({e})", e.code()),
        }
    }
}
