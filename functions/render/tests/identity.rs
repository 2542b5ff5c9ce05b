//! Likeness survives the classic engine: for obama.jpg, the dlib identity
//! embedding of the face in a full-size render stays within the same-person
//! distance (0.6) of the photo's, in the styles a portrait service promises to
//! keep recognisable. Needs the identity models (`likeness models fetch`); a
//! missing model fails with that command, never a skip.

use image::RgbImage;
use likeness_core::{Catalogue, StyleId};
use likeness_identity::FaceModels;
use likeness_render::{ClassicEngine, Engine, FaceHint, IdentityHints, RenderRequest};
use likeness_vision::faces::detect_faces;

const SAME_PERSON: f32 = 0.6;

fn photo(name: &str) -> RgbImage {
    let path = format!(
        "{}/../../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8()
}

fn largest_face(image: &RgbImage) -> Option<likeness_core::Rect> {
    detect_faces(image)
        .into_iter()
        .map(|f| f.rect)
        .max_by(|a, b| (a.width * a.height).total_cmp(&(b.width * b.height)))
}

fn embedding(models: &FaceModels, image: &RgbImage, face: likeness_core::Rect) -> Vec<f32> {
    models
        .describe(image, &[face])
        .expect("describe")
        .remove(0)
        .embedding
}

#[test]
fn the_rendered_face_is_still_the_same_person() {
    let models = FaceModels::load().unwrap_or_else(|e| {
        panic!(
            "identity models unavailable ({e}): run `{}`",
            likeness_identity::models::FETCH_COMMAND
        )
    });
    let obama = photo("obama.jpg");
    let face = largest_face(&obama).expect("a face in obama.jpg");
    let reference = embedding(&models, &obama, face);
    let hints = IdentityHints {
        faces: vec![FaceHint {
            rect: face,
            landmarks: None,
        }],
        subject: None,
    };
    let engine = ClassicEngine::default();
    let mut report = Vec::new();
    let mut failed = false;
    for id in ["watercolor", "oil", "pencil", "pastel"] {
        let style = Catalogue::builtin()
            .get(&StyleId::new(id))
            .expect("style")
            .clone();
        for seed in [1, 2] {
            let mut request = RenderRequest::new(obama.clone(), style.clone(), seed);
            request.identity = hints.clone();
            let render = engine.render(&request).expect("render").remove(0).image;
            let Some(drawn) = largest_face(&render) else {
                report.push(format!("{id} seed {seed}: no face detected"));
                failed = true;
                continue;
            };
            let distance = reference
                .iter()
                .zip(embedding(&models, &render, drawn))
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt();
            failed |= distance > SAME_PERSON;
            report.push(format!("{id} seed {seed}: {distance:.3}"));
        }
    }
    eprintln!("{report:#?}");
    assert!(
        !failed,
        "identity distance above {SAME_PERSON}: {report:#?}"
    );
}
