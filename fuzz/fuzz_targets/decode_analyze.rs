//! Any bytes through decode and the whole analysis: must return, never panic,
//! and stay within the decode limits' memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use likeness_core::SubjectKind;
use likeness_vision::{AnalysisConfig, DecodeLimits, analyze};
use std::sync::OnceLock;

fn config() -> &'static AnalysisConfig {
    static CONFIG: OnceLock<AnalysisConfig> = OnceLock::new();
    CONFIG.get_or_init(|| AnalysisConfig {
        // Smaller than production so each execution stays fast; the limit
        // checks themselves are the same code.
        decode: DecodeLimits {
            max_megapixels: 4.0,
            max_alloc_bytes: 256 * 1024 * 1024,
            ..DecodeLimits::default()
        },
        ..AnalysisConfig::default()
    })
}

fuzz_target!(|data: &[u8]| {
    // The last byte picks the declared subject, so all three paths are explored.
    let subject = match data.last().map(|b| b % 3) {
        Some(1) => SubjectKind::Couple,
        Some(2) => SubjectKind::Pet,
        _ => SubjectKind::Person,
    };
    if let Ok(analysis) = analyze(data, subject, config()) {
        let (w, h) = analysis.normalized.dimensions();
        assert!(w.max(h) <= config().decode.working_long_side);
        assert!(w > 0 && h > 0);
        assert!(analysis.metrics.sharpness.is_finite());
        assert!((0.0..=1.0).contains(&analysis.metrics.exposure.mean_luminance));
    }
});
