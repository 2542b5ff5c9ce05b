//! Likeness survives the classic engine: for obama.jpg, the dlib identity
//! embedding of the face in a full-size render stays within the same-person
//! distance (0.6) of the photo's, in the styles a portrait service promises to
//! keep recognisable. Needs the identity models (`likeness models fetch`); a
//! missing model fails with that command, never a skip.

use image::RgbImage;
use likeness_core::{Catalogue, StyleId};
use likeness_identity::FaceModels;
use likeness_render::{
    ClassicEngine, Engine, FaceHint, IdentityHints, RenderRequest, add_landmarks,
};
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
    let mut hints = IdentityHints {
        faces: vec![FaceHint {
            rect: face,
            landmarks: None,
        }],
        subject: None,
    };
    // As the render worker does: landmarks from the same models put the face
    // mask on the face.
    add_landmarks(&mut hints, &obama, &models);
    let points = hints.faces[0]
        .landmarks
        .expect("landmarks for obama's face");
    let m = face.width * 0.1;
    for p in points {
        let inside = (face.x - m..=face.right() + m).contains(&p.x)
            && (face.y - m..=face.bottom() + m).contains(&p.y);
        assert!(inside, "landmark {p:?} outside the face box {face:?}");
    }
    let eye_line = (points[0].y + points[1].y + points[2].y + points[3].y) / 4.0;
    assert!(
        points[4].y > eye_line,
        "the nose is below the eyes: {points:?}"
    );
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
