//! Float rasters and the separable building blocks every medium is made of.
//! Values are sRGB-encoded in 0..1; the media are tuned by eye in that space.

use image::RgbImage;
use rayon::prelude::*;

/// One channel, row-major.
#[derive(Clone, Debug)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub d: Vec<f32>,
}

/// Three channels, row-major, interleaved.
#[derive(Clone, Debug)]
pub struct Rgb {
    pub w: usize,
    pub h: usize,
    pub d: Vec<[f32; 3]>,
}

impl Plane {
    pub fn new(w: usize, h: usize, v: f32) -> Self {
        Self {
            w,
            h,
            d: vec![v; w * h],
        }
    }

    pub fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> f32 + Sync) -> Self {
        let mut d = vec![0.0; w * h];
        d.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
            for (x, v) in row.iter_mut().enumerate() {
                *v = f(x, y);
            }
        });
        Self { w, h, d }
    }

    /// A smooth field evaluated on a lattice `step` pixels apart and
    /// interpolated in between: for low-frequency noise, whose features span
    /// many pixels, this looks the same as evaluating every pixel at a fraction
    /// of the cost. `f` takes pixel coordinates.
    pub fn smooth_from_fn(
        w: usize,
        h: usize,
        step: usize,
        f: impl Fn(f32, f32) -> f32 + Sync,
    ) -> Self {
        let step = step.max(1);
        if step == 1 {
            return Self::from_fn(w, h, |x, y| f(x as f32, y as f32));
        }
        let (gw, gh) = (w.div_ceil(step) + 1, h.div_ceil(step) + 1);
        let grid = Self::from_fn(gw, gh, |gx, gy| f((gx * step) as f32, (gy * step) as f32));
        let inv = 1.0 / step as f32;
        Self::from_fn(w, h, |x, y| {
            let (gx, gy) = (x / step, y / step);
            let (tx, ty) = ((x % step) as f32 * inv, (y % step) as f32 * inv);
            let i = gy * gw + gx;
            let top = grid.d[i] + (grid.d[i + 1] - grid.d[i]) * tx;
            let bottom = grid.d[i + gw] + (grid.d[i + gw + 1] - grid.d[i + gw]) * tx;
            top + (bottom - top) * ty
        })
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.d[y * self.w + x]
    }

    /// Bilinear sample with clamped borders, coordinates in pixels (centres at +0.5).
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let fx = (x - 0.5).clamp(0.0, (self.w - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.h - 1) as f32);
        let x0 = fx as usize;
        let y0 = fy as usize;
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let tx = fx - x0 as f32;
        let ty = fy - y0 as f32;
        let a = self.d[y0 * self.w + x0] * (1.0 - tx) + self.d[y0 * self.w + x1] * tx;
        let b = self.d[y1 * self.w + x0] * (1.0 - tx) + self.d[y1 * self.w + x1] * tx;
        a * (1.0 - ty) + b * ty
    }

    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            d: self.d.par_iter().map(|&v| f(v)).collect(),
        }
    }

    pub fn zip(&self, other: &Plane, f: impl Fn(f32, f32) -> f32 + Sync) -> Plane {
        debug_assert_eq!((self.w, self.h), (other.w, other.h));
        Plane {
            w: self.w,
            h: self.h,
            d: self
                .d
                .par_iter()
                .zip(other.d.par_iter())
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// Bilinear resize; used to bring work-resolution fields up to output size.
    pub fn resized(&self, w: usize, h: usize) -> Plane {
        let (xs, ys) = (Taps::along(self.w, w), Taps::along(self.h, h));
        let mut d = vec![0.0; w * h];
        d.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
            let (y0, y1, ty) = ys.0[y];
            let (a, b) = (
                &self.d[y0 * self.w..(y0 + 1) * self.w],
                &self.d[y1 * self.w..(y1 + 1) * self.w],
            );
            for (v, &(x0, x1, tx)) in row.iter_mut().zip(&xs.0) {
                let top = a[x0] + (a[x1] - a[x0]) * tx;
                let bottom = b[x0] + (b[x1] - b[x0]) * tx;
                *v = top + (bottom - top) * ty;
            }
        });
        Plane { w, h, d }
    }

    pub fn mean(&self) -> f32 {
        self.d.iter().sum::<f32>() / self.d.len().max(1) as f32
    }
}

impl Rgb {
    pub fn from_image(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let d = img
            .pixels()
            .map(|p| {
                [
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ]
            })
            .collect();
        Self { w, h, d }
    }

    pub fn to_image(&self) -> RgbImage {
        let mut out = RgbImage::new(self.w as u32, self.h as u32);
        for (p, c) in out.pixels_mut().zip(&self.d) {
            // A NaN would quietly become a black pixel.
            debug_assert!(c.iter().all(|v| !v.is_nan()), "NaN in a render");
            for k in 0..3 {
                p[k] = (c[k].clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
        }
        out
    }

    pub fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> [f32; 3] + Sync) -> Self {
        let mut d = vec![[0.0; 3]; w * h];
        d.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
            for (x, v) in row.iter_mut().enumerate() {
                *v = f(x, y);
            }
        });
        Self { w, h, d }
    }

    pub fn channel(&self, k: usize) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            d: self.d.iter().map(|c| c[k]).collect(),
        }
    }

    pub fn from_planes(r: &Plane, g: &Plane, b: &Plane) -> Self {
        Self {
            w: r.w,
            h: r.h,
            d: r.d
                .iter()
                .zip(&g.d)
                .zip(&b.d)
                .map(|((&r, &g), &b)| [r, g, b])
                .collect(),
        }
    }

    pub fn luma(&self) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            d: self.d.iter().map(|c| luma(*c)).collect(),
        }
    }

    pub fn map_planes(&self, f: impl Fn(&Plane) -> Plane + Sync) -> Rgb {
        let planes: Vec<Plane> = (0..3)
            .into_par_iter()
            .map(|k| f(&self.channel(k)))
            .collect();
        Rgb::from_planes(&planes[0], &planes[1], &planes[2])
    }

    /// Bilinear resize, as `Plane::resized`.
    pub fn resized(&self, w: usize, h: usize) -> Rgb {
        let (xs, ys) = (Taps::along(self.w, w), Taps::along(self.h, h));
        let mut d = vec![[0.0; 3]; w * h];
        d.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
            let (y0, y1, ty) = ys.0[y];
            let (a, b) = (
                &self.d[y0 * self.w..(y0 + 1) * self.w],
                &self.d[y1 * self.w..(y1 + 1) * self.w],
            );
            for (v, &(x0, x1, tx)) in row.iter_mut().zip(&xs.0) {
                *v = std::array::from_fn(|k| {
                    let top = a[x0][k] + (a[x1][k] - a[x0][k]) * tx;
                    let bottom = b[x0][k] + (b[x1][k] - b[x0][k]) * tx;
                    top + (bottom - top) * ty
                });
            }
        });
        Rgb { w, h, d }
    }
}

/// The `crop` of `img` (whole pixels) resampled to `w` x `h` with a triangle
/// filter as wide as the scale, so a downscale averages every source pixel
/// instead of skipping some. Separable: rows first, then columns.
pub fn resample(img: &RgbImage, crop: likeness_core::Rect, w: usize, h: usize) -> Rgb {
    let (x0, y0) = (crop.x.max(0.0) as usize, crop.y.max(0.0) as usize);
    let cw = (crop.width as usize).clamp(1, img.width() as usize - x0);
    let ch = (crop.height as usize).clamp(1, img.height() as usize - y0);
    let xs = Filter::along(cw, w);
    let ys = Filter::along(ch, h);
    let raw = img.as_raw();
    let stride = img.width() as usize * 3;
    // Rows of the crop, filtered to the output width.
    let mut rows = vec![[0.0f32; 3]; ch * w];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        let line = &raw[(y0 + y) * stride + x0 * 3..(y0 + y) * stride + (x0 + cw) * 3];
        for (o, (start, weights)) in out.iter_mut().zip(&xs.0) {
            let mut acc = [0.0f32; 3];
            for (k, wt) in weights.iter().enumerate() {
                let p = &line[(start + k) * 3..(start + k) * 3 + 3];
                acc[0] += p[0] as f32 * wt;
                acc[1] += p[1] as f32 * wt;
                acc[2] += p[2] as f32 * wt;
            }
            *o = acc.map(|v| v / 255.0);
        }
    });
    let mut d = vec![[0.0f32; 3]; w * h];
    d.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        let (start, weights) = &ys.0[y];
        for (k, wt) in weights.iter().enumerate() {
            let src = &rows[(start + k) * w..(start + k + 1) * w];
            for (o, s) in out.iter_mut().zip(src) {
                o[0] += s[0] * wt;
                o[1] += s[1] * wt;
                o[2] += s[2] * wt;
            }
        }
    });
    Rgb { w, h, d }
}

/// Triangle-filter taps along one axis: for each destination index the first
/// source index and the normalised weights from there on.
struct Filter(Vec<(usize, Vec<f32>)>);

impl Filter {
    fn along(from: usize, to: usize) -> Self {
        let scale = from as f32 / to as f32;
        let support = scale.max(1.0);
        Self(
            (0..to)
                .map(|i| {
                    let centre = (i as f32 + 0.5) * scale;
                    let lo = ((centre - support).floor().max(0.0) as usize).min(from - 1);
                    let hi = ((centre + support).ceil() as usize).clamp(lo + 1, from);
                    let mut weights: Vec<f32> = (lo..hi)
                        .map(|j| (1.0 - ((j as f32 + 0.5 - centre) / support).abs()).max(0.0))
                        .collect();
                    let sum: f32 = weights.iter().sum();
                    if sum > 0.0 {
                        weights.iter_mut().for_each(|v| *v /= sum);
                    } else {
                        weights.iter_mut().for_each(|v| *v = 1.0 / (hi - lo) as f32);
                    }
                    (lo, weights)
                })
                .collect(),
        )
    }
}

/// For each destination index along one axis of a bilinear resize: the two
/// source indices and the weight of the second, worked out once per axis.
struct Taps(Vec<(usize, usize, f32)>);

impl Taps {
    fn along(from: usize, to: usize) -> Self {
        let scale = from as f32 / to as f32;
        Self(
            (0..to)
                .map(|i| {
                    // Same sampling as `Plane::sample`: centres at +0.5, clamped.
                    let f = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f32);
                    let i0 = f as usize;
                    (i0, (i0 + 1).min(from - 1), f - i0 as f32)
                })
                .collect(),
        )
    }
}

#[inline]
pub fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

#[inline]
pub fn mix3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

#[inline]
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The `q` quantile (0..1) of `v`, as `v` sorted would hold it at index
/// `(len - 1) * q`, found in linear time. Reorders `v`. Panics on an empty slice.
pub fn quantile(v: &mut [f32], q: f32) -> f32 {
    nth(v, ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)) as usize)
}

/// The value `v` sorted would hold at index `k`, in linear time. Reorders `v`.
pub fn nth(v: &mut [f32], k: usize) -> f32 {
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Scale saturation around the pixel's own luma.
#[inline]
pub fn saturate(c: [f32; 3], s: f32) -> [f32; 3] {
    let l = luma(c);
    [l + (c[0] - l) * s, l + (c[1] - l) * s, l + (c[2] - l) * s]
}

/// Running-sum box blur along rows then columns: O(1) per pixel whatever the radius.
pub fn box_blur(p: &Plane, r: usize) -> Plane {
    blur_passes(p, &[r])
}

/// Gaussian approximated by three box passes (within a few percent of the true kernel).
pub fn gauss(p: &Plane, sigma: f32) -> Plane {
    if sigma < 0.3 {
        return p.clone();
    }
    // Box widths for three passes whose combined variance matches sigma^2.
    let wi = ((12.0 * sigma * sigma / 3.0 + 1.0).sqrt()).floor();
    let wl = if (wi as i32) % 2 == 0 { wi - 1.0 } else { wi };
    let wu = wl + 2.0;
    let m = ((12.0 * sigma * sigma - 3.0 * wl * wl - 12.0 * wl - 9.0) / (-4.0 * wl - 4.0)).round();
    let radii: [usize; 3] = std::array::from_fn(|i| {
        let width = if (i as f32) < m { wl } else { wu };
        ((width - 1.0) / 2.0).max(0.0) as usize
    });
    blur_passes(p, &radii)
}

/// Box passes of the given radii, all along rows, then all along columns (with
/// clamped borders the two directions commute, so this equals alternating
/// them). Columns are summed a whole row at a time, so memory is read in order
/// and no transpose is needed.
fn blur_passes(p: &Plane, radii: &[usize]) -> Plane {
    let (w, h) = (p.w, p.h);
    if w == 0 || h == 0 || radii.iter().all(|&r| r == 0) {
        return p.clone();
    }
    let mut d = p.d.clone();
    d.par_chunks_mut(w).for_each(|row| {
        let mut scratch = vec![0.0f32; w];
        for &r in radii.iter().filter(|&&r| r > 0) {
            box_line(row, &mut scratch, r);
            row.copy_from_slice(&scratch);
        }
    });
    let mut out = vec![0.0f32; w * h];
    for &r in radii.iter().filter(|&&r| r > 0) {
        box_columns(&d, &mut out, w, h, r);
        std::mem::swap(&mut d, &mut out);
    }
    Plane { w, h, d }
}

/// One box pass along a line with clamped ends.
fn box_line(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    let inv = 1.0 / (2 * r + 1) as f32;
    let last = n - 1;
    let get = |i: isize| src[i.clamp(0, last as isize) as usize];
    let mut acc: f32 = (-(r as isize)..=r as isize).map(get).sum();
    for (x, v) in dst.iter_mut().enumerate() {
        *v = acc * inv;
        let xi = x as isize;
        acc += get(xi + r as isize + 1) - get(xi - r as isize);
    }
}

/// One box pass down every column at once: a running sum per column, updated a
/// row at a time.
fn box_columns(src: &[f32], dst: &mut [f32], w: usize, h: usize, r: usize) {
    let inv = 1.0 / (2 * r + 1) as f32;
    let row = |y: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        &src[y * w..(y + 1) * w]
    };
    let mut acc = vec![0.0f32; w];
    for dy in -(r as isize)..=r as isize {
        for (a, v) in acc.iter_mut().zip(row(dy)) {
            *a += v;
        }
    }
    for y in 0..h {
        let out = &mut dst[y * w..(y + 1) * w];
        let (add, sub) = (
            row(y as isize + r as isize + 1),
            row(y as isize - r as isize),
        );
        for (((o, a), p), m) in out.iter_mut().zip(acc.iter_mut()).zip(add).zip(sub) {
            *o = *a * inv;
            *a += p - m;
        }
    }
}

/// 1 on every pixel above `on` whose 8-connected region of such pixels has at
/// least `min_area` pixels, 0 elsewhere: drops isolated specks, keeps lines.
pub fn large_regions(p: &Plane, on: f32, min_area: usize) -> Plane {
    let above: Vec<bool> = p.d.iter().map(|&v| v > on).collect();
    let mut out = Plane::new(p.w, p.h, 0.0);
    let regions = Regions {
        w: p.w,
        h: p.h,
        diagonals: true,
    };
    regions.for_each(
        |i| above[i],
        |_, b| above[b],
        |region| {
            if region.len() >= min_area {
                for &i in region {
                    out.d[i] = 1.0;
                }
            }
        },
    );
    out
}

/// Connected regions of a `w` x `h` grid (4-connected, or 8 with `diagonals`).
pub struct Regions {
    pub w: usize,
    pub h: usize,
    pub diagonals: bool,
}

impl Regions {
    /// Calls `visit` once per region of the pixels where `member` holds, in
    /// which neighbours `a`, `b` belong together when `same(a, b)`, with the
    /// region's pixel indices.
    pub fn for_each(
        &self,
        member: impl Fn(usize) -> bool,
        same: impl Fn(usize, usize) -> bool,
        mut visit: impl FnMut(&[usize]),
    ) {
        let (w, h) = (self.w, self.h);
        let mut seen = vec![false; w * h];
        let mut region = Vec::new();
        let mut stack = Vec::new();
        for start in 0..w * h {
            if seen[start] || !member(start) {
                continue;
            }
            region.clear();
            seen[start] = true;
            stack.push(start);
            while let Some(i) = stack.pop() {
                region.push(i);
                let (x, y) = (i % w, i / w);
                for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        if !self.diagonals && nx != x && ny != y {
                            continue;
                        }
                        let j = ny * w + nx;
                        if !seen[j] && same(i, j) {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            visit(&region);
        }
    }
}

/// Central-difference gradients.
pub fn gradients(p: &Plane) -> (Plane, Plane) {
    let (w, h) = (p.w, p.h);
    let gx = Plane::from_fn(w, h, |x, y| {
        let l = p.at(x.saturating_sub(1), y);
        let r = p.at((x + 1).min(w - 1), y);
        (r - l) * 0.5
    });
    let gy = Plane::from_fn(w, h, |x, y| {
        let u = p.at(x, y.saturating_sub(1));
        let d = p.at(x, (y + 1).min(h - 1));
        (d - u) * 0.5
    });
    (gx, gy)
}

/// Local orientation from the smoothed structure tensor: per pixel the unit vector
/// along the edge (direction of least change) and the anisotropy in 0..1.
pub struct Flow {
    pub tx: Plane,
    pub ty: Plane,
    pub aniso: Plane,
}

pub fn structure_flow(l: &Plane, sigma: f32) -> Flow {
    let (gx, gy) = gradients(l);
    let exx = gauss(&gx.zip(&gx, |a, b| a * b), sigma);
    let eyy = gauss(&gy.zip(&gy, |a, b| a * b), sigma);
    let exy = gauss(&gx.zip(&gy, |a, b| a * b), sigma);
    let n = l.w * l.h;
    let mut tx = vec![0.0; n];
    let mut ty = vec![0.0; n];
    let mut an = vec![0.0; n];
    for i in 0..n {
        let (e, f, g) = (exx.d[i], exy.d[i], eyy.d[i]);
        let disc = ((e - g) * (e - g) + 4.0 * f * f).sqrt();
        let l1 = (e + g + disc) * 0.5;
        let l2 = (e + g - disc) * 0.5;
        // Major eigenvector: the dominant gradient direction.
        let (gx, gy) = if f.abs() > 1e-12 {
            (f, l1 - e)
        } else if e >= g {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        let len = (gx * gx + gy * gy).sqrt().max(1e-12);
        // The edge tangent is perpendicular to it.
        tx[i] = -gy / len;
        ty[i] = gx / len;
        an[i] = if l1 + l2 > 1e-9 {
            (l1 - l2) / (l1 + l2)
        } else {
            0.0
        };
    }
    Flow {
        tx: Plane {
            w: l.w,
            h: l.h,
            d: tx,
        },
        ty: Plane {
            w: l.w,
            h: l.h,
            d: ty,
        },
        aniso: Plane {
            w: l.w,
            h: l.h,
            d: an,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_keeps_a_constant_and_spreads_an_impulse() {
        let c = Plane::new(20, 10, 0.4);
        assert!(box_blur(&c, 3).d.iter().all(|v| (v - 0.4).abs() < 1e-5));
        let mut p = Plane::new(21, 21, 0.0);
        p.d[10 * 21 + 10] = 1.0;
        let g = gauss(&p, 2.0);
        let total: f32 = g.d.iter().sum();
        assert!((total - 1.0).abs() < 1e-3, "mass {total}");
        assert!(g.at(10, 10) < 0.1 && g.at(12, 10) > 0.0);
    }

    #[test]
    fn blurs_match_a_direct_sum_with_clamped_borders() {
        let (w, h) = (23, 17);
        let p = Plane::from_fn(w, h, |x, y| ((x * 7919 + y * 104_729) % 97) as f32 / 97.0);
        let direct = |p: &Plane, r: usize| {
            Plane::from_fn(w, h, |x, y| {
                let mut sum = 0.0;
                for dy in -(r as isize)..=r as isize {
                    for dx in -(r as isize)..=r as isize {
                        let xx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                        let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                        sum += p.at(xx, yy);
                    }
                }
                sum / ((2 * r + 1) * (2 * r + 1)) as f32
            })
        };
        for r in [1, 3, 9] {
            let fast = box_blur(&p, r);
            let slow = direct(&p, r);
            let worst = fast
                .d
                .iter()
                .zip(&slow.d)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "radius {r}: off by {worst}");
        }
        // Three passes along rows then three along columns equal three
        // alternating box blurs.
        let three = gauss(&p, 2.5);
        let radii: Vec<usize> = {
            let sigma: f32 = 2.5;
            let wi = ((12.0 * sigma * sigma / 3.0 + 1.0).sqrt()).floor();
            let wl = if (wi as i32) % 2 == 0 { wi - 1.0 } else { wi };
            let m = ((12.0 * sigma * sigma - 3.0 * wl * wl - 12.0 * wl - 9.0) / (-4.0 * wl - 4.0))
                .round();
            (0..3)
                .map(|i| {
                    let width = if (i as f32) < m { wl } else { wl + 2.0 };
                    ((width - 1.0) / 2.0) as usize
                })
                .collect()
        };
        let alternating = radii.iter().fold(p.clone(), |acc, &r| direct(&acc, r));
        let worst = three
            .d
            .iter()
            .zip(&alternating.d)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "gauss off by {worst}");
    }

    #[test]
    fn resampling_a_crop_averages_it() {
        // Left half black, right half white, 40 x 20; the crop is the middle 20 x 20.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            image::Rgb(if x < 20 { [0, 0, 0] } else { [255; 3] })
        });
        let crop = likeness_core::Rect::new(10.0, 0.0, 20.0, 20.0);
        let small = resample(&img, crop, 4, 4);
        let row: Vec<f32> = (0..4).map(|x| small.d[4 + x][0]).collect();
        assert!(row[0] < 0.05 && row[3] > 0.95, "{row:?}");
        assert!(
            (row[1] + row[2] - 1.0).abs() < 0.05,
            "symmetric about the edge: {row:?}"
        );
        let same = resample(&img, crop, 20, 20);
        assert_eq!(same.d[5 * 20 + 3][0], 0.0);
        assert_eq!(same.d[5 * 20 + 15][0], 1.0);
    }

    #[test]
    fn large_regions_keep_a_line_and_drop_a_speck() {
        let p = Plane::from_fn(20, 20, |x, y| {
            let line = y == 5 && (2..18).contains(&x);
            let speck = (x, y) == (10, 14) || (x, y) == (11, 15);
            if line || speck { 1.0 } else { 0.0 }
        });
        let kept = large_regions(&p, 0.5, 5);
        assert_eq!(kept.at(9, 5), 1.0);
        assert_eq!(
            kept.at(10, 14),
            0.0,
            "the diagonal pair is one small region"
        );
        assert_eq!(kept.d.iter().sum::<f32>(), 16.0);
    }

    #[test]
    fn flow_follows_a_vertical_edge() {
        let p = Plane::from_fn(32, 32, |x, _| if x < 16 { 0.0 } else { 1.0 });
        let f = structure_flow(&p, 2.0);
        let i = 16 * 32 + 16;
        assert!(f.ty.d[i].abs() > 0.9, "tangent should be vertical");
        assert!(f.aniso.d[i] > 0.9);
    }
}
