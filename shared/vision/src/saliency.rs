//! Main subject box for photos without faces (pets): spectral residual saliency
//! (Hou & Zhang, CVPR 2007).
//!
//! The log amplitude spectrum of natural images is smooth; what sticks out of
//! it (the residual against a local average) carries the unexpected, salient
//! structure. Keeping the phase and exponentiating the residual gives a
//! saliency map, computed on a small fixed-size copy (64 px wide), so its cost
//! is constant.

use image::{GrayImage, Luma, imageops};
use likeness_core::Rect;

const MAP_SIZE: usize = 64;

/// The salient region's box in the coordinates of `gray`, with the share of the
/// map's saliency it holds; `None` for featureless images.
pub fn salient_box(gray: &GrayImage) -> Option<(Rect, f32)> {
    let (w, h) = gray.dimensions();
    if w < 8 || h < 8 {
        return None;
    }
    let small = imageops::resize(
        gray,
        MAP_SIZE as u32,
        MAP_SIZE as u32,
        imageops::FilterType::Triangle,
    );
    if is_featureless(&small) {
        return None;
    }
    let map = saliency_map(&small)?;
    let (bx, share) = main_region(&map)?;
    let sx = w as f32 / MAP_SIZE as f32;
    let sy = h as f32 / MAP_SIZE as f32;
    Some((
        Rect::new(bx.x * sx, bx.y * sy, bx.width * sx, bx.height * sy),
        share,
    ))
}

/// Under two levels of standard deviation there is nothing to single out.
fn is_featureless(small: &GrayImage) -> bool {
    let n = small.as_raw().len() as f64;
    let mean = small.as_raw().iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = small
        .as_raw()
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var < 4.0
}

#[derive(Clone, Copy)]
struct C(f64, f64);

impl C {
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
}

/// In-place 1-D DFT of each row then each column (64 points: a direct sum is cheap).
fn dft2(data: &mut [C], inverse: bool) {
    let n = MAP_SIZE;
    let sign = if inverse { 1.0 } else { -1.0 };
    let twiddle: Vec<C> = (0..n)
        .map(|k| {
            let a = sign * 2.0 * std::f64::consts::PI * k as f64 / n as f64;
            C(a.cos(), a.sin())
        })
        .collect();
    let mut line = vec![C(0.0, 0.0); n];
    for pass in 0..2 {
        for i in 0..n {
            let idx = |j: usize| if pass == 0 { i * n + j } else { j * n + i };
            for (k, out) in line.iter_mut().enumerate() {
                let mut acc = C(0.0, 0.0);
                for j in 0..n {
                    let v = data[idx(j)].mul(twiddle[(j * k) % n]);
                    acc = C(acc.0 + v.0, acc.1 + v.1);
                }
                *out = acc;
            }
            for (j, v) in line.iter().enumerate() {
                data[idx(j)] = *v;
            }
        }
    }
}

fn saliency_map(small: &GrayImage) -> Option<Vec<f64>> {
    let n = MAP_SIZE;
    let mut spec: Vec<C> = small
        .as_raw()
        .iter()
        .map(|&v| C(v as f64 / 255.0, 0.0))
        .collect();
    dft2(&mut spec, false);
    let log_amp: Vec<f64> = spec.iter().map(|c| (c.0.hypot(c.1) + 1e-9).ln()).collect();
    let avg = box3(&log_amp, n);
    for (i, c) in spec.iter_mut().enumerate() {
        let amp = c.0.hypot(c.1);
        let residual = (log_amp[i] - avg[i]).exp();
        *c = if amp > 0.0 {
            C(c.0 / amp * residual, c.1 / amp * residual)
        } else {
            C(0.0, 0.0)
        };
    }
    dft2(&mut spec, true);
    let raw: Vec<f64> = spec.iter().map(|c| c.0 * c.0 + c.1 * c.1).collect();
    let mut map = gaussian(&raw, n, 2.5);
    // Photographers centre their subject; the residual alone favours small
    // oddities anywhere (an ear tip in a corner) over a frame-filling animal.
    let sigma = 0.35 * n as f64;
    let c = (n as f64 - 1.0) / 2.0;
    for (i, v) in map.iter_mut().enumerate() {
        let (x, y) = ((i % n) as f64 - c, (i / n) as f64 - c);
        *v *= (-(x * x + y * y) / (2.0 * sigma * sigma)).exp();
    }
    let max = map.iter().cloned().fold(0.0, f64::max);
    if !max.is_finite() || max <= 0.0 {
        return None;
    }
    Some(map.into_iter().map(|v| v / max).collect())
}

fn box3(data: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; data.len()];
    for y in 0..n {
        for x in 0..n {
            let mut s = 0.0;
            for dy in [n - 1, 0, 1] {
                for dx in [n - 1, 0, 1] {
                    // Wrap around: the spectrum is periodic.
                    s += data[((y + dy) % n) * n + (x + dx) % n];
                }
            }
            out[y * n + x] = s / 9.0;
        }
    }
    out
}

fn gaussian(data: &[f64], n: usize, sigma: f64) -> Vec<f64> {
    let r = (sigma * 3.0).ceil() as isize;
    let kernel: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f64 = kernel.iter().sum();
    let pass = |src: &[f64], horizontal: bool| {
        let mut out = vec![0.0; src.len()];
        for y in 0..n {
            for x in 0..n {
                let mut s = 0.0;
                for (k, wgt) in kernel.iter().enumerate() {
                    let o = k as isize - r;
                    let (sx, sy) = if horizontal {
                        ((x as isize + o).clamp(0, n as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + o).clamp(0, n as isize - 1) as usize)
                    };
                    s += src[sy * n + sx] * wgt;
                }
                out[y * n + x] = s / norm;
            }
        }
        out
    };
    pass(&pass(data, true), false)
}

/// Threshold at three times the mean (Hou & Zhang's choice), keep the connected
/// region holding the most saliency, and box it.
fn main_region(map: &[f64]) -> Option<(Rect, f32)> {
    let n = MAP_SIZE;
    let mean = map.iter().sum::<f64>() / map.len() as f64;
    let threshold = (mean * 2.0).min(0.5);
    let total: f64 = map.iter().sum();
    let mut label = vec![0u32; map.len()];
    let mut best: Option<(f64, Rect)> = None;
    let mut next = 0u32;
    for start in 0..map.len() {
        if map[start] < threshold || label[start] != 0 {
            continue;
        }
        next += 1;
        let mut stack = vec![start];
        label[start] = next;
        let (mut x0, mut y0, mut x1, mut y1, mut mass) = (n, n, 0, 0, 0.0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % n, i / n);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            mass += map[i];
            let mut visit = |j: usize| {
                if map[j] >= threshold && label[j] == 0 {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < n {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - n);
            }
            if y + 1 < n {
                visit(i + n);
            }
        }
        let rect = Rect::new(
            x0 as f32,
            y0 as f32,
            (x1 - x0 + 1) as f32,
            (y1 - y0 + 1) as f32,
        );
        if best.as_ref().is_none_or(|(m, _)| mass > *m) {
            best = Some((mass, rect));
        }
    }
    best.map(|(mass, rect)| (rect, (mass / total) as f32))
}

/// The saliency map itself, as an 8-bit image (for inspection and docs).
pub fn saliency_image(gray: &GrayImage) -> Option<GrayImage> {
    let small = imageops::resize(
        gray,
        MAP_SIZE as u32,
        MAP_SIZE as u32,
        imageops::FilterType::Triangle,
    );
    let map = saliency_map(&small)?;
    Some(GrayImage::from_fn(
        MAP_SIZE as u32,
        MAP_SIZE as u32,
        |x, y| Luma([(map[y as usize * MAP_SIZE + x as usize] * 255.0) as u8]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_blob_on_a_plain_background() {
        let img = GrayImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = (x as f32 - 280.0, y as f32 - 100.0);
            Luma([if dx * dx + dy * dy < 40.0 * 40.0 {
                230
            } else {
                40
            }])
        });
        let (b, _) = salient_box(&img).expect("a salient region");
        let c = b.center();
        assert!(
            (c.x - 280.0).abs() < 40.0 && (c.y - 100.0).abs() < 40.0,
            "{b:?}"
        );
    }

    #[test]
    fn flat_images_have_no_subject() {
        assert!(salient_box(&GrayImage::from_pixel(100, 100, Luma([128]))).is_none());
        assert!(salient_box(&GrayImage::new(4, 4)).is_none());
    }
}
