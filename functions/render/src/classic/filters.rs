//! Edge-preserving smoothing (guided filter), anisotropic Kuwahara, difference of
//! Gaussians and line-integral convolution: the operators the media share.

use super::raster::{Flow, Plane, Rgb, box_blur, gauss};
use rayon::prelude::*;

/// He et al.'s guided filter with the luma as guide: smooths flat areas, keeps
/// edges the guide has. O(1) per pixel in `r`.
pub fn guided(src: &Rgb, r: usize, eps: f32) -> Rgb {
    let guide = src.luma();
    let mean_i = box_blur(&guide, r);
    let corr_i = box_blur(&guide.map(|v| v * v), r);
    let var_i = corr_i.zip(&mean_i, |c, m| c - m * m);
    src.map_planes(|p| {
        let mean_p = box_blur(p, r);
        let corr_ip = box_blur(&guide.zip(p, |a, b| a * b), r);
        let n = p.d.len();
        let mut a = Plane::new(p.w, p.h, 0.0);
        let mut b = Plane::new(p.w, p.h, 0.0);
        for i in 0..n {
            let cov = corr_ip.d[i] - mean_i.d[i] * mean_p.d[i];
            a.d[i] = cov / (var_i.d[i] + eps);
            b.d[i] = mean_p.d[i] - a.d[i] * mean_i.d[i];
        }
        let ma = box_blur(&a, r);
        let mb = box_blur(&b, r);
        Plane {
            w: p.w,
            h: p.h,
            d: (0..n).map(|i| ma.d[i] * guide.d[i] + mb.d[i]).collect(),
        }
    })
}

/// Anisotropic Kuwahara filter (Kyprianidis et al.) with polynomial sector weights.
/// Each pixel takes the mean of the least-varied of eight sectors of an ellipse
/// aligned with the local flow: flat patches with crisp, brush-like boundaries.
/// `radius` gives the per-pixel radius in pixels (faces get a smaller one).
pub fn kuwahara(src: &Rgb, flow: &Flow, radius: &Plane, sharpness: f32) -> Rgb {
    const N: usize = 8;
    let (w, h) = (src.w, src.h);
    let half_q = sharpness * 0.5;
    let sigma_pow = |var: f32| {
        if half_q == 4.0 {
            var * var
        } else {
            var.sqrt().powf(half_q)
        }
    };
    let sin_n = (std::f32::consts::PI / N as f32).sin();
    let cos_n = (std::f32::consts::PI / N as f32).cos();
    // Sparse taps read a copy box-filtered over their spacing, so each tap
    // stands for the pixels around it and fine texture does not alias.
    let max_step = radius.d.iter().map(|&r| tap_step(r)).max().unwrap_or(1);
    let prefiltered: Vec<Rgb> = (1..=max_step)
        .map(|step| {
            if step == 1 {
                src.clone()
            } else {
                src.map_planes(|p| box_blur(p, step as usize / 2))
            }
        })
        .collect();
    let mut out = vec![[0.0f32; 3]; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, o) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let r = radius.d[i].max(1.0);
            let a_ = flow.aniso.d[i];
            let ea = r * ((1.0 + a_) / 1.0).clamp(0.1, 2.0);
            let eb = r * (1.0 / (1.0 + a_)).clamp(0.1, 2.0);
            let (cphi, sphi) = (flow.tx.d[i], flow.ty.d[i]);
            let max_x = (ea * ea * cphi * cphi + eb * eb * sphi * sphi)
                .sqrt()
                .ceil() as isize;
            let max_y = (ea * ea * sphi * sphi + eb * eb * cphi * cphi)
                .sqrt()
                .ceil() as isize;
            let zeta = 2.0 / r;
            let eta = (zeta + cos_n) / (sin_n * sin_n);
            let step = tap_step(r);
            let taps = &prefiltered[step as usize - 1].d;
            // Sector sums, one array per quantity so the eight sectors update
            // as vectors: weight, colour and squared colour.
            let mut mw = [0.0f32; N];
            let mut m = [[0.0f32; N]; 3];
            let mut s = [[0.0f32; N]; 3];
            let mut dy = -max_y;
            while dy <= max_y {
                let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                let mut dx = -max_x;
                while dx <= max_x {
                    let (fx, fy) = (dx as f32, dy as f32);
                    // Rotate into the ellipse frame and normalise to the unit disc.
                    let vx = (cphi * fx + sphi * fy) / ea;
                    let vy = (-sphi * fx + cphi * fy) / eb;
                    let d2 = vx * vx + vy * vy;
                    if d2 <= 1.0 {
                        let xx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                        let c = taps[yy * w + xx];
                        let mut wk = [0.0f32; N];
                        let weights = |wk: &mut [f32; N], vx: f32, vy: f32, off: usize| {
                            let vxx = zeta - eta * vx * vx;
                            let vyy = zeta - eta * vy * vy;
                            let z = [
                                (vy + vxx).max(0.0),
                                (-vx + vyy).max(0.0),
                                (-vy + vxx).max(0.0),
                                (vx + vyy).max(0.0),
                            ];
                            for (k, z) in z.iter().enumerate() {
                                wk[off + 2 * k] = z * z;
                            }
                        };
                        weights(&mut wk, vx, vy, 0);
                        let r2 = std::f32::consts::FRAC_1_SQRT_2;
                        weights(&mut wk, r2 * (vx - vy), r2 * (vx + vy), 1);
                        let sum: f32 = wk.iter().sum();
                        if sum > 0.0 {
                            // exp(-0.78 d2) by its Taylor series: d2 <= 1, so four
                            // terms are within 0.3 %.
                            let a = 0.78 * d2;
                            let g = 1.0 - a * (1.0 - a * (0.5 - a * (1.0 / 6.0 - a / 24.0)));
                            let g = g / sum;
                            let sq = [c[0] * c[0], c[1] * c[1], c[2] * c[2]];
                            for k in 0..N {
                                let wv = wk[k] * g;
                                mw[k] += wv;
                                for ch in 0..3 {
                                    m[ch][k] += c[ch] * wv;
                                    s[ch][k] += sq[ch] * wv;
                                }
                            }
                        }
                    }
                    dx += step;
                }
                dy += step;
            }
            let mut acc = [0.0f32; 3];
            let mut wsum = 0.0;
            for k in 0..N {
                if mw[k] <= 0.0 {
                    continue;
                }
                let inv = 1.0 / mw[k];
                let mean = [m[0][k] * inv, m[1][k] * inv, m[2][k] * inv];
                let var = (s[0][k] * inv - mean[0] * mean[0]).abs()
                    + (s[1][k] * inv - mean[1] * mean[1]).abs()
                    + (s[2][k] * inv - mean[2] * mean[2]).abs();
                // 255-scaled deviation so `sharpness` behaves as in the paper
                // (q = 8, where sigma^q/2 is the squared variance: no powf).
                let var255 = var * 255.0 * 255.0;
                let a = 1.0 / (1.0 + sigma_pow(var255));
                acc[0] += mean[0] * a;
                acc[1] += mean[1] * a;
                acc[2] += mean[2] * a;
                wsum += a;
            }
            *o = if wsum > 0.0 {
                [acc[0] / wsum, acc[1] / wsum, acc[2] / wsum]
            } else {
                src.d[i]
            };
        }
    });
    Rgb { w, h, d: out }
}

/// The spacing of Kuwahara's taps for a radius: about a third of it, so every
/// kernel has 15-30 taps whatever its size; eight sectors' means and spreads
/// are stable at that density.
fn tap_step(r: f32) -> isize {
    ((r.max(1.0) / 3.0).round() as isize).max(1)
}

/// Difference of Gaussians G_sigma - G_(k sigma): negative on the dark side of
/// every edge at the scale sigma; the media turn it into ink with their own curve.
pub fn dog(l: &Plane, sigma: f32, k: f32) -> Plane {
    let a = gauss(l, sigma);
    let b = gauss(l, sigma * k);
    a.zip(&b, |a, b| a - b)
}

/// Flow-based difference of Gaussians (Kang, Lee and Chui 2007): the DoG is
/// taken across the edge only, along the gradient of the local `flow`, and
/// then smoothed along the edge by following the flow's streamline for about
/// `2 sigma_m` pixels each way. Noise across a contour cancels while the
/// contour itself accumulates, so lines come out long and continuous instead
/// of the isotropic DoG's broken dashes and specks. With a `region`, only
/// the pixels where it is above zero are evaluated (0 elsewhere): a finer
/// scale that is only blended in on the face need not cover the frame.
pub fn fdog(
    l: &Plane,
    flow: &Flow,
    sigma: f32,
    k: f32,
    sigma_m: f32,
    region: Option<&Plane>,
) -> Plane {
    let (w, h) = (l.w, l.h);
    let wanted = |i: usize| region.is_none_or(|r| r.d[i] > 0.0);
    let sigma = sigma.max(0.5);
    let outer = sigma * k;
    let reach = (2.5 * outer).ceil() as i32;
    let kernel = |s: f32, sd: f32| (-0.5 * s * s / (sd * sd)).exp();
    let (inner_sum, outer_sum) = (-reach..=reach).fold((0.0, 0.0), |(a, b), s| {
        (a + kernel(s as f32, sigma), b + kernel(s as f32, outer))
    });
    let taps: Vec<(f32, f32)> = (-reach..=reach)
        .map(|s| {
            let s = s as f32;
            (
                s,
                kernel(s, sigma) / inner_sum - kernel(s, outer) / outer_sum,
            )
        })
        .collect();
    // The walk along the edge reads the cross-edge pass a few pixels away:
    // it is evaluated over the region grown by that reach.
    let steps = (2.0 * sigma_m).ceil().max(1.0) as usize;
    let grown = region.map(|r| {
        let above = r.map(|v| if v > 0.0 { 1.0 } else { 0.0 });
        super::raster::box_blur(&above, steps + 1)
    });
    let across = Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        if grown.as_ref().is_some_and(|g| g.d[i] <= 0.0) {
            return 0.0;
        }
        // The gradient is the tangent turned a quarter.
        let (nx, ny) = (flow.ty.d[i], -flow.tx.d[i]);
        let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
        taps.iter()
            .map(|&(s, wt)| l.sample(cx + s * nx, cy + s * ny) * wt)
            .sum()
    });
    let along: Vec<f32> = (1..=steps).map(|s| kernel(s as f32, sigma_m)).collect();
    Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        if !wanted(i) {
            return 0.0;
        }
        let mut acc = across.d[i];
        let mut total = 1.0;
        for dir in [1.0f32, -1.0] {
            let (mut px, mut py) = (x as f32 + 0.5, y as f32 + 0.5);
            let (mut tx, mut ty) = (flow.tx.d[i] * dir, flow.ty.d[i] * dir);
            for &wt in &along {
                px += tx;
                py += ty;
                if px < 0.0 || py < 0.0 || px >= w as f32 || py >= h as f32 {
                    break;
                }
                let j = py as usize * w + px as usize;
                // Orientation has no sign: keep going the way we came.
                let (mut nx, mut ny) = (flow.tx.d[j], flow.ty.d[j]);
                if nx * tx + ny * ty < 0.0 {
                    (nx, ny) = (-nx, -ny);
                }
                (tx, ty) = (nx, ny);
                acc += across.sample(px, py) * wt;
                total += wt;
            }
        }
        acc / total
    })
}

#[cfg(test)]
mod tests {
    use super::super::raster::structure_flow;
    use super::*;

    #[test]
    fn guided_filter_flattens_noise_but_keeps_a_step() {
        let src = Plane::from_fn(64, 64, |x, y| {
            let base = if x < 32 { 0.2 } else { 0.8 };
            base + if (x * 7 + y * 13) % 5 == 0 { 0.03 } else { 0.0 }
        });
        let rgb = Rgb::from_planes(&src, &src, &src);
        let out = guided(&rgb, 4, 0.01).channel(0);
        assert!((out.at(10, 10) - 0.206).abs() < 0.02);
        assert!(out.at(30, 32) < 0.35 && out.at(34, 32) > 0.65, "edge kept");
    }

    #[test]
    fn kuwahara_keeps_a_step_sharp_while_flattening() {
        let src = Plane::from_fn(48, 48, |x, y| {
            (if x < 24 { 0.2 } else { 0.8 }) + 0.1 * (((x * 31 + y * 17) % 7) as f32 / 7.0)
        });
        let rgb = Rgb::from_planes(&src, &src, &src);
        let flow = structure_flow(&src, 2.0);
        let out = kuwahara(&rgb, &flow, &Plane::new(48, 48, 5.0), 8.0).channel(0);
        assert!(
            out.at(22, 24) < 0.4 && out.at(26, 24) > 0.7,
            "step stays sharp"
        );
        let var = |p: &Plane| {
            let v: Vec<f32> = (8..16).map(|x| p.at(x, 24)).collect();
            let m = v.iter().sum::<f32>() / 8.0;
            v.iter().map(|a| (a - m) * (a - m)).sum::<f32>()
        };
        assert!(var(&out) < var(&src) * 0.5, "flat region flattened");
    }

    #[test]
    fn flow_dog_is_steadier_along_a_noisy_edge_than_plain_dog() {
        // A vertical step with strong pixel noise: along the edge the plain
        // DoG breaks into dashes, the flow-based one accumulates the line.
        let src = Plane::from_fn(64, 64, |x, y| {
            let noise = ((x * 7919 + y * 104_729) % 97) as f32 / 97.0 - 0.5;
            (if x < 32 { 0.3 } else { 0.7 }) + 0.3 * noise
        });
        let flow = structure_flow(&gauss(&src, 1.0), 3.0);
        let plain = dog(&src, 1.5, 1.6);
        let along = fdog(&src, &flow, 1.5, 1.6, 3.0, None);
        let column = |p: &Plane| -> (f32, f32) {
            let v: Vec<f32> = (8..56).map(|y| p.at(30, y)).collect();
            let m = v.iter().sum::<f32>() / v.len() as f32;
            let var = v.iter().map(|a| (a - m) * (a - m)).sum::<f32>() / v.len() as f32;
            (m, var.sqrt())
        };
        let (pm, ps) = column(&plain);
        let (fm, fs) = column(&along);
        assert!(fm < 0.0 && pm < 0.0, "dark side of the edge: {fm} {pm}");
        assert!(
            fs / -fm < 0.8 * (ps / -pm),
            "steadier: {fs}/{fm} vs {ps}/{pm}"
        );
    }
}
