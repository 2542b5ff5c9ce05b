//! Calibration table for docs/QA.md: the fixture photos rendered in every style
//! with the classic engine, each judged against its own photo and a mismatched
//! one, people by the dlib identity model (`likeness models fetch` puts it in
//! the cache). The renders get the hints the pipeline gives them: face boxes
//! with their landmarks for people, the salient region for pets.
//! (`-` for every photo; OUT_DIR keeps the renders as PNG, to look at, and a
//! contact sheet per photo, `<photo>-sheet.png`, and what the dark-blotch
//! check flags in each, `<photo>-<style>-blotches.png`; `-` for none; SEED defaults
//! to 7; STYLES, a comma-separated list of style ids, judges only those).
//! `cargo run --release -p likeness-judge --example calibrate [SIZE [PHOTO [OUT_DIR [SEED [STYLES]]]]]`

use image::RgbImage;
use likeness_core::{Catalogue, SubjectKind};
use likeness_judge::{FaceModel, Reference, StyleQa, judge_candidate};
use likeness_render::{
    ClassicEngine, Engine, FaceHint, IdentityHints, RenderRequest, add_landmarks,
};
use likeness_vision::decode::{DecodeLimits, decode};
use likeness_vision::faces::detect_faces;

fn load(name: &str) -> RgbImage {
    let path = format!(
        "{}/../../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    decode(&bytes, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .image
}

fn main() {
    let size: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let models = likeness_identity::FaceModels::load().unwrap_or_else(|e| {
        panic!(
            "identity models unavailable ({e}): run `{}`",
            likeness_identity::models::FETCH_COMMAND
        )
    });
    let model: &dyn FaceModel = &models;
    let catalogue = Catalogue::builtin();
    let engine = ClassicEngine::new(catalogue.clone());
    // (photo rendered, subject, reference photo it is judged against)
    let pairs = [
        ("obama.jpg", SubjectKind::Person, "obama.jpg"),
        ("obama2.jpg", SubjectKind::Person, "obama2.jpg"),
        ("astronaut.png", SubjectKind::Person, "astronaut.png"),
        ("biden.jpg", SubjectKind::Person, "biden.jpg"),
        ("biden.jpg", SubjectKind::Person, "obama.jpg"),
        ("chelsea.png", SubjectKind::Pet, "chelsea.png"),
        ("chelsea.png", SubjectKind::Pet, "coffee.png"),
    ];
    println!(
        "| render | against | style | likeness | colour | composition | style | artifacts | passed | method | identity d | structure SSIM | ΔE2000 | blotches ‰ | signature misses |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let only = std::env::args().nth(2).filter(|o| o != "-");
    let out_dir = std::env::args()
        .nth(3)
        .filter(|o| o != "-")
        .map(std::path::PathBuf::from);
    let seed: u64 = std::env::args()
        .nth(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let styles: Option<Vec<String>> = std::env::args()
        .nth(5)
        .map(|s| s.split(',').map(str::to_owned).collect());
    for (photo_name, subject, ref_name) in pairs {
        if only.as_deref().is_some_and(|o| o != photo_name) {
            continue;
        }
        let photo = load(photo_name);
        let reference_photo = load(ref_name);
        let reference =
            Reference::build(&reference_photo, subject, None, Some(model)).expect("reference");
        let mut hints = IdentityHints::default();
        if subject == SubjectKind::Pet {
            let gray = image::imageops::grayscale(&photo);
            hints.subject = likeness_vision::saliency::salient_box(&gray).map(|(b, _)| b);
        } else {
            hints.faces = detect_faces(&photo)
                .into_iter()
                .map(|f| FaceHint {
                    rect: f.rect,
                    landmarks: None,
                })
                .collect();
            add_landmarks(&mut hints, &photo, &models);
        }
        let mut tiles = vec![("photo".to_owned(), photo.clone())];
        for style in catalogue.styles.iter() {
            if styles
                .as_ref()
                .is_some_and(|only| !only.iter().any(|s| s == style.id.as_str()))
            {
                continue;
            }
            let qa = StyleQa::for_style(style).expect("qa");
            let mut request = RenderRequest::new(photo.clone(), style.clone(), seed);
            request.long_side = size;
            request.identity = hints.clone();
            let candidate = engine.render(&request).expect("render").remove(0);
            if let Some(dir) = &out_dir {
                std::fs::create_dir_all(dir).expect("output folder");
                let name = format!(
                    "{}-{}.png",
                    photo_name.split('.').next().unwrap_or(photo_name),
                    style.id
                );
                candidate.image.save(dir.join(&name)).expect("write render");
                // What the dark-blotch check flags, at its analysis size.
                if let Some(mask) = likeness_judge::blotches::blotch_mask(&photo, &candidate.image)
                {
                    mask.save(dir.join(name.replace(".png", "-blotches.png")))
                        .expect("write blotch mask");
                }
                tiles.push((style.id.to_string(), candidate.image.clone()));
            }
            let r = judge_candidate(&reference, &candidate.image, &qa, Some(model)).expect("judge");
            let m = &r.measurements;
            let f = |v: Option<f32>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
            println!(
                "| {photo_name} | {ref_name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                style.id,
                r.scores.likeness,
                r.scores.colour,
                r.scores.composition,
                r.scores.style,
                r.artifacts
                    .iter()
                    .map(|a| a.code.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                if r.passed { "yes" } else { "no" },
                format!("{:?}", m.likeness_method).to_lowercase(),
                f(m.identity_distance),
                f(m.structure_ssim),
                f(m.palette_delta_e),
                1000.0 * m.dark_blotches,
                m.style_misses.join("; "),
            );
        }
        if let Some(dir) = &out_dir {
            let stem = photo_name.split('.').next().unwrap_or(photo_name);
            likeness_render::sheet::contact_sheet(&tiles, 192, 4)
                .save(dir.join(format!("{stem}-sheet.png")))
                .expect("write contact sheet");
        }
    }
}
