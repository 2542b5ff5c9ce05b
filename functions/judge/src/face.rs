//! What the judge needs from an identity model, and the landmark sanity check.
//!
//! The model sits behind a trait so the scoring and decision logic can be
//! tested without model files, and so the judge does not care whether the
//! embedding runs on CPU or GPU.

use likeness_core::{Point, Rect};
use serde::{Deserialize, Serialize};

/// A face as the identity model sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceDescription {
    /// dlib's 5 points: right eye outer, right eye inner, left eye outer,
    /// left eye inner, base of the nose (image coordinates).
    pub landmarks: Vec<Point>,
    /// 128-d identity embedding.
    pub embedding: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
#[error("identity model: {0}")]
pub struct FaceModelError(pub String);

pub trait FaceModel: Send + Sync {
    fn describe(
        &self,
        image: &image::RgbImage,
        face: &Rect,
    ) -> Result<FaceDescription, FaceModelError>;

    /// Every face of `faces` (an image and a box in it), in order. A model
    /// that can run its network on a batch overrides this: one pass over a
    /// style's candidates costs less than one per face.
    fn describe_batch(
        &self,
        faces: &[(&image::RgbImage, Rect)],
    ) -> Result<Vec<FaceDescription>, FaceModelError> {
        faces
            .iter()
            .map(|(image, face)| self.describe(image, face))
            .collect()
    }
}

/// The dlib models from likeness-identity: landmarks, aligned chip, embedding.
impl FaceModel for likeness_identity::FaceModels {
    fn describe(
        &self,
        image: &image::RgbImage,
        face: &Rect,
    ) -> Result<FaceDescription, FaceModelError> {
        let mut faces =
            likeness_identity::FaceModels::describe(self, image, std::slice::from_ref(face))
                .map_err(|e| FaceModelError(e.to_string()))?;
        let face = faces
            .pop()
            .ok_or_else(|| FaceModelError("the identity model described no face".into()))?;
        Ok(FaceDescription {
            landmarks: face.landmarks.to_vec(),
            embedding: face.embedding,
        })
    }

    /// Landmarks and aligned chip per face, then one network pass over all chips.
    fn describe_batch(
        &self,
        faces: &[(&image::RgbImage, Rect)],
    ) -> Result<Vec<FaceDescription>, FaceModelError> {
        use likeness_identity::chip::{CHIP_PADDING, CHIP_SIZE, ChipDetails, extract_chip};
        let error = |e: likeness_identity::IdentityError| FaceModelError(e.to_string());
        let mut landmarks = Vec::with_capacity(faces.len());
        let mut chips = Vec::with_capacity(faces.len());
        // Candidates usually hold one face each; the grey copy is made once an image.
        let mut grey: Option<(&image::RgbImage, image::GrayImage)> = None;
        for (image, face) in faces {
            if image.width() == 0 || image.height() == 0 {
                return Err(FaceModelError(format!(
                    "the image is empty ({}x{})",
                    image.width(),
                    image.height()
                )));
            }
            let g = match grey.take() {
                Some((seen, g)) if std::ptr::eq(seen, *image) => g,
                _ => likeness_identity::shape::intensity_image(image),
            };
            let points = self.landmarks(&g, face).map_err(error)?;
            grey = Some((image, g));
            let details = ChipDetails::for_face(&points, CHIP_SIZE, CHIP_PADDING);
            chips.push(extract_chip(image, &details));
            landmarks.push(points.to_vec());
        }
        let embeddings = self.encoder.embed(&chips).map_err(error)?;
        Ok(landmarks
            .into_iter()
            .zip(embeddings)
            .map(|(landmarks, e)| FaceDescription {
                landmarks,
                embedding: e.to_vec(),
            })
            .collect())
    }
}

pub fn embedding_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

/// How far 5 landmarks are from a plausible frontal-ish face, as a share of the
/// eye distance: eyes level and apart, nose below the eyes and between them,
/// each eye a sensible width. A melted face (a diffusion failure) fails several
/// at once; a turned head moves the nose sideways but keeps the rest.
pub fn landmark_error(points: &[Point]) -> Option<f32> {
    let [r_out, r_in, l_out, l_in, nose] = points else {
        return None;
    };
    let mid = |a: &Point, b: &Point| Point {
        x: (a.x + b.x) / 2.0,
        y: (a.y + b.y) / 2.0,
    };
    let dist = |a: &Point, b: &Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
    // dlib lists the eye in the image's right half first; order the eyes left to
    // right in the image so the frame below has the nose on its positive side.
    let (first, second) = (mid(r_out, r_in), mid(l_out, l_in));
    let (re, le, r_out, r_in, l_out, l_in) = if first.x <= second.x {
        (first, second, r_out, r_in, l_out, l_in)
    } else {
        (second, first, l_out, l_in, r_out, r_in)
    };
    let eye_dist = dist(&re, &le);
    if !(eye_dist.is_finite() && eye_dist > 1.0) {
        return Some(f32::INFINITY);
    }
    // Work in a frame where the eyes are level, so a tilted head is not penalised.
    let (ux, uy) = ((le.x - re.x) / eye_dist, (le.y - re.y) / eye_dist);
    let centre = mid(&re, &le);
    let local = |p: &Point| {
        let (dx, dy) = (p.x - centre.x, p.y - centre.y);
        (
            (dx * ux + dy * uy) / eye_dist,
            (-dx * uy + dy * ux) / eye_dist,
        )
    };
    let (nose_x, nose_y) = local(nose);
    let over = |x: f32, lo: f32, hi: f32| (lo - x).max(x - hi).max(0.0);
    let mut error = 0.0f32;
    // The nose base sits about 0.6-0.9 eye distances below the eye line in a frontal face.
    error = error.max(over(nose_y, 0.35, 1.2));
    error = error.max(over(nose_x, -0.55, 0.55));
    // Each eye's width is roughly a third of the eye distance.
    for w in [dist(r_out, r_in) / eye_dist, dist(l_out, l_in) / eye_dist] {
        error = error.max(over(w, 0.15, 0.65));
    }
    // The eye corners line up with the eye line.
    for p in [r_out, r_in, l_out, l_in] {
        error = error.max(over(local(p).1.abs(), 0.0, 0.2));
    }
    Some(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    #[test]
    fn a_frontal_face_is_plausible_even_tilted_and_a_melted_one_is_not() {
        let frontal = [
            p(60.0, 100.0),
            p(90.0, 101.0),
            p(150.0, 100.0),
            p(120.0, 101.0),
            p(105.0, 145.0),
        ];
        assert_eq!(landmark_error(&frontal), Some(0.0));
        let angle = 0.3f32;
        let tilted: Vec<Point> = frontal
            .iter()
            .map(|q| {
                p(
                    q.x * angle.cos() - q.y * angle.sin(),
                    q.x * angle.sin() + q.y * angle.cos(),
                )
            })
            .collect();
        assert!(landmark_error(&tilted).unwrap() < 1e-3);
        // Nose above the eyes and one eye smeared across the face.
        let melted = [
            p(60.0, 100.0),
            p(140.0, 130.0),
            p(150.0, 100.0),
            p(120.0, 101.0),
            p(105.0, 80.0),
        ];
        assert!(landmark_error(&melted).unwrap() > 0.35);
        assert_eq!(landmark_error(&frontal[..4]), None);
    }
}
