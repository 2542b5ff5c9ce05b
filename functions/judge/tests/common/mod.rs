#![allow(dead_code)] // each test file uses its own subset

use image::RgbImage;
use likeness_core::{Catalogue, StyleId, SubjectKind};
use likeness_judge::{CandidateReport, Reference, StyleQa, judge_candidate};
use likeness_render::{ClassicEngine, Engine, FaceHint, IdentityHints, RenderRequest};
use likeness_vision::decode::{DecodeLimits, decode};
use likeness_vision::faces::detect_faces;

/// Renders in tests are this size: large enough for the face detector to find
/// faces in every style, small enough for a debug build.
pub const SIZE: u32 = 768;

pub fn photo(name: &str) -> RgbImage {
    let path = format!(
        "{}/../../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    decode(&bytes, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .image
}

pub fn qa(style: &str) -> StyleQa {
    let catalogue = Catalogue::builtin();
    StyleQa::for_style(catalogue.get(&StyleId::new(style)).expect("style")).expect("qa")
}

pub fn render(photo: &RgbImage, style: &str, seed: u64) -> RgbImage {
    let catalogue = Catalogue::builtin();
    let style = catalogue.get(&StyleId::new(style)).expect("style").clone();
    let mut request = RenderRequest::new(photo.clone(), style, seed);
    request.long_side = SIZE;
    request.identity = IdentityHints {
        faces: detect_faces(photo)
            .into_iter()
            .map(|f| FaceHint {
                rect: f.rect,
                landmarks: None,
            })
            .collect(),
        subject: None,
    };
    ClassicEngine::new(catalogue)
        .render(&request)
        .expect("classic render")
        .remove(0)
        .image
}

pub fn judge(
    reference: &RgbImage,
    subject: SubjectKind,
    candidate: &RgbImage,
    style: &str,
) -> CandidateReport {
    let reference = Reference::build(reference, subject, None, None).expect("reference");
    judge_candidate(&reference, candidate, &qa(style), None).expect("judge")
}
