//! Where to keep detail: a soft face mask from boxes and landmarks, and a subject
//! mask from the subject box, the faces and a border-contrast saliency estimate.

use super::raster::{Plane, Rgb, gauss, smoothstep};
use crate::engine::FaceHint;
use likeness_core::Rect;

/// Soft ellipses over the faces, 1 inside, falling to 0 over a margin. Landmarks,
/// when present, recentre the ellipse on the eyes-nose-mouth centroid and size it
/// by the eye distance, which hugs the face better than a detector's box.
pub fn face_mask(w: usize, h: usize, faces: &[FaceHint]) -> Plane {
    let ellipses: Vec<(f32, f32, f32, f32)> = faces
        .iter()
        .map(|f| {
            let c = f.rect.center();
            let (mut cx, mut cy) = (c.x, c.y);
            let (mut rx, mut ry) = (f.rect.width * 0.62, f.rect.height * 0.78);
            if let Some(lm) = &f.landmarks {
                let n = lm.len() as f32;
                cx = lm.iter().map(|p| p.x).sum::<f32>() / n;
                let span = ((lm[0].x - lm[2].x).powi(2) + (lm[0].y - lm[2].y).powi(2)).sqrt();
                // The points sit around eyes and nose; the face's centre is lower.
                cy = lm.iter().map(|p| p.y).sum::<f32>() / n + span * 0.3;
                if span > 1.0 {
                    rx = rx.max(span * 0.95);
                    ry = ry.max(span * 1.25);
                }
            }
            // Boxes hug eyebrows to chin; the ellipse reaches up into the hairline.
            (cx, cy - ry * 0.08, rx, ry)
        })
        .collect();
    Plane::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        ellipses
            .iter()
            .map(|&(cx, cy, rx, ry)| {
                let dx = (px - cx) / rx;
                let dy = (py - cy) / ry;
                1.0 - smoothstep(0.75, 1.25, (dx * dx + dy * dy).sqrt())
            })
            .fold(0.0, f32::max)
    })
}

/// How much of each pixel belongs to the subject (1) rather than the background (0).
/// A prior from the subject box or the faces (head and shoulders below each face)
/// is sharpened by saliency: colour distance from the border colour.
pub fn subject_mask(img: &Rgb, faces: &[FaceHint], subject: Option<Rect>, face: &Plane) -> Plane {
    let (w, h) = (img.w, img.h);
    let (wf, hf) = (w as f32, h as f32);
    let prior_boxes: Vec<Rect> = if let Some(s) = subject {
        vec![s]
    } else if !faces.is_empty() {
        faces
            .iter()
            .map(|f| {
                let r = f.rect;
                Rect::new(
                    r.x - r.width * 1.1,
                    r.y - r.height * 0.6,
                    r.width * 3.2,
                    hf - (r.y - r.height * 0.6),
                )
            })
            .collect()
    } else {
        // No hints: the usual portrait framing, centred and a little low.
        vec![Rect::new(wf * 0.18, hf * 0.1, wf * 0.64, hf * 0.9)]
    };
    let prior = Plane::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        prior_boxes
            .iter()
            .map(|r| {
                let c = r.center();
                let dx = (px - c.x) / (r.width * 0.5).max(1.0);
                let dy = (py - c.y) / (r.height * 0.5).max(1.0);
                1.0 - smoothstep(0.7, 1.15, (dx * dx + dy * dy).sqrt())
            })
            .fold(0.0, f32::max)
    });
    let saliency = border_saliency(img);
    let m = prior.zip(&saliency, |p, s| (p * (0.55 + 0.9 * s)).min(1.0));
    let m = gauss(&m, wf.max(hf) / 80.0);
    m.zip(face, f32::max)
}

/// Distance of each (blurred) pixel's colour from the mean colour of the image
/// border, scaled to 0..1: backgrounds usually touch the border, subjects less so.
fn border_saliency(img: &Rgb) -> Plane {
    let (w, h) = (img.w, img.h);
    let sigma = w.max(h) as f32 / 100.0;
    let blurred: Vec<Plane> = (0..3).map(|k| gauss(&img.channel(k), sigma)).collect();
    let band = (w.min(h) / 16).max(1);
    let mut sum = [0.0f32; 3];
    let mut n: f32 = 0.0;
    for y in 0..h {
        for x in 0..w {
            if x < band || y < band || x >= w - band {
                for (k, s) in sum.iter_mut().enumerate() {
                    *s += blurred[k].at(x, y);
                }
                n += 1.0;
            }
        }
    }
    let mean = sum.map(|s| s / n.max(1.0));
    let dist = Plane::from_fn(w, h, |x, y| {
        (0..3)
            .map(|k| (blurred[k].at(x, y) - mean[k]).powi(2))
            .sum::<f32>()
            .sqrt()
    });
    let mut sorted = dist.d.clone();
    sorted.sort_by(f32::total_cmp);
    let p90 = sorted[sorted.len() * 9 / 10].max(1e-3);
    dist.map(|d| smoothstep(0.15, 0.8, d / p90))
}

#[cfg(test)]
mod tests {
    use super::*;
    use likeness_core::Point;

    #[test]
    fn the_face_mask_is_solid_on_the_face_and_empty_far_away() {
        let face = FaceHint {
            rect: Rect::new(40.0, 40.0, 20.0, 24.0),
            landmarks: None,
        };
        let m = face_mask(100, 100, &[face]);
        assert!(m.at(50, 52) > 0.99);
        assert!(m.at(5, 5) == 0.0);
        let with_landmarks = FaceHint {
            landmarks: Some([
                Point { x: 58.0, y: 48.0 },
                Point { x: 54.0, y: 48.0 },
                Point { x: 42.0, y: 48.0 },
                Point { x: 46.0, y: 48.0 },
                Point { x: 50.0, y: 55.0 },
            ]),
            ..face
        };
        assert!(face_mask(100, 100, &[with_landmarks]).at(50, 53) > 0.99);
    }

    #[test]
    fn a_bright_subject_on_a_flat_background_is_found() {
        let img = Rgb {
            w: 80,
            h: 80,
            d: (0..6400)
                .map(|i| {
                    let (x, y) = (i % 80, i / 80);
                    if (25..55).contains(&x) && y > 20 {
                        [0.9, 0.6, 0.5]
                    } else {
                        [0.2, 0.3, 0.4]
                    }
                })
                .collect(),
        };
        let face = Plane::new(80, 80, 0.0);
        let m = subject_mask(&img, &[], None, &face);
        assert!(m.at(40, 50) > 0.7, "subject {}", m.at(40, 50));
        assert!(m.at(3, 40) < 0.2, "background {}", m.at(3, 40));
    }
}
