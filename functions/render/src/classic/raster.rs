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
        let sx = self.w as f32 / w as f32;
        let sy = self.h as f32 / h as f32;
        Plane::from_fn(w, h, |x, y| {
            self.sample((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy)
        })
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

    pub fn resized(&self, w: usize, h: usize) -> Rgb {
        self.map_planes(|p| p.resized(w, h))
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

/// Scale saturation around the pixel's own luma.
#[inline]
pub fn saturate(c: [f32; 3], s: f32) -> [f32; 3] {
    let l = luma(c);
    [l + (c[0] - l) * s, l + (c[1] - l) * s, l + (c[2] - l) * s]
}

/// Running-sum box blur along rows then columns: O(1) per pixel whatever the radius.
pub fn box_blur(p: &Plane, r: usize) -> Plane {
    if r == 0 {
        return p.clone();
    }
    let rows = box_rows(&p.d, p.w, p.h, r);
    let t = transpose(&rows, p.w, p.h);
    let cols = box_rows(&t, p.h, p.w, r);
    Plane {
        w: p.w,
        h: p.h,
        d: transpose(&cols, p.h, p.w),
    }
}

fn box_rows(d: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    out.par_chunks_mut(w)
        .zip(d.par_chunks(w))
        .for_each(|(o, row)| {
            let n = (2 * r + 1) as f32;
            let get = |i: isize| row[i.clamp(0, w as isize - 1) as usize];
            let mut acc: f32 = (-(r as isize)..=r as isize).map(get).sum();
            for (x, v) in o.iter_mut().enumerate() {
                *v = acc / n;
                let xi = x as isize;
                acc += get(xi + r as isize + 1) - get(xi - r as isize);
            }
        });
    let _ = h;
    out
}

fn transpose(d: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    const B: usize = 32;
    for by in (0..h).step_by(B) {
        for bx in (0..w).step_by(B) {
            for y in by..(by + B).min(h) {
                for x in bx..(bx + B).min(w) {
                    out[x * h + y] = d[y * w + x];
                }
            }
        }
    }
    out
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
    let mut out = p.clone();
    for i in 0..3 {
        let width = if (i as f32) < m { wl } else { wu };
        out = box_blur(&out, ((width - 1.0) / 2.0).max(0.0) as usize);
    }
    out
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
    fn flow_follows_a_vertical_edge() {
        let p = Plane::from_fn(32, 32, |x, _| if x < 16 { 0.0 } else { 1.0 });
        let f = structure_flow(&p, 2.0);
        let i = 16 * 32 + 16;
        assert!(f.ty.d[i].abs() > 0.9, "tangent should be vertical");
        assert!(f.aniso.d[i] > 0.9);
    }
}
