//! The dark-blotch check sees what a person rejects: the watercolor engine
//! once quantised a dark suit into washes whose darkest band broke up into
//! near-black islands on the jacket and by the hands. That render of obama.jpg
//! (seed 1, kept as tests/fixtures/renders/obama-watercolor-blotched.jpg) fails
//! with `dark_blotches`; today's watercolor (pigment density instead of
//! quantised ink) and the other clean media pass.

mod common;

use common::{judge, photo, render};
use likeness_core::SubjectKind;
use likeness_judge::ArtifactCode;

fn blotched(report: &likeness_judge::CandidateReport) -> bool {
    report
        .artifacts
        .iter()
        .any(|a| a.code == ArtifactCode::DarkBlotches)
}

#[test]
fn the_old_blotched_watercolor_fails_and_clean_renders_pass() {
    let obama = photo("obama.jpg");
    let path = format!(
        "{}/../../tests/fixtures/renders/obama-watercolor-blotched.jpg",
        env!("CARGO_MANIFEST_DIR")
    );
    let old = image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8();
    let report = judge(&obama, SubjectKind::Person, &old, "watercolor");
    assert!(blotched(&report), "{report:#?}");
    assert!(!report.passed);

    for (style, seed) in [
        ("watercolor", 1),
        ("watercolor", 2),
        ("oil", 1),
        ("pencil", 1),
        ("pastel", 1),
    ] {
        let clean = render(&obama, style, seed);
        let report = judge(&obama, SubjectKind::Person, &clean, style);
        assert!(
            !blotched(&report),
            "{style} seed {seed}: {}",
            report.measurements.dark_blotches
        );
    }
}

#[test]
fn the_photo_itself_has_no_blotches() {
    for (name, subject) in [
        ("obama.jpg", SubjectKind::Person),
        ("biden.jpg", SubjectKind::Person),
        ("chelsea.png", SubjectKind::Pet),
    ] {
        let p = photo(name);
        let report = judge(&p, subject, &p, "oil");
        assert_eq!(report.measurements.dark_blotches, 0.0, "{name}");
    }
}
