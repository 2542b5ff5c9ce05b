//! Bicubic resizing with Pillow's arithmetic, so that the IP-Adapter's image encoder
//! sees the same pixels as under `CLIPImageProcessor` (which resizes with
//! `PIL.Image.resize(..., BICUBIC)`).
//!
//! Pillow resamples separably (rows first unless only the height shrinks while the
//! width grows, with an 8-bit image in between), widens the kernel by the scale factor when shrinking (antialiasing),
//! uses the cubic convolution kernel with a = −0.5, and sums with coefficients in
//! 22-bit fixed point, rounding half up and clamping to 0..=255 after each pass.

use image::RgbImage;

/// Fixed-point bits of the coefficients: 32 bits less 8 for the pixel and 2 spare.
const PRECISION_BITS: u32 = 32 - 8 - 2;
const SUPPORT: f64 = 2.0;

fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position: the first input index and the fixed-point weights.
struct Coeffs {
    first: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coefficients(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // Pillow truncates `center ± support + 0.5` with a C cast.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let raw: Vec<f64> = (0..n)
            .map(|x| cubic((x as f64 + xmin as f64 - center + 0.5) / filterscale))
            .collect();
        let total: f64 = raw.iter().sum();
        let one = f64::from(1u32 << PRECISION_BITS);
        let fixed = raw
            .iter()
            .map(|w| {
                let w = if total != 0.0 { w / total } else { *w };
                // C's (int) truncation of a value rounded half away from zero.
                if w < 0.0 {
                    (-0.5 + w * one) as i32
                } else {
                    (0.5 + w * one) as i32
                }
            })
            .collect();
        first.push(xmin);
        weights.push(fixed);
    }
    Coeffs { first, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn pass(
    src: &[u8],
    (w, h): (usize, usize),
    out_len: usize,
    horizontal: bool,
    c: &Coeffs,
) -> Vec<u8> {
    let (ow, oh) = if horizontal {
        (out_len, h)
    } else {
        (w, out_len)
    };
    let mut out = vec![0u8; ow * oh * 3];
    for y in 0..oh {
        for x in 0..ow {
            let (pos, fixed_index) = if horizontal { (x, y) } else { (y, x) };
            let start = c.first[pos];
            for ch in 0..3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (k, &wt) in c.weights[pos].iter().enumerate() {
                    let i = start + k;
                    let idx = if horizontal {
                        (fixed_index * w + i) * 3 + ch
                    } else {
                        (i * w + fixed_index) * 3 + ch
                    };
                    acc += i64::from(src[idx]) * i64::from(wt);
                }
                out[(y * ow + x) * 3 + ch] = clip8(acc);
            }
        }
    }
    out
}

/// `PIL.Image.resize((width, height), Image.BICUBIC)` of an RGB image.
pub fn resize_bicubic(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (width as usize, height as usize);
    if (w, h) == (ow, oh) || w == 0 || h == 0 || ow == 0 || oh == 0 {
        return if (w, h) == (ow, oh) {
            img.clone()
        } else {
            RgbImage::new(width, height)
        };
    }
    let data = img.as_raw();
    // Pillow resizes rows first, except when the width grows while the height
    // shrinks: then it shrinks first (found against Pillow 13 on mixed cases).
    let data = if ow == w {
        pass(data, (w, h), oh, false, &coefficients(h, oh))
    } else if oh == h {
        pass(data, (w, h), ow, true, &coefficients(w, ow))
    } else if !(ow > w && oh < h) {
        let tmp = pass(data, (w, h), ow, true, &coefficients(w, ow));
        pass(&tmp, (ow, h), oh, false, &coefficients(h, oh))
    } else {
        let tmp = pass(data, (w, h), oh, false, &coefficients(h, oh));
        pass(&tmp, (w, oh), ow, true, &coefficients(w, ow))
    };
    RgbImage::from_raw(width, height, data).expect("buffer sized for the output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(200, 37), (37, 200), (305, 224), (7, 7)] {
            let c = coefficients(i, o);
            for w in &c.weights {
                let s: i64 = w.iter().map(|&x| i64::from(x)).sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= w.len() as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    #[test]
    fn flat_image_stays_flat() {
        let img = RgbImage::from_pixel(13, 9, image::Rgb([10, 128, 255]));
        let out = resize_bicubic(&img, 31, 4);
        assert!(out.pixels().all(|p| p.0 == [10, 128, 255]));
    }
}
