//! Likeness on real photos rendered by the classic engine.

mod common;

use common::{judge, photo, render};
use likeness_core::SubjectKind;

#[test]
fn a_render_of_biden_fails_likeness_against_obamas_reference() {
    let obama = photo("obama.jpg");
    let biden_render = render(&photo("biden.jpg"), "pencil", 3);
    let report = judge(&obama, SubjectKind::Person, &biden_render, "pencil");
    assert!(!report.passed, "{report:#?}");
    assert!(report.below.contains(&"likeness".to_owned()), "{report:#?}");
    assert!(report.scores.likeness < 0.5, "{report:#?}");
}

#[test]
fn a_render_of_obama_passes_in_the_styles_the_classic_engine_preserves() {
    let obama = photo("obama.jpg");
    let style = "oil";
    let candidate = render(&obama, style, 3);
    let report = judge(&obama, SubjectKind::Person, &candidate, style);
    assert!(report.passed, "{style}: {report:#?}");
    assert!(report.scores.likeness >= 0.5, "{style}: {report:#?}");
}

#[test]
fn a_render_of_chelsea_passes_against_chelsea_and_fails_against_the_coffee_cup() {
    let chelsea = photo("chelsea.png");
    let candidate = render(&chelsea, "oil", 5);
    let own = judge(&chelsea, SubjectKind::Pet, &candidate, "oil");
    assert!(own.passed, "{own:#?}");
    let coffee = judge(
        &photo("coffee.png"),
        SubjectKind::Pet,
        &candidate,
        "pop_art",
    );
    assert!(!coffee.passed, "{coffee:#?}");
    assert!(coffee.below.contains(&"likeness".to_owned()), "{coffee:#?}");
    assert!(own.scores.likeness > coffee.scores.likeness);
}
