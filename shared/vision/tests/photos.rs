//! The quality gate on the project's real photos and on degradations made from them.

mod common;

use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, imageops};
use likeness_core::{RejectionCode, SubjectKind};
use likeness_vision::{Analysis, AnalysisConfig, Framing, Severity, Verdict, analyze};

fn run(bytes: &[u8], subject: SubjectKind) -> Analysis {
    analyze(bytes, subject, &AnalysisConfig::default()).expect("the photo decodes")
}

fn codes(a: &Analysis, severity: Severity) -> Vec<RejectionCode> {
    a.reasons
        .iter()
        .filter(|r| r.severity == severity)
        .map(|r| r.code)
        .collect()
}

fn assert_accepted(name: &str, a: &Analysis) {
    assert_eq!(a.verdict, Verdict::Accept, "{name}: {:?}", a.reasons);
    assert_eq!(a.subjects.face_count, 1, "{name}");
}

#[test]
fn portraits_are_accepted_with_one_face() {
    for name in ["obama.jpg", "obama2.jpg", "astronaut.png", "32bit.png"] {
        let a = run(&photo_bytes(name), SubjectKind::Person);
        assert_accepted(name, &a);
        assert_eq!(a.framing, Some(Framing::HalfBody), "{name}");
        // The face is in the upper half of the frame, where a portrait puts it.
        let face = a.subjects.faces[0].rect;
        assert!(
            face.center().y < a.normalized_height as f32 / 2.0,
            "{name}: {face:?}"
        );
    }
}

#[test]
fn rgba_png_is_flattened_and_matches_its_jpeg_twin() {
    let a = run(&photo_bytes("32bit.png"), SubjectKind::Person);
    let b = run(&photo_bytes("obama2.jpg"), SubjectKind::Person);
    assert_eq!((a.metrics.width, a.metrics.height), (626, 1200));
    let diff = (a.metrics.exposure.mean_luminance - b.metrics.exposure.mean_luminance).abs();
    assert!(diff < 0.02, "{diff}");
}

#[test]
fn full_length_photos_are_full_body() {
    for name in ["obama3.jpg", "biden.jpg"] {
        let a = run(&photo_bytes(name), SubjectKind::Person);
        assert_eq!(a.framing, Some(Framing::FullBody), "{name}");
        assert_ne!(a.verdict, Verdict::Reject, "{name}: {:?}", a.reasons);
        // Both are taller than 2048 px: the working copy is bounded, the metrics keep the original size.
        assert_eq!(a.normalized_height, 2048, "{name}");
        assert!(a.metrics.height > 2048, "{name}");
    }
}

#[test]
fn a_face_cut_by_the_edge_is_face_cut_off() {
    let a = run(&photo_bytes("obama_partial_face.jpg"), SubjectKind::Person);
    assert_eq!(a.verdict, Verdict::Reject);
    assert_eq!(codes(&a, Severity::Reject), vec![RejectionCode::FaceCutOff]);
    let face = a.subjects.faces[0].rect;
    // The face is cut by the left edge of this photo.
    assert!(face.x < 0.0, "{face:?}");
}

#[test]
fn the_cat_is_a_pet_but_not_a_person() {
    let bytes = photo_bytes("chelsea.png");
    let pet = run(&bytes, SubjectKind::Pet);
    assert_eq!(pet.verdict, Verdict::Accept, "{:?}", pet.reasons);
    let b = pet.subjects.subject_box.expect("a subject box");
    // The cat's head fills the middle of the frame; its eyes are at about (115, 80) and (210, 90).
    let c = b.center();
    assert!(
        (100.0..350.0).contains(&c.x) && (50.0..250.0).contains(&c.y),
        "{b:?}"
    );
    assert!(b.area() > 0.02 * 451.0 * 300.0, "{b:?}");
    let person = run(&bytes, SubjectKind::Person);
    assert_eq!(
        codes(&person, Severity::Reject),
        vec![RejectionCode::NoFace]
    );
}

#[test]
fn a_cup_of_coffee_has_no_face() {
    let a = run(&photo_bytes("coffee.png"), SubjectKind::Person);
    assert_eq!(a.verdict, Verdict::Reject);
    assert_eq!(codes(&a, Severity::Reject), vec![RejectionCode::NoFace]);
}

#[test]
fn one_face_is_too_few_for_a_couple() {
    let a = run(&photo_bytes("obama.jpg"), SubjectKind::Couple);
    assert_eq!(
        codes(&a, Severity::Reject),
        vec![RejectionCode::TooFewFaces]
    );
}

#[test]
fn two_people_are_a_couple_and_too_many_for_one_person() {
    let left = photo("obama.jpg");
    let right = imageops::resize(
        &photo("astronaut.png"),
        1137,
        1137,
        imageops::FilterType::Triangle,
    );
    let mut canvas = RgbImage::from_pixel(
        left.width() + right.width(),
        left.height(),
        Rgb([90, 90, 90]),
    );
    imageops::overlay(&mut canvas, &left, 0, 0);
    imageops::overlay(&mut canvas, &right, left.width() as i64, 0);
    let bytes = png(&canvas);
    let couple = run(&bytes, SubjectKind::Couple);
    assert_eq!(couple.subjects.face_count, 2, "{:?}", couple.subjects.faces);
    assert!(
        codes(&couple, Severity::Reject).is_empty(),
        "{:?}",
        couple.reasons
    );
    let person = run(&bytes, SubjectKind::Person);
    assert!(codes(&person, Severity::Reject).contains(&RejectionCode::TooManyFaces));
}

#[test]
fn gaussian_blur_is_blurry() {
    let blurred = imageops::blur(&photo("obama.jpg"), 4.0);
    let a = run(&png(&blurred), SubjectKind::Person);
    assert_eq!(
        a.verdict,
        Verdict::Reject,
        "{:?} {:?}",
        a.reasons,
        a.metrics
    );
    assert!(
        codes(&a, Severity::Reject).contains(&RejectionCode::Blurry),
        "{:?}",
        a.reasons
    );
}

#[test]
fn darkened_photo_is_too_dark() {
    let mut dark = photo("obama.jpg");
    dark.pixels_mut()
        .for_each(|p| p.0 = p.0.map(|v| (v as f32 * 0.2) as u8));
    let a = run(&png(&dark), SubjectKind::Person);
    assert!(
        codes(&a, Severity::Reject).contains(&RejectionCode::TooDark),
        "{:?} {:?}",
        a.reasons,
        a.metrics
    );
}

#[test]
fn brightened_photo_is_overexposed() {
    let mut bright = photo("obama.jpg");
    bright
        .pixels_mut()
        .for_each(|p| p.0 = p.0.map(|v| (v as f32 * 3.5 + 60.0).min(255.0) as u8));
    let a = run(&png(&bright), SubjectKind::Person);
    assert!(
        codes(&a, Severity::Reject).contains(&RejectionCode::Overexposed),
        "{:?} {:?}",
        a.reasons,
        a.metrics
    );
}

#[test]
fn a_thumbnail_is_low_resolution() {
    let original = photo("obama.jpg");
    let thumb = imageops::resize(&original, 240, 300, imageops::FilterType::Lanczos3);
    let a = run(&png(&thumb), SubjectKind::Person);
    assert_eq!(a.metrics.resolution, 240);
    assert!(
        codes(&a, Severity::Reject).contains(&RejectionCode::LowResolution),
        "{:?}",
        a.reasons
    );
}

/// Average along rows over `len` pixels: a camera panning sideways during the exposure.
fn horizontal_smear(image: &RgbImage, len: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let lo = x.saturating_sub(len / 2);
        let hi = (x + len / 2).min(w - 1);
        let mut s = [0u32; 3];
        for xx in lo..=hi {
            let p = image.get_pixel(xx, y);
            for c in 0..3 {
                s[c] += p[c] as u32;
            }
        }
        let n = hi - lo + 1;
        Rgb(s.map(|v| (v / n) as u8))
    })
}

#[test]
fn motion_blur_is_detected() {
    let smeared = horizontal_smear(&photo("obama.jpg"), 31);
    let a = run(&png(&smeared), SubjectKind::Person);
    let rejected = codes(&a, Severity::Reject);
    assert!(
        rejected.contains(&RejectionCode::MotionBlur) || rejected.contains(&RejectionCode::Blurry),
        "{:?} {:?}",
        a.reasons,
        a.metrics
    );
    assert!(
        a.metrics.motion_blur
            > run(&photo_bytes("obama.jpg"), SubjectKind::Person)
                .metrics
                .motion_blur
                * 3.0
    );
}

#[test]
fn exif_rotated_jpeg_is_turned_upright() {
    let upright = photo("obama.jpg");
    // Stored turned a quarter left; orientation 6 tells viewers to turn it right.
    let stored = imageops::rotate270(&upright);
    let bytes = with_exif_orientation(&jpeg(&stored, 92), 6);
    // Without applying orientation the face lies on its side and is missed.
    assert!(
        likeness_vision::detect_faces(&image::load_from_memory(&bytes).unwrap().to_rgb8())
            .is_empty()
    );
    let a = run(&bytes, SubjectKind::Person);
    assert_eq!(a.exif_orientation, 6);
    assert_eq!((a.metrics.width, a.metrics.height), (910, 1137));
    assert_eq!(a.normalized.dimensions(), (910, 1137));
    assert_eq!(a.subjects.face_count, 1, "{:?}", a.reasons);
    assert_eq!(a.verdict, Verdict::Accept, "{:?}", a.reasons);
}

#[test]
fn large_jpeg_is_normalized_without_metadata() {
    let big = imageops::resize(
        &photo("obama.jpg"),
        3640,
        4548,
        imageops::FilterType::Triangle,
    );
    let bytes = with_exif_orientation(&jpeg(&big, 85), 1);
    let a = run(&bytes, SubjectKind::Person);
    assert_eq!((a.metrics.width, a.metrics.height), (3640, 4548));
    assert!(a.normalized.width().max(a.normalized.height()) <= 2048);
    assert_eq!(a.verdict, Verdict::Accept, "{:?}", a.reasons);
    // Re-encoding the working copy carries no EXIF: it is pixels only.
    let out = encode(
        &DynamicImage::ImageRgb8(a.normalized.clone()),
        ImageFormat::Jpeg,
    );
    assert!(!out.windows(6).any(|w| w == b"Exif\0\0"));
}

#[test]
fn analysis_serialises_to_the_documented_json() {
    let a = run(&photo_bytes("obama.jpg"), SubjectKind::Person);
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["verdict"], "accept");
    assert!(json["reasons"].as_array().unwrap().is_empty());
    assert_eq!(json["framing"], "half_body");
    assert!(json["metrics"]["sharpness"].as_f64().unwrap() > 0.0);
    assert!(json["metrics"]["mean_luminance"].is_number());
    assert_eq!(json["subjects"]["faces"].as_array().unwrap().len(), 1);
    assert!(json.get("normalized").is_none());
    let rejected = run(&photo_bytes("coffee.png"), SubjectKind::Person);
    let json = serde_json::to_value(&rejected).unwrap();
    assert_eq!(json["reasons"][0]["code"], "no_face");
    assert!(
        json["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("face")
    );
}

#[test]
fn thresholds_load_from_toml() {
    let config =
        AnalysisConfig::from_toml("min_short_side = 1000\n[decode]\nmax_megapixels = 12.0\n")
            .unwrap();
    assert_eq!(config.min_short_side, 1000);
    assert_eq!(config.decode.max_megapixels, 12.0);
    assert_eq!(config.blurry_below, AnalysisConfig::default().blurry_below);
    assert!(AnalysisConfig::from_toml("no_such_threshold = 1").is_err());
    let a = analyze(&photo_bytes("obama.jpg"), SubjectKind::Person, &config).unwrap();
    assert!(codes(&a, Severity::Reject).contains(&RejectionCode::LowResolution));
}
