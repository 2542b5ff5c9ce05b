//! Each artifact is caught with its own stable code.

mod common;

use common::{judge, photo, render};
use image::{Rgb, RgbImage, imageops};
use likeness_core::{StyleId, SubjectKind};
use likeness_judge::{ArtifactCode, DecisionInput, JudgedCandidate, RenderParams, decide};

fn codes(report: &likeness_judge::CandidateReport) -> Vec<ArtifactCode> {
    report.artifacts.iter().map(|a| a.code).collect()
}

#[test]
fn a_blank_and_a_half_black_render_are_caught() {
    let obama = photo("obama.jpg");
    let blank = RgbImage::from_pixel(768, 1024, Rgb([236, 232, 225]));
    let report = judge(&obama, SubjectKind::Person, &blank, "watercolor");
    assert!(codes(&report).contains(&ArtifactCode::Blank), "{report:#?}");
    assert!(!report.passed);

    let mut half = render(&obama, "pencil", 1);
    let (w, h) = half.dimensions();
    for y in h / 2..h {
        for x in 0..w {
            half.put_pixel(x, y, Rgb([0, 0, 0]));
        }
    }
    let report = judge(&obama, SubjectKind::Person, &half, "pencil");
    assert!(
        codes(&report).contains(&ArtifactCode::BlackTiles),
        "{report:#?}"
    );
    assert!(!codes(&report).contains(&ArtifactCode::Blank));
    assert!(!report.passed);
    assert_eq!(report.overall, 0.0);
}

#[test]
fn two_faces_in_a_person_order_are_extra_faces() {
    let obama = photo("obama.jpg");
    let one = render(&obama, "pencil", 2);
    let mut two = RgbImage::new(one.width() * 2, one.height());
    imageops::replace(&mut two, &one, 0, 0);
    imageops::replace(
        &mut two,
        &imageops::flip_horizontal(&one),
        one.width() as i64,
        0,
    );
    let report = judge(&obama, SubjectKind::Person, &two, "pencil");
    assert_eq!(report.measurements.faces_found, 2, "{report:#?}");
    assert!(
        codes(&report).contains(&ArtifactCode::ExtraFaces),
        "{report:#?}"
    );
    assert!(!report.passed);
    // The single render is fine: the code is about the count, not the picture.
    let single = judge(&obama, SubjectKind::Person, &one, "pencil");
    assert!(
        !codes(&single).contains(&ArtifactCode::ExtraFaces),
        "{single:#?}"
    );
}

#[test]
fn two_identical_variations_are_near_duplicates_and_only_one_is_delivered() {
    let obama = photo("obama.jpg");
    let a = render(&obama, "oil", 4);
    let report = judge(&obama, SubjectKind::Person, &a, "oil");
    assert!(report.passed, "{report:#?}");
    let qa = common::qa("oil");
    let candidate = |key: &str, seed| JudgedCandidate {
        key: key.into(),
        seed,
        attempt: 1,
        report: report.clone(),
    };
    let out = decide(DecisionInput {
        style: StyleId::new("oil"),
        attempt: 1,
        qa,
        params: RenderParams {
            engine: "classic".into(),
            seed: 4,
            strength: None,
            identity_scale: None,
        },
        candidates: vec![candidate("work/pv/a.png", 4), candidate("work/pv/b.png", 5)],
        earlier: vec![],
    });
    let dup: Vec<_> = out
        .judged
        .iter()
        .filter(|c| {
            c.report
                .artifacts
                .iter()
                .any(|x| x.code == ArtifactCode::NearDuplicate)
        })
        .collect();
    assert_eq!(dup.len(), 1, "{out:#?}");
    assert_eq!(out.selected.len(), 1, "{out:#?}");
    assert_ne!(out.selected[0].key, dup[0].key);
    assert_eq!(out.rejected, vec![dup[0].key.clone()]);
}
