//! Pixel measurements on `RgbImage`: low-resolution copies, perceptual hash,
//! gradient SSIM, and the raw numbers behind the artifact checks.
//!
//! Everything is measured on small copies so that QA costs the same for a
//! 512 px and a 4096 px render, and so that brush texture does not count as
//! structure.

use image::{RgbImage, imageops};

/// A downscaled copy whose long side is at most `max_side` (never upscaled).
pub fn fit_within(image: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let long = w.max(h);
    if long <= max_side || long == 0 {
        return image.clone();
    }
    let scale = max_side as f32 / long as f32;
    let nw = ((w as f32 * scale).round() as u32).max(1);
    let nh = ((h as f32 * scale).round() as u32).max(1);
    shrink(image, nw, nh)
}

/// Area-averaging downscale: halftone dots, hatching and paper grain average
/// out to their tone instead of aliasing into false structure (a tent filter
/// leaves moiré from a pop-art screen).
pub fn shrink(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if width >= image.width() || height >= image.height() {
        return imageops::resize(image, width, height, imageops::FilterType::Triangle);
    }
    imageops::thumbnail(image, width, height)
}

/// A single-channel float plane (row-major), values 0..=255.
#[derive(Clone, Debug)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
}

/// Rec. 601 luma of every pixel.
pub fn luma(image: &RgbImage) -> Plane {
    Plane {
        width: image.width() as usize,
        height: image.height() as usize,
        data: image
            .pixels()
            .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
            .collect(),
    }
}

/// Sobel gradient magnitude (border pixels left at zero).
pub fn gradient(plane: &Plane) -> Plane {
    let (w, h) = (plane.width, plane.height);
    let mut out = vec![0.0; w * h];
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let p = |dx: usize, dy: usize| plane.at(x + dx - 1, y + dy - 1);
            let gx = p(2, 0) + 2.0 * p(2, 1) + p(2, 2) - p(0, 0) - 2.0 * p(0, 1) - p(0, 2);
            let gy = p(0, 2) + 2.0 * p(1, 2) + p(2, 2) - p(0, 0) - 2.0 * p(1, 0) - p(2, 0);
            out[y * w + x] = (gx * gx + gy * gy).sqrt();
        }
    }
    Plane {
        width: w,
        height: h,
        data: out,
    }
}

/// 64-bit DCT perceptual hash: the 8x8 lowest frequencies of a 32x32 grey copy,
/// each bit set when its coefficient is above their median. Robust to rescaling,
/// recompression and small tone changes; two variations that differ only in
/// noise land within a few bits of each other.
pub fn phash(image: &RgbImage) -> u64 {
    let small = shrink(image, 32, 32);
    let g = luma(&small);
    let n = 32usize;
    let cos: Vec<f32> = (0..8 * n)
        .map(|i| {
            let (u, x) = (i / n, i % n);
            ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / (2 * n) as f32).cos()
        })
        .collect();
    let mut coeffs = [0.0f32; 64];
    for v in 0..8 {
        for u in 0..8 {
            let mut sum = 0.0;
            for y in 0..n {
                let cy = cos[v * n + y];
                for x in 0..n {
                    sum += g.at(x, y) * cos[u * n + x] * cy;
                }
            }
            coeffs[v * 8 + u] = sum;
        }
    }
    // The DC term only says how bright the image is; leave it out of the median.
    let mut rest: Vec<f32> = coeffs[1..].to_vec();
    rest.sort_by(f32::total_cmp);
    let median = rest[rest.len() / 2];
    coeffs.iter().enumerate().fold(
        0u64,
        |bits, (i, &c)| if c > median { bits | (1 << i) } else { bits },
    )
}

pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Mean SSIM over 7x7 windows of two planes of equal size, each first scaled
/// to unit mean so that a soft watercolour and a crisp photo with the same
/// contours compare on structure rather than on edge strength.
pub fn ssim_normalized(a: &Plane, b: &Plane) -> f32 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "ssim of unequal planes"
    );
    let norm = |p: &Plane| {
        let mean = p.data.iter().sum::<f32>() / p.data.len().max(1) as f32;
        let k = if mean > 1e-6 { 1.0 / mean } else { 0.0 };
        p.data.iter().map(|v| v * k).collect::<Vec<_>>()
    };
    let (x, y) = (norm(a), norm(b));
    let (w, h) = (a.width, a.height);
    const WIN: usize = 7;
    // Constants for a signal of unit mean (range ~ a few units).
    let (c1, c2) = (0.0004f32, 0.0036f32);
    let mut total = 0.0;
    let mut count = 0;
    for wy in 0..=h.saturating_sub(WIN) {
        for wx in 0..=w.saturating_sub(WIN) {
            let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0f32, 0.0, 0.0, 0.0, 0.0);
            for yy in wy..wy + WIN {
                for xx in wx..wx + WIN {
                    let (p, q) = (x[yy * w + xx], y[yy * w + xx]);
                    sx += p;
                    sy += q;
                    sxx += p * p;
                    syy += q * q;
                    sxy += p * q;
                }
            }
            let n = (WIN * WIN) as f32;
            let (mx, my) = (sx / n, sy / n);
            let vx = (sxx / n - mx * mx).max(0.0);
            let vy = (syy / n - my * my).max(0.0);
            let cov = sxy / n - mx * my;
            total += ((2.0 * mx * my + c1) * (2.0 * cov + c2))
                / ((mx * mx + my * my + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        total / count as f32
    }
}

/// Gradient SSIM of two images, both squeezed to `side` x `side`.
pub fn edge_ssim(a: &RgbImage, b: &RgbImage, side: u32) -> f32 {
    let prep = |img: &RgbImage| {
        let small = shrink(img, side, side);
        gradient(&luma(&small))
    };
    ssim_normalized(&prep(a), &prep(b))
}

/// Standard deviation of luma on a 128 px copy: near zero for a blank render.
pub fn luma_std(image: &RgbImage) -> f32 {
    let g = luma(&fit_within(image, 128));
    let n = g.data.len().max(1) as f32;
    let mean = g.data.iter().sum::<f32>() / n;
    (g.data.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt()
}

/// Share of a 16x16 grid of tiles that are dead black: one colour throughout,
/// at most `BLACK_LEVEL` in every channel, which is what a NaN in a diffusion
/// decoder leaves behind. Dark paint has texture; a dead tile has none.
pub fn black_tile_fraction(image: &RgbImage) -> f32 {
    const GRID: u32 = 16;
    const BLACK_LEVEL: u8 = 6;
    let (w, h) = image.dimensions();
    if w < GRID || h < GRID {
        let dead = image
            .pixels()
            .all(|p| p.0.iter().all(|&c| c <= BLACK_LEVEL));
        return if dead { 1.0 } else { 0.0 };
    }
    let mut dead = 0;
    for ty in 0..GRID {
        for tx in 0..GRID {
            let (x0, x1) = (tx * w / GRID, (tx + 1) * w / GRID);
            let (y0, y1) = (ty * h / GRID, (ty + 1) * h / GRID);
            // Dead means dark *and* perfectly flat: painted darkness has texture.
            let first = image.get_pixel(x0, y0).0;
            let all_black = first.iter().all(|&c| c <= BLACK_LEVEL)
                && (y0..y1).all(|y| (x0..x1).all(|x| image.get_pixel(x, y).0 == first));
            if all_black {
                dead += 1;
            }
        }
    }
    dead as f32 / (GRID * GRID) as f32
}

/// Share of pixels clipped at both ends at once (some channel 255 and another 0):
/// fully saturated colour that has lost all shading.
pub fn clipped_fraction(image: &RgbImage) -> f32 {
    let small = fit_within(image, 256);
    let n = (small.width() * small.height()).max(1) as f32;
    let clipped = small
        .pixels()
        .filter(|p| p.0.contains(&255) && p.0.contains(&0))
        .count();
    clipped as f32 / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn stripes(period: u32) -> RgbImage {
        RgbImage::from_fn(200, 150, |x, y| {
            let v = if (x / period + y / (period * 2)).is_multiple_of(2) {
                230
            } else {
                30
            };
            Rgb([v, v / 2, 255 - v])
        })
    }

    fn blobs(fx: f32, fy: f32) -> RgbImage {
        RgbImage::from_fn(200, 150, |x, y| {
            let v = 128.0 + 100.0 * ((x as f32 * fx).sin() * (y as f32 * fy).cos());
            Rgb([v as u8, (v * 0.8) as u8, 90])
        })
    }

    #[test]
    fn phash_survives_rescaling_and_separates_different_pictures() {
        let a = blobs(0.03, 0.05);
        let half = imageops::resize(&a, 100, 75, imageops::FilterType::Triangle);
        let same = hamming(phash(&a), phash(&half));
        assert!(same <= 4, "{same}");
        let other = hamming(phash(&a), phash(&blobs(0.05, 0.02)));
        assert!(other > 12, "{other}");
    }

    #[test]
    fn edge_ssim_is_one_for_itself_and_low_for_unrelated_structure() {
        let a = stripes(20);
        assert!((edge_ssim(&a, &a, 48) - 1.0).abs() < 1e-4);
        let transposed = imageops::rotate90(&a);
        assert!(edge_ssim(&a, &transposed, 48) < 0.5);
    }

    #[test]
    fn black_tiles_and_clipping_are_measured_as_shares() {
        let mut img = stripes(10);
        for y in 0..75 {
            for x in 0..200 {
                img.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        let f = black_tile_fraction(&img);
        assert!((f - 0.5).abs() < 0.07, "{f}");
        assert_eq!(
            clipped_fraction(&RgbImage::from_pixel(10, 10, Rgb([255, 0, 10]))),
            1.0
        );
        assert_eq!(
            clipped_fraction(&RgbImage::from_pixel(10, 10, Rgb([250, 5, 10]))),
            0.0
        );
        assert!(luma_std(&RgbImage::from_pixel(300, 300, Rgb([90, 90, 90]))) < 1e-3);
    }
}
