//! Image quality measurements, each on a bounded-size copy so cost does not grow with megapixels.

use crate::resize::gray_to_fit;
use image::{GrayImage, imageops};
use likeness_core::Rect;

/// Long side of the region copy that sharpness and motion blur are measured on.
/// Measuring at a fixed size is what makes sharpness comparable across photo
/// resolutions and subject sizes (the scale normalisation).
pub const DETAIL_LONG_SIDE: u32 = 256;

pub use likeness_core::analysis::Exposure;

/// Mean, clipping and RMS contrast of a grayscale image.
pub fn exposure(gray: &GrayImage) -> Exposure {
    let n = (gray.width() as u64 * gray.height() as u64).max(1) as f64;
    let (mut sum, mut sq, mut low, mut high) = (0f64, 0f64, 0u64, 0u64);
    for &v in gray.as_raw() {
        let f = v as f64 / 255.0;
        sum += f;
        sq += f * f;
        low += (v <= 5) as u64;
        high += (v >= 250) as u64;
    }
    let mean = sum / n;
    let var = (sq / n - mean * mean).max(0.0);
    Exposure {
        mean_luminance: mean as f32,
        clipped_shadows: (low as f64 / n) as f32,
        clipped_highlights: (high as f64 / n) as f32,
        contrast: var.sqrt() as f32,
    }
}

/// The region of `gray` inside `region` (clamped to the frame), shrunk to at most
/// [`DETAIL_LONG_SIDE`]; never enlarged, which would add blur of its own.
pub fn detail_crop(gray: &GrayImage, region: Rect) -> GrayImage {
    let (w, h) = gray.dimensions();
    let x0 = region.x.max(0.0).floor() as u32;
    let y0 = region.y.max(0.0).floor() as u32;
    let x1 = (region.right().ceil().max(0.0) as u32).min(w);
    let y1 = (region.bottom().ceil().max(0.0) as u32).min(h);
    if x1 <= x0 + 2 || y1 <= y0 + 2 {
        return gray.clone();
    }
    let crop = imageops::crop_imm(gray, x0, y0, x1 - x0, y1 - y0).to_image();
    let long = crop.width().max(crop.height());
    if long <= DETAIL_LONG_SIDE {
        return crop;
    }
    let rgbless = crop;
    shrink_gray(rgbless, DETAIL_LONG_SIDE)
}

fn shrink_gray(gray: GrayImage, long_side: u32) -> GrayImage {
    let (w, h) = gray.dimensions();
    let scale = long_side as f32 / w.max(h) as f32;
    let tw = ((w as f32 * scale).round() as u32).max(1);
    let th = ((h as f32 * scale).round() as u32).max(1);
    imageops::resize(&gray, tw, th, imageops::FilterType::Triangle)
}

/// Variance of the 4-neighbour Laplacian: high for crisp edges, low when blurred.
/// Units are (8-bit levels)²; the region copy is at most [`DETAIL_LONG_SIDE`] px.
pub fn laplacian_variance(gray: &GrayImage) -> f32 {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let p = gray.as_raw();
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = p[y * w + x] as f64;
            let l = p[y * w + x - 1] as f64
                + p[y * w + x + 1] as f64
                + p[(y - 1) * w + x] as f64
                + p[(y + 1) * w + x] as f64
                - 4.0 * c;
            sum += l;
            sq += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sq / n - mean * mean).max(0.0) as f32
}

/// Directional energy ratio from the gradient structure tensor summed over the
/// region: (λ1 − λ2) / (λ1 + λ2), 0 when edges run every way, towards 1 when
/// all gradient energy points one way, which is what a linear motion smear
/// leaves (detail survives only across the direction of motion).
pub fn directional_energy_ratio(gray: &GrayImage) -> f32 {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let p = gray.as_raw();
    let (mut jxx, mut jyy, mut jxy) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let gx = p[y * w + x + 1] as f64 - p[y * w + x - 1] as f64;
            let gy = p[(y + 1) * w + x] as f64 - p[(y - 1) * w + x] as f64;
            jxx += gx * gx;
            jyy += gy * gy;
            jxy += gx * gy;
        }
    }
    let trace = jxx + jyy;
    if trace <= f64::EPSILON {
        return 0.0;
    }
    let diff = ((jxx - jyy).powi(2) + 4.0 * jxy * jxy).sqrt();
    (diff / trace) as f32
}

/// Noise standard deviation in 8-bit levels (Immerkær 1996, "Fast noise
/// variance estimation"): the mask below cancels smooth gradients and edges of
/// first order, leaving mostly sensor grain. Measured on a central crop of at
/// most 512×512 of the working copy, since downscaling averages grain away.
pub fn noise_sigma(gray: &GrayImage) -> f32 {
    let (w, h) = gray.dimensions();
    let cw = w.min(512);
    let ch = h.min(512);
    let crop = imageops::crop_imm(gray, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
    let (w, h) = (cw as usize, ch as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let p = crop.as_raw();
    let at = |x: usize, y: usize| p[y * w + x] as f64;
    let mut total = 0f64;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let v = at(x - 1, y - 1) - 2.0 * at(x, y - 1) + at(x + 1, y - 1) - 2.0 * at(x - 1, y)
                + 4.0 * at(x, y)
                - 2.0 * at(x + 1, y)
                + at(x - 1, y + 1)
                - 2.0 * at(x, y + 1)
                + at(x + 1, y + 1);
            total += v.abs();
        }
    }
    let sigma =
        total * (std::f64::consts::FRAC_PI_2).sqrt() / (6.0 * (w - 2) as f64 * (h - 2) as f64);
    sigma as f32
}

/// Left/right luminance asymmetry inside a face box: |L − R| / (L + R), 0 for
/// even light, towards 1 when one half is in deep shadow. The central 80% of
/// the box is used so hair and background at its sides do not count.
pub fn face_shadow_asymmetry(gray: &GrayImage, face: Rect) -> f32 {
    let inner = Rect::new(
        face.x + face.width * 0.1,
        face.y + face.height * 0.1,
        face.width * 0.8,
        face.height * 0.8,
    );
    let crop = detail_crop(gray, inner);
    let (w, h) = crop.dimensions();
    if w < 2 {
        return 0.0;
    }
    let (mut left, mut right) = (0f64, 0f64);
    for y in 0..h {
        for x in 0..w {
            let v = crop.get_pixel(x, y)[0] as f64;
            if x < w / 2 {
                left += v;
            } else if x >= w.div_ceil(2) {
                right += v;
            }
        }
    }
    let total = left + right;
    if total <= 0.0 {
        return 0.0;
    }
    ((left - right).abs() / total) as f32
}

/// Grayscale analysis copy of the working image.
pub fn analysis_gray(image: &image::RgbImage, long_side: u32) -> GrayImage {
    gray_to_fit(image, long_side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn checker(size: u32, cell: u32) -> GrayImage {
        GrayImage::from_fn(size, size, |x, y| {
            Luma([if (x / cell + y / cell).is_multiple_of(2) {
                30
            } else {
                220
            }])
        })
    }

    #[test]
    fn blur_lowers_laplacian_variance() {
        let sharp = checker(200, 8);
        let blurred = imageops::blur(&sharp, 3.0);
        assert!(laplacian_variance(&sharp) > 10.0 * laplacian_variance(&blurred));
        assert_eq!(
            laplacian_variance(&GrayImage::from_pixel(50, 50, Luma([90]))),
            0.0
        );
    }

    #[test]
    fn stripes_are_directional_and_checkers_are_not() {
        let stripes = GrayImage::from_fn(100, 100, |x, _| {
            Luma([if (x / 5).is_multiple_of(2) { 0 } else { 255 }])
        });
        assert!(directional_energy_ratio(&stripes) > 0.95);
        assert!(directional_energy_ratio(&checker(100, 5)) < 0.1);
    }

    #[test]
    fn exposure_of_flat_images() {
        let black = exposure(&GrayImage::from_pixel(10, 10, Luma([0])));
        assert_eq!(black.mean_luminance, 0.0);
        assert_eq!(black.clipped_shadows, 1.0);
        let white = exposure(&GrayImage::from_pixel(10, 10, Luma([255])));
        assert_eq!(white.clipped_highlights, 1.0);
        assert!(exposure(&checker(100, 10)).contrast > 0.3);
    }

    #[test]
    fn noise_estimate_tracks_added_grain() {
        let smooth = GrayImage::from_fn(300, 300, |x, y| Luma([((x + y) / 3) as u8]));
        let mut state = 12345u32;
        let grainy = GrayImage::from_fn(300, 300, |x, y| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = ((state >> 16) % 41) as i32 - 20;
            Luma([(((x + y) / 3) as i32 + n).clamp(0, 255) as u8])
        });
        assert!(noise_sigma(&smooth) < 1.0);
        // Uniform noise in [-20, 20] has sigma ≈ 11.8.
        let sigma = noise_sigma(&grainy);
        assert!((8.0..16.0).contains(&sigma), "{sigma}");
    }

    #[test]
    fn half_shadowed_face_is_asymmetric() {
        let even = GrayImage::from_pixel(100, 100, Luma([150]));
        let face = Rect::new(10.0, 10.0, 80.0, 80.0);
        assert!(face_shadow_asymmetry(&even, face) < 0.01);
        let half = GrayImage::from_fn(100, 100, |x, _| Luma([if x < 50 { 30 } else { 180 }]));
        assert!(face_shadow_asymmetry(&half, face) > 0.5);
    }
}
