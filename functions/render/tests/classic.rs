//! The classic engine on a real portrait: determinism, seeded variation, each
//! style's statistical signature, and the face surviving stylization.

use image::RgbImage;
use likeness_core::{Catalogue, Style, StyleId};
use likeness_render::signature::mean_abs_diff;
use likeness_render::{
    ClassicEngine, Engine, FaceHint, IdentityHints, RenderError, RenderRequest, Signature, measure,
};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Different seeds must differ by at least this mean absolute difference per
/// channel (0..255): crop, palette, stroke scale and texture all move.
const MIN_SEED_DIFFERENCE: f32 = 4.0;

fn photo(name: &str) -> RgbImage {
    let path = format!(
        "{}/../../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8()
}

fn obama() -> &'static (RgbImage, IdentityHints) {
    static P: OnceLock<(RgbImage, IdentityHints)> = OnceLock::new();
    P.get_or_init(|| {
        let img = photo("obama.jpg");
        let faces = likeness_vision::faces::detect_faces(&img)
            .into_iter()
            .map(|f| FaceHint {
                rect: f.rect,
                landmarks: None,
            })
            .collect();
        (
            img,
            IdentityHints {
                faces,
                subject: None,
            },
        )
    })
}

fn style(id: &str) -> Style {
    Catalogue::builtin()
        .get(&StyleId::new(id))
        .unwrap_or_else(|| panic!("no style {id}"))
        .clone()
}

fn render(id: &str, seed: u64, long_side: u32) -> RgbImage {
    let (img, hints) = obama();
    let mut req = RenderRequest::new(img.clone(), style(id), seed);
    req.identity = hints.clone();
    req.long_side = long_side;
    let mut out = ClassicEngine::default().render(&req).expect("render");
    assert_eq!(out.len(), 1);
    out.remove(0).image
}

/// Every style rendered once at 512 px, shared by the signature and face tests.
fn renders_512() -> &'static HashMap<String, RgbImage> {
    static R: OnceLock<HashMap<String, RgbImage>> = OnceLock::new();
    R.get_or_init(|| {
        use rayon::prelude::*;
        // Initialise the shared photo before fanning out: a rayon worker blocked
        // on its OnceLock while another test's init waits for rayon deadlocks.
        let _ = obama();
        Catalogue::builtin()
            .styles
            .par_iter()
            .map(|s| (s.id.to_string(), render(s.id.as_str(), 7, 512)))
            .collect()
    })
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    for s in Catalogue::builtin().styles {
        let id = s.id.as_str();
        let a = render(id, 11, 256);
        let b = render(id, 11, 256);
        assert_eq!(a.as_raw(), b.as_raw(), "{id}: same seed, different bytes");
        let c = render(id, 12, 256);
        let d = mean_abs_diff(&a, &c);
        assert!(
            d > MIN_SEED_DIFFERENCE,
            "{id}: seeds 11 and 12 differ by only {d:.2}"
        );
    }
}

#[test]
fn every_style_shows_its_signature() {
    let (img, _) = obama();
    let mut failures = Vec::new();
    for s in Catalogue::builtin().styles {
        let sig = Signature::from_qa(&s.qa).unwrap_or_else(|e| panic!("{}: {e}", s.id));
        if s.hybrid.is_none() {
            assert_ne!(sig, Signature::default(), "{} declares no signature", s.id);
        }
        let m = measure(img, &renders_512()[s.id.as_str()]);
        let misses = sig.misses(&m);
        if !misses.is_empty() {
            failures.push(format!("{}: {misses:?} ({m:?})", s.id));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_signatures_tell_the_media_apart() {
    // A signature that any render passes checks nothing: the photo itself, and
    // at least one other medium, must fail each plain style's signature.
    let (img, _) = obama();
    let plain: Vec<Style> = Catalogue::builtin()
        .styles
        .into_iter()
        .filter(|s| s.hybrid.is_none())
        .collect();
    let resized = image::imageops::resize(img, 410, 512, image::imageops::FilterType::Triangle);
    for s in &plain {
        let sig = Signature::from_qa(&s.qa).unwrap();
        let on_photo = sig.misses(&measure(img, &resized));
        assert!(
            !on_photo.is_empty(),
            "{}: the photo passes its signature",
            s.id
        );
        let others_failing = plain
            .iter()
            .filter(|o| o.id != s.id)
            .filter(|o| {
                !sig.misses(&measure(img, &renders_512()[o.id.as_str()]))
                    .is_empty()
            })
            .count();
        assert!(
            others_failing >= 1,
            "{}: every other medium passes its signature",
            s.id
        );
    }
}

#[test]
fn the_face_is_still_found_in_every_style_but_line_art() {
    let mut lost = Vec::new();
    for s in Catalogue::builtin().styles {
        let must =
            s.qa.get("face_must_be_detected")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
        if s.id.as_str() == "line_art" {
            assert!(
                !must,
                "line_art is the one style allowed to lose the detector"
            );
            continue;
        }
        assert!(must, "{} should promise a detectable face", s.id);
        let faces = likeness_vision::faces::detect_faces(&renders_512()[s.id.as_str()]);
        if faces.is_empty() {
            lost.push(s.id.to_string());
        }
    }
    assert!(lost.is_empty(), "no face detected in {lost:?}");
}

#[test]
fn variations_are_the_seeded_single_renders() {
    let (img, hints) = obama();
    let mut req = RenderRequest::new(img.clone(), style("pencil"), 40);
    req.identity = hints.clone();
    req.long_side = 192;
    req.variations = 3;
    let engine: Box<dyn Engine> = Box::new(ClassicEngine::default());
    let out = engine.render(&req).unwrap();
    assert_eq!(out.iter().map(|c| c.seed).collect::<Vec<_>>(), [40, 41, 42]);
    assert!(out.iter().all(|c| c.engine == "classic"));
    assert_eq!(out[1].image.width().max(out[1].image.height()), 192);
    let alone = render("pencil", 41, 192);
    assert_eq!(out[1].image.as_raw(), alone.as_raw());
}

#[test]
fn the_hybrid_face_comes_from_the_face_style() {
    let (img, hints) = obama();
    let face = hints.faces[0].rect;
    let long = 384u32;
    let hybrid = render("watercolor_oil", 3, long);
    let body = render("watercolor", 3, long);
    let face_style = render("oil", 3, long);
    // Same seed: same crop. Compare a patch at the middle of the face, located
    // through the seeded crop by matching against the oil render itself.
    let s = long as f32 / img.width().max(img.height()) as f32;
    let (cx, cy) = (face.center().x * s, face.center().y * s);
    let patch = |im: &RgbImage| -> Vec<u8> {
        let mut v = Vec::new();
        for y in (cy as u32).saturating_sub(8)..(cy as u32 + 8).min(im.height()) {
            for x in (cx as u32).saturating_sub(8)..(cx as u32 + 8).min(im.width()) {
                v.extend_from_slice(&im.get_pixel(x, y).0);
            }
        }
        v
    };
    let diff = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .sum::<i32>()
    };
    let (h, b, f) = (patch(&hybrid), patch(&body), patch(&face_style));
    assert!(
        diff(&h, &f) < diff(&h, &b),
        "face patch should follow the oil render"
    );
    // And the corners follow the body style.
    let corner = |im: &RgbImage| im.get_pixel(2, 2).0;
    assert_eq!(corner(&hybrid), corner(&body));
}

#[test]
fn bad_requests_get_specific_errors() {
    let (img, _) = obama();
    let engine = ClassicEngine::default();
    let mut req = RenderRequest::new(img.clone(), style("oil"), 1);
    req.variations = 0;
    assert!(
        matches!(engine.render(&req), Err(RenderError::BadRequest(m)) if m.contains("variations"))
    );
    req.variations = 1;
    req.strength = 1.5;
    assert!(
        matches!(engine.render(&req), Err(RenderError::BadRequest(m)) if m.contains("strength"))
    );
    let mut tiny = RenderRequest::new(RgbImage::new(4, 4), style("oil"), 1);
    tiny.long_side = 128;
    assert!(matches!(
        engine.render(&tiny),
        Err(RenderError::BadRequest(_))
    ));
    let mut broken = style("oil");
    broken
        .classic
        .insert("radius".into(), toml::Value::String("big".into()));
    let req = RenderRequest::new(img.clone(), broken, 1);
    assert!(matches!(
        engine.render(&req),
        Err(RenderError::Style { .. })
    ));
}

#[test]
fn renders_without_any_identity_hints() {
    let (img, _) = obama();
    let mut req = RenderRequest::new(img.clone(), style("watercolor"), 5);
    req.long_side = 160;
    let out = ClassicEngine::default().render(&req).unwrap();
    assert_eq!(out[0].image.height(), 160);
}

/// Share of the dark parts of `image` (9x9 box mean under 0.5 luma) where a
/// pixel is more than 0.2 lighter than that mean: light paper sparkling
/// through a dark area.
fn speckle_in_darks(image: &RgbImage) -> f32 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let luma: Vec<f32> = image
        .pixels()
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
        .collect();
    // Summed-area table for the box means.
    let mut sum = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            sum[(y + 1) * (w + 1) + x + 1] =
                luma[y * w + x] as f64 + sum[y * (w + 1) + x + 1] + sum[(y + 1) * (w + 1) + x]
                    - sum[y * (w + 1) + x];
        }
    }
    let (mut dark, mut speckle) = (0usize, 0usize);
    for y in 4..h.saturating_sub(4) {
        for x in 4..w.saturating_sub(4) {
            let (x0, y0, x1, y1) = (x - 4, y - 4, x + 5, y + 5);
            let total = sum[y1 * (w + 1) + x1] - sum[y0 * (w + 1) + x1] - sum[y1 * (w + 1) + x0]
                + sum[y0 * (w + 1) + x0];
            let mean = (total / 81.0) as f32;
            if mean < 0.5 {
                dark += 1;
                if luma[y * w + x] > mean + 0.2 {
                    speckle += 1;
                }
            }
        }
    }
    speckle as f32 / dark.max(1) as f32
}

#[test]
fn pastel_builds_up_dark_clothes_instead_of_letting_the_paper_sparkle_through() {
    // The previous pastel left 3.2 % of obama.jpg's darks (his suit) as light
    // specks of paper in this render; a person sees a sparkling jacket. Now
    // the darks are rubbed in densely and this test measures under 0.4 %.
    let pastel = render("pastel", 1, 768);
    let share = speckle_in_darks(&pastel);
    assert!(
        share < 0.004,
        "{:.2} % of the darks are paper specks",
        100.0 * share
    );
}
