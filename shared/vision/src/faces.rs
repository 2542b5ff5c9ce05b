//! Frontal face boxes with the SeetaFace cascade (`rustface`), whose model is compiled in.
//!
//! Detection runs on a grayscale copy whose long side is at most
//! [`DETECTION_LONG_SIDE`]: the cascade's cost grows with pixels while faces
//! worth a portrait stay well above its 40 px minimum window at that size.
//! Boxes are mapped back to the coordinates of the image passed in.

use crate::resize::shrink_gray_to_fit;
use image::{GrayImage, RgbImage, imageops};
use likeness_core::Rect;
use rustface::{Detector, ImageData, Model};
use std::sync::OnceLock;

/// SeetaFace frontal detector v1.0, BSD-2-Clause (see `models/README.md`).
static MODEL_BYTES: &[u8] = include_bytes!("../models/seeta_fd_frontal_v1.0.bin");

/// Long side of the grayscale copy the detector sees: faces down to 5% of
/// the long side reach its 40 px window.
pub const DETECTION_LONG_SIDE: u32 = 800;
/// Long side of the cheap first pass (faces from 10% of the long side).
pub const COARSE_LONG_SIDE: u32 = 400;

/// Detector settings measured on the project's test photos
/// (`shared/reference/ml-feasibility.md` §2c): one face each, no false positives.
const MIN_FACE_SIZE: u32 = 40;
const SCORE_THRESHOLD: f64 = 2.0;
const PYRAMID_SCALE: f32 = 0.8;
const WINDOW_STEP: u32 = 4;

pub use likeness_core::analysis::FaceBox;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        // The bytes are compiled in and checked by the tests; failing here is a build defect.
        rustface::read_model(MODEL_BYTES).expect("the vendored SeetaFace model parses")
    })
}

fn detector() -> Box<dyn Detector> {
    let mut detector = rustface::create_detector_with_model(model().clone());
    detector.set_min_face_size(MIN_FACE_SIZE);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(PYRAMID_SCALE);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
    detector
}

/// Faces in `image`, largest first. Faces smaller than half the largest
/// face's height may be left out (see [`detect_faces_gray`]).
pub fn detect_faces(image: &RgbImage) -> Vec<FaceBox> {
    let gray = imageops::grayscale(image);
    detect_faces_gray(&gray)
}

/// Faces in a grayscale image, largest first.
///
/// The cascade always starts from 40 px windows on the image it is given
/// (`rustface` ignores its min-face setting), so its cost follows the pixel
/// count. A first pass on a [`COARSE_LONG_SIDE`] copy costs a quarter of the
/// full one; when the largest face it finds is at least twice the window, every
/// face at least half that face's height was within reach too, and that pass
/// stands. Otherwise (no face, or only small ones) the full-size pass runs.
/// Faces under half the largest face's height may therefore be left out.
pub fn detect_faces_gray(gray: &GrayImage) -> Vec<FaceBox> {
    let coarse = detect_scaled(gray, COARSE_LONG_SIDE);
    let (w, h) = gray.dimensions();
    let coarse_scale = COARSE_LONG_SIDE as f32 / w.max(h) as f32;
    let complete = coarse_scale >= 1.0
        || coarse
            .first()
            .is_some_and(|f| f.rect.height * coarse_scale >= 2.0 * MIN_FACE_SIZE as f32);
    if complete {
        coarse
    } else {
        detect_scaled(gray, DETECTION_LONG_SIDE)
    }
}

/// Detect on a copy whose long side is at most `long_side`; boxes in `gray`'s coordinates.
fn detect_scaled(gray: &GrayImage, long_side: u32) -> Vec<FaceBox> {
    let (width, height) = gray.dimensions();
    // The cascade panics below its minimum window; nothing that small holds a face anyway.
    if width.min(height) < MIN_FACE_SIZE {
        return Vec::new();
    }
    let long = width.max(height);
    let (small, scale) = if long > long_side {
        let small = shrink_gray_to_fit(gray.clone(), long_side);
        if small.width().min(small.height()) < MIN_FACE_SIZE {
            return Vec::new();
        }
        let scale = small.width() as f32 / width as f32;
        (small, scale)
    } else {
        (gray.clone(), 1.0)
    };
    let data = ImageData::new(small.as_raw(), small.width(), small.height());
    let mut faces: Vec<FaceBox> = detector()
        .detect(&data)
        .into_iter()
        .map(|face| {
            let b = face.bbox();
            FaceBox {
                rect: Rect::new(
                    b.x() as f32 / scale,
                    b.y() as f32 / scale,
                    b.width() as f32 / scale,
                    b.height() as f32 / scale,
                ),
                score: face.score() as f32,
            }
        })
        .collect();
    faces.sort_by(|a, b| b.rect.area().total_cmp(&a.rect.area()));
    faces
}

/// Faces that cross the frame edge, found by mirroring a quarter of the image
/// out past each edge: the reflection completes a face cut near its middle,
/// which the frontal detector then recognises. Only boxes that reach into the
/// mirrored margin are returned, in the coordinates of `gray` (so they extend
/// past its edges).
pub fn detect_cut_faces_gray(gray: &GrayImage) -> Vec<FaceBox> {
    let (w, h) = gray.dimensions();
    if w.min(h) < MIN_FACE_SIZE {
        return Vec::new();
    }
    let (px, py) = (w / 4, h / 4);
    let reflect = |v: i64, len: u32| -> u32 {
        let len = len as i64;
        let m = v.rem_euclid(2 * len);
        (if m < len { m } else { 2 * len - 1 - m }) as u32
    };
    let padded = GrayImage::from_fn(w + 2 * px, h + 2 * py, |x, y| {
        let sx = reflect(x as i64 - px as i64, w);
        let sy = reflect(y as i64 - py as i64, h);
        *gray.get_pixel(sx, sy)
    });
    let (fw, fh) = (w as f32, h as f32);
    detect_faces_gray(&padded)
        .into_iter()
        .map(|f| FaceBox {
            rect: Rect::new(
                f.rect.x - px as f32,
                f.rect.y - py as f32,
                f.rect.width,
                f.rect.height,
            ),
            score: f.score,
        })
        .filter(|f| {
            let r = f.rect;
            let inside = r.x >= 0.0 && r.y >= 0.0 && r.right() <= fw && r.bottom() <= fh;
            // Mostly inside the real frame, but not entirely.
            let cx = r.x.max(0.0)..r.right().min(fw);
            let cy = r.y.max(0.0)..r.bottom().min(fh);
            let visible = (cx.end - cx.start).max(0.0) * (cy.end - cy.start).max(0.0);
            !inside && visible >= 0.5 * r.area()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(name: &str) -> RgbImage {
        let path = format!(
            "{}/../../tests/fixtures/photos/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        image::open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .to_rgb8()
    }

    #[test]
    fn finds_one_face_on_a_portrait_in_original_coordinates() {
        let image = photo("obama.jpg");
        let faces = detect_faces(&image);
        assert_eq!(faces.len(), 1, "{faces:?}");
        let face = faces[0].rect;
        assert!(face.x >= 0.0 && face.right() <= image.width() as f32 + 1.0);
        assert!(face.y >= 0.0 && face.bottom() <= image.height() as f32 + 1.0);
        // A half-body portrait: the face is a clear fraction of the frame.
        assert!(face.width > image.width() as f32 * 0.1, "{face:?}");
    }

    #[test]
    fn finds_no_face_on_a_cat_or_a_cup() {
        assert!(detect_faces(&photo("chelsea.png")).is_empty());
        assert!(detect_faces(&photo("coffee.png")).is_empty());
    }

    #[test]
    fn tiny_and_blank_images_give_no_faces() {
        assert!(detect_faces(&RgbImage::new(1, 1)).is_empty());
        assert!(detect_faces(&RgbImage::new(10, 4000)).is_empty());
        assert!(detect_faces(&RgbImage::new(200, 200)).is_empty());
    }

    #[test]
    fn boxes_are_sorted_largest_first() {
        // Two copies of the same face at different sizes side by side.
        let face = photo("obama.jpg");
        let small = imageops::resize(
            &face,
            face.width() / 2,
            face.height() / 2,
            imageops::FilterType::Triangle,
        );
        let mut canvas = RgbImage::from_pixel(
            face.width() + small.width(),
            face.height(),
            image::Rgb([128, 128, 128]),
        );
        imageops::overlay(&mut canvas, &small, 0, 0);
        imageops::overlay(&mut canvas, &face, small.width() as i64, 0);
        let faces = detect_faces(&canvas);
        assert_eq!(faces.len(), 2, "{faces:?}");
        assert!(faces[0].rect.area() > faces[1].rect.area());
        assert!(faces[0].rect.x >= small.width() as f32 - 1.0);
    }
}
