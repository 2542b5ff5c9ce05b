//! Face landmarks for the classic engine's face mask. A detector's box runs
//! from brows to chin and is often off-centre; the five landmarks (eye corners
//! and the base of the nose) put the mask on the face itself and size it by the
//! eye distance. The analysis stage stores only boxes, so renderers that have
//! the landmark model fill the landmarks in.

use crate::engine::IdentityHints;
use image::RgbImage;
use likeness_core::{Point, Rect};

/// Finds the five landmarks of each face box, in the order of dlib's 5-point
/// predictor; `None` for a face it cannot place them on.
pub trait FaceLandmarks: Send + Sync {
    fn landmarks(&self, image: &RgbImage, faces: &[Rect]) -> Vec<Option<[Point; 5]>>;
}

/// dlib's 5-point shape predictor, which the identity models carry.
impl FaceLandmarks for likeness_identity::FaceModels {
    fn landmarks(&self, image: &RgbImage, faces: &[Rect]) -> Vec<Option<[Point; 5]>> {
        let gray = likeness_identity::shape::intensity_image(image);
        faces
            .iter()
            .map(|rect| match likeness_identity::FaceModels::landmarks(self, &gray, rect) {
                Ok(points) => Some(points),
                Err(e) => {
                    tracing::warn!(error = %e, "no landmarks for a face; its mask follows the box");
                    None
                }
            })
            .collect()
    }
}

/// Fills in the landmarks of every face that has none.
pub fn add_landmarks(hints: &mut IdentityHints, image: &RgbImage, finder: &dyn FaceLandmarks) {
    let missing: Vec<usize> = (0..hints.faces.len())
        .filter(|&i| hints.faces[i].landmarks.is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let boxes: Vec<Rect> = missing.iter().map(|&i| hints.faces[i].rect).collect();
    for (i, found) in missing.into_iter().zip(finder.landmarks(image, &boxes)) {
        hints.faces[i].landmarks = found;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FaceHint;

    /// Puts the points at the box's corners and centre, and counts its calls.
    struct Corners(std::sync::atomic::AtomicUsize);

    impl FaceLandmarks for Corners {
        fn landmarks(&self, _: &RgbImage, faces: &[Rect]) -> Vec<Option<[Point; 5]>> {
            self.0
                .fetch_add(faces.len(), std::sync::atomic::Ordering::Relaxed);
            faces
                .iter()
                .map(|r| {
                    let p = |x, y| Point { x, y };
                    let c = r.center();
                    Some([
                        p(r.x, r.y),
                        p(r.right(), r.y),
                        p(r.x, r.bottom()),
                        p(r.right(), r.bottom()),
                        c,
                    ])
                })
                .collect()
        }
    }

    #[test]
    fn only_faces_without_landmarks_are_asked_for() {
        let given = [Point { x: 1.0, y: 1.0 }; 5];
        let mut hints = IdentityHints {
            faces: vec![
                FaceHint {
                    rect: Rect::new(10.0, 10.0, 20.0, 20.0),
                    landmarks: Some(given),
                },
                FaceHint {
                    rect: Rect::new(40.0, 10.0, 20.0, 20.0),
                    landmarks: None,
                },
            ],
            subject: None,
        };
        let finder = Corners(0.into());
        add_landmarks(&mut hints, &RgbImage::new(64, 64), &finder);
        assert_eq!(finder.0.into_inner(), 1);
        assert_eq!(hints.faces[0].landmarks, Some(given));
        assert_eq!(
            hints.faces[1].landmarks.unwrap()[4],
            Point { x: 50.0, y: 20.0 }
        );
    }
}
