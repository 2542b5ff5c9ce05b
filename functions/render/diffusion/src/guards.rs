//! Likeness guards applied to the predicted clean latent at every step.
//!
//! Both work on one sample's latent laid out `[C, h, w]` and pull it toward the
//! reference latent (the VAE encoding of the photo):
//! - the colour constraint matches per-channel mean and standard deviation inside the
//!   subject region, so skin, fur and clothing keep their tones;
//! - low-frequency anchoring replaces cell averages (a box low-pass over
//!   `cell`×`cell` latent pixels) by the reference's, so pose and layout stay put
//!   while the style rewrites detail.

use serde::{Deserialize, Serialize};

/// A rectangle in latent pixels, end-exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatentRegion {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

/// Guard strengths at the first executed step; each decays linearly over the steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Guards {
    /// 0 = off, 1 = subject statistics fully replaced by the reference's.
    pub colour: f32,
    /// 0 = off, 1 = low frequencies fully replaced by the reference's.
    pub anchor: f32,
    /// Low-pass cell size in latent pixels (8 = 64 image pixels for SD).
    pub anchor_cell: usize,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            colour: 0.5,
            anchor: 0.3,
            anchor_cell: 8,
        }
    }
}

impl Guards {
    pub const OFF: Guards = Guards {
        colour: 0.0,
        anchor: 0.0,
        anchor_cell: 8,
    };
}

/// Strength at executed step `i` of `n`: `w`, falling linearly to `w / n` at the last
/// step, so guards steer composition early and leave late detail to the style.
pub fn decayed(w: f32, i: usize, n: usize) -> f32 {
    if n == 0 {
        return 0.0;
    }
    w * (1.0 - i as f32 / n as f32)
}

fn stats(v: &[f32], w: usize, r: LatentRegion) -> (f64, f64) {
    let n = ((r.x1 - r.x0) * (r.y1 - r.y0)) as f64;
    let mut s = 0.0;
    let mut s2 = 0.0;
    for y in r.y0..r.y1 {
        for &p in &v[y * w + r.x0..y * w + r.x1] {
            s += p as f64;
            s2 += (p as f64) * (p as f64);
        }
    }
    let mean = s / n;
    (mean, (s2 / n - mean * mean).max(0.0).sqrt())
}

/// Pulls each channel's mean and std inside `region` toward the reference's.
pub fn colour_constraint(
    x: &mut [f32],
    reference: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    region: LatentRegion,
    weight: f32,
) {
    if weight <= 0.0 || region.x1 <= region.x0 || region.y1 <= region.y0 {
        return;
    }
    let plane = h * w;
    for c in 0..channels {
        let xs = &mut x[c * plane..(c + 1) * plane];
        let (mx, sx) = stats(xs, w, region);
        let (mr, sr) = stats(&reference[c * plane..(c + 1) * plane], w, region);
        // A flat channel has no contrast to rescale; only its mean moves.
        let gain = if sx > 1e-8 { sr / sx } else { 1.0 };
        for y in region.y0..region.y1 {
            for p in &mut xs[y * w + region.x0..y * w + region.x1] {
                let target = (*p as f64 - mx) * gain + mr;
                *p += (weight as f64 * (target - *p as f64)) as f32;
            }
        }
    }
}

/// Cell means of one `[h, w]` plane (cells clipped at the border).
pub fn low_pass(v: &[f32], h: usize, w: usize, cell: usize) -> Vec<f32> {
    let cell = cell.max(1);
    let mut out = vec![0f32; h * w];
    for cy in (0..h).step_by(cell) {
        for cx in (0..w).step_by(cell) {
            let (y1, x1) = ((cy + cell).min(h), (cx + cell).min(w));
            let mut s = 0.0f64;
            for y in cy..y1 {
                for x in cx..x1 {
                    s += v[y * w + x] as f64;
                }
            }
            let m = (s / ((y1 - cy) * (x1 - cx)) as f64) as f32;
            for y in cy..y1 {
                for x in cx..x1 {
                    out[y * w + x] = m;
                }
            }
        }
    }
    out
}

/// Moves each channel's low frequencies toward the reference's by `weight`.
pub fn anchor_low_frequencies(
    x: &mut [f32],
    reference: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    cell: usize,
    weight: f32,
) {
    if weight <= 0.0 {
        return;
    }
    let plane = h * w;
    for c in 0..channels {
        let range = c * plane..(c + 1) * plane;
        let lx = low_pass(&x[range.clone()], h, w, cell);
        let lr = low_pass(&reference[range.clone()], h, w, cell);
        for ((p, a), b) in x[range].iter_mut().zip(lx).zip(lr) {
            *p += weight * (b - a);
        }
    }
}
