//! Colour reference of a subject: a dominant palette in CIELAB by seeded
//! k-means, and the tone of skin (from the aligned face chip) or of fur and
//! coat (from the middle of the subject region). Deterministic for a given
//! image and seed, so the same photo always gives the same reference.

use image::RgbImage;
use likeness_core::Rect;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Enough pixels for a stable palette without scanning a whole 12-MP photo.
const MAX_SAMPLES: usize = 16_384;
const MAX_ITERATIONS: usize = 30;
pub const DEFAULT_SEED: u64 = 0x11ce_7e55;
pub const PALETTE_SIZE: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Colour {
    /// CIELAB (D65): L in 0..100, a and b roughly -128..127.
    pub lab: [f32; 3],
    pub rgb: [u8; 3],
}

impl Colour {
    pub fn from_lab(lab: [f32; 3]) -> Self {
        Self {
            lab,
            rgb: lab_to_srgb(lab),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaletteEntry {
    pub colour: Colour,
    /// Fraction of the sampled pixels nearest this colour.
    pub share: f32,
}

fn srgb_to_linear(c: u8) -> f32 {
    let c = c as f32 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f32) -> u8 {
    let c = c.clamp(0.0, 1.0);
    let v = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

const WHITE: [f32; 3] = [0.950_47, 1.0, 1.088_83];

pub fn srgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    let f = |t: f32| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x / WHITE[0]), f(y / WHITE[1]), f(z / WHITE[2]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

pub fn lab_to_srgb(lab: [f32; 3]) -> [u8; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    let inv = |t: f32| {
        if t.powi(3) > 216.0 / 24389.0 {
            t.powi(3)
        } else {
            (116.0 * t - 16.0) * 27.0 / 24389.0
        }
    };
    let (x, y, z) = (inv(fx) * WHITE[0], inv(fy) * WHITE[1], inv(fz) * WHITE[2]);
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let b = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    [linear_to_srgb(r), linear_to_srgb(g), linear_to_srgb(b)]
}

/// Lab values of the pixels of `region` (clamped to the image), on an even grid.
fn sample_lab(img: &RgbImage, region: &Rect) -> Vec<[f32; 3]> {
    let r = region.clamped(img.width() as f32, img.height() as f32);
    let (x0, y0) = (r.x.floor() as u32, r.y.floor() as u32);
    let (x1, y1) = (
        (r.right().ceil() as u32).min(img.width()),
        (r.bottom().ceil() as u32).min(img.height()),
    );
    if x1 <= x0 || y1 <= y0 {
        return vec![];
    }
    let n = (x1 - x0) as usize * (y1 - y0) as usize;
    let step = ((n as f64 / MAX_SAMPLES as f64).sqrt().ceil() as u32).max(1);
    let mut out = Vec::with_capacity(n.min(MAX_SAMPLES * 2));
    for y in (y0..y1).step_by(step as usize) {
        for x in (x0..x1).step_by(step as usize) {
            out.push(srgb_to_lab(img.get_pixel(x, y).0));
        }
    }
    out
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

fn nearest(p: &[f32; 3], centres: &[[f32; 3]]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centres.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// k-means++ seeding then Lloyd iterations; clusters sorted by share, largest first.
pub fn kmeans(points: &[[f32; 3]], k: usize, seed: u64) -> Vec<PaletteEntry> {
    if points.is_empty() || k == 0 {
        return vec![];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres = vec![points[rng.random_range(0..points.len())]];
    let mut d2: Vec<f32> = points.iter().map(|p| dist2(p, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = d2.iter().map(|&d| d as f64).sum();
        if total <= 0.0 {
            break; // fewer distinct colours than k
        }
        let mut target = rng.random::<f64>() * total;
        let mut pick = points.len() - 1;
        for (i, &d) in d2.iter().enumerate() {
            target -= d as f64;
            if target <= 0.0 {
                pick = i;
                break;
            }
        }
        let c = points[pick];
        centres.push(c);
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(dist2(p, &c));
        }
    }
    let mut assign = vec![usize::MAX; points.len()];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (a, p) in assign.iter_mut().zip(points) {
            let n = nearest(p, &centres);
            changed |= *a != n;
            *a = n;
        }
        let mut sums = vec![[0f64; 4]; centres.len()];
        for (a, p) in assign.iter().zip(points) {
            let s = &mut sums[*a];
            s[0] += p[0] as f64;
            s[1] += p[1] as f64;
            s[2] += p[2] as f64;
            s[3] += 1.0;
        }
        for (c, s) in centres.iter_mut().zip(&sums) {
            if s[3] > 0.0 {
                *c = [
                    (s[0] / s[3]) as f32,
                    (s[1] / s[3]) as f32,
                    (s[2] / s[3]) as f32,
                ];
            }
        }
        if !changed {
            break;
        }
    }
    let mut counts = vec![0usize; centres.len()];
    for a in &assign {
        counts[*a] += 1;
    }
    let mut out: Vec<PaletteEntry> = centres
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| PaletteEntry {
            colour: Colour::from_lab(*c),
            share: *n as f32 / points.len() as f32,
        })
        .collect();
    out.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then(b.colour.lab[0].total_cmp(&a.colour.lab[0]))
    });
    out
}

/// The dominant colours of a region.
pub fn palette(img: &RgbImage, region: &Rect, k: usize, seed: u64) -> Vec<PaletteEntry> {
    kmeans(&sample_lab(img, region), k, seed)
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Skin tone from an aligned 150x150 chip: the per-channel Lab median of two
/// cheek patches, below the eyes and beside the nose, where dlib's alignment
/// puts skin for any upright face (no hair, eyes, lips or background).
pub fn skin_tone(chip: &RgbImage) -> Option<Colour> {
    if chip.width() < 150 || chip.height() < 150 {
        return None;
    }
    let mut lab = Vec::new();
    for (x0, x1) in [(40u32, 58u32), (92, 110)] {
        for y in 60..84u32 {
            for x in x0..x1 {
                lab.push(srgb_to_lab(chip.get_pixel(x, y).0));
            }
        }
    }
    let channel = |k: usize| median(lab.iter().map(|p| p[k]).collect());
    Some(Colour::from_lab([channel(0), channel(1), channel(2)]))
}

/// Fur or coat tone: the largest colour cluster of the middle half of the
/// region, where the subject is and the background is least likely to be.
pub fn region_tone(img: &RgbImage, region: &Rect, seed: u64) -> Option<Colour> {
    let inner = Rect::new(
        region.x + region.width / 4.0,
        region.y + region.height / 4.0,
        region.width / 2.0,
        region.height / 2.0,
    );
    kmeans(&sample_lab(img, &inner), 3, seed)
        .first()
        .map(|e| e.colour)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn lab_round_trips_and_matches_known_values() {
        let white = srgb_to_lab([255, 255, 255]);
        assert!((white[0] - 100.0).abs() < 0.01 && white[1].abs() < 0.01 && white[2].abs() < 0.01);
        let red = srgb_to_lab([255, 0, 0]);
        // Reference: L 53.24, a 80.09, b 67.20.
        assert!(
            (red[0] - 53.24).abs() < 0.05
                && (red[1] - 80.09).abs() < 0.1
                && (red[2] - 67.20).abs() < 0.1
        );
        for rgb in [[0, 0, 0], [12, 200, 99], [250, 128, 3], [90, 90, 91]] {
            assert_eq!(lab_to_srgb(srgb_to_lab(rgb)), rgb);
        }
    }

    #[test]
    fn palette_finds_the_two_colours_of_a_split_image_in_proportion() {
        let img = RgbImage::from_fn(100, 100, |x, _| {
            if x < 75 {
                Rgb([200, 30, 30])
            } else {
                Rgb([20, 40, 220])
            }
        });
        let p = palette(&img, &Rect::new(0.0, 0.0, 100.0, 100.0), 5, DEFAULT_SEED);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].colour.rgb, [200, 30, 30]);
        assert!((p[0].share - 0.75).abs() < 0.02);
        assert_eq!(p[1].colour.rgb, [20, 40, 220]);
    }

    #[test]
    fn kmeans_is_deterministic_for_a_seed() {
        let pts: Vec<[f32; 3]> = (0..500)
            .map(|i| {
                [
                    (i * 37 % 100) as f32,
                    (i * 11 % 50) as f32 - 25.0,
                    (i % 7) as f32,
                ]
            })
            .collect();
        assert_eq!(kmeans(&pts, 4, 7), kmeans(&pts, 4, 7));
    }
}
