//! Where to keep detail: a soft face mask from boxes and landmarks, and a subject
//! mask from the subject box, the faces and a border-contrast saliency estimate.

use super::raster::{Plane, Rgb, gauss, nth, smoothstep};
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

/// The head around an animal's subject box: the analysis stage's box marks its
/// most salient part, often just the eyes and nose.
pub fn pet_head(subject: Rect) -> Rect {
    let c = subject.center();
    Rect::new(
        c.x - subject.width * 0.75,
        c.y - subject.height * 0.75,
        subject.width * 1.5,
        subject.height * 1.5,
    )
}

/// How much of each pixel belongs to the subject (1) rather than the background (0).
/// A prior from the faces, or else the subject box and the usual framing (head
/// and shoulders below each head), is sharpened by saliency: colour distance
/// from the border colour.
pub fn subject_mask(img: &Rgb, faces: &[FaceHint], subject: Option<Rect>, face: &Plane) -> Plane {
    let (w, h) = (img.w, img.h);
    let (wf, hf) = (w as f32, h as f32);
    // Each prior is an ellipse (cx, cy, rx, ry); a bust is a head plus shoulders.
    let mut ellipses: Vec<(f32, f32, f32, f32)> = Vec::new();
    // A face is a head with the body below it. Without faces (a pet) the
    // analysis stage's subject box marks the most salient part of the animal,
    // often just its eyes and nose: it is widened to a head, and the usual
    // portrait framing, centred and a little low, is kept beside it.
    let heads: Vec<Rect> = if faces.is_empty() {
        ellipses.push((wf * 0.5, hf * 0.62, wf * 0.36, hf * 0.5));
        subject.map(pet_head).into_iter().collect()
    } else {
        faces.iter().map(|f| f.rect).collect()
    };
    for head in heads {
        let c = head.center();
        let (fw, fh) = (head.width, head.height);
        ellipses.push((c.x, c.y - fh * 0.1, fw * 0.95, fh * 1.05));
        // Shoulders and chest: wide, starting below the chin, running off the frame.
        ellipses.push((c.x, head.bottom() + fh * 2.6, fw * 2.3, fh * 2.7));
    }
    let distance = Plane::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        ellipses
            .iter()
            .map(|&(cx, cy, rx, ry)| {
                let dx = (px - cx) / rx.max(1.0);
                let dy = (py - cy) / ry.max(1.0);
                (dx * dx + dy * dy).sqrt()
            })
            .fold(f32::INFINITY, f32::min)
    });
    let prior = distance.map(|d| 1.0 - smoothstep(0.8, 1.3, d));
    let saliency = border_saliency(img);
    // Saliency may carve the silhouette out of the prior's rim and extend it a
    // little, never invent a subject far from it, and never hollow out its core:
    // a dark suit against a dark curtain is still the sitter.
    let wide = gauss(&prior, wf.max(hf) / 12.0);
    let m = Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (p, s, wd) = (prior.d[i], saliency.d[i], wide.d[i]);
        let core = 1.0 - smoothstep(0.7, 0.95, distance.d[i]);
        (p * (0.3 + 0.7 * s.max(core)) + 0.05 * s * wd).min(1.0)
    });
    let m = gauss(&m, wf.max(hf) / 120.0);
    let m = m.map(|v| smoothstep(0.15, 0.6, v));
    m.zip(face, f32::max)
}

/// Distance of each (blurred) pixel's colour from the nearest of the colours
/// sampled along the left, top and right borders, scaled to 0..1: backgrounds
/// usually touch the border (the bottom is often the subject's body).
fn border_saliency(img: &Rgb) -> Plane {
    let (w, h) = (img.w, img.h);
    let sigma = w.max(h) as f32 / 80.0;
    let blurred: Vec<Plane> = (0..3).map(|k| gauss(&img.channel(k), sigma)).collect();
    let band = (w.min(h) / 20).max(1);
    let mut samples: Vec<[f32; 3]> = Vec::new();
    let px = |x: usize, y: usize| {
        [
            blurred[0].at(x, y),
            blurred[1].at(x, y),
            blurred[2].at(x, y),
        ]
    };
    for k in 0..24 {
        let t = (k as f32 + 0.5) / 24.0;
        let yy = ((hf32(h) * 0.85 * t) as usize).min(h - 1);
        samples.push(px(band.min(w - 1), yy));
        samples.push(px(w - 1 - band.min(w - 1), yy));
        samples.push(px(((w as f32 * t) as usize).min(w - 1), band.min(h - 1)));
    }
    let dist = Plane::from_fn(w, h, |x, y| {
        let c = px(x, y);
        samples
            .iter()
            .map(|s| (0..3).map(|k| (c[k] - s[k]).powi(2)).sum::<f32>())
            .fold(f32::INFINITY, f32::min)
            .sqrt()
    });
    let mut sorted = dist.d.clone();
    let n = sorted.len();
    let p90 = nth(&mut sorted, n * 9 / 10).max(0.05);
    dist.map(|d| smoothstep(0.1, 0.6, d / p90))
}

fn hf32(h: usize) -> f32 {
    h as f32
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
