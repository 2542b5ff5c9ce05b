//! CIELAB colour, CIEDE2000 distance and dominant palettes.
//!
//! Palettes are compared rather than mean colours because a portrait's colour
//! identity is a few masses (skin, hair, clothes, fur); a mean hides a swap.

use image::RgbImage;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    pub l: f32,
    pub a: f32,
    pub b: f32,
}

/// One palette entry: a colour and the share of pixels it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Swatch {
    pub lab: Lab,
    pub weight: f32,
}

fn linear(c: u8) -> f32 {
    let c = c as f32 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB (D65) to CIELAB.
pub fn srgb_to_lab(rgb: [u8; 3]) -> Lab {
    let (r, g, b) = (linear(rgb[0]), linear(rgb[1]), linear(rgb[2]));
    let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    let z = (0.0193339 * r + 0.119192 * g + 0.9503041 * b) / 1.08883;
    let f = |t: f32| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    Lab {
        l: 116.0 * fy - 16.0,
        a: 500.0 * (fx - fy),
        b: 200.0 * (fy - fz),
    }
}

/// CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), kL = kC = kH = 1.
pub fn ciede2000(p: Lab, q: Lab) -> f32 {
    ciede2000_weighted(p, q, 1.0)
}

/// CIEDE2000 with the lightness weight `k_l` (the formula's kL; 1 is the
/// reference conditions, 2 the textile industry's, where a lighter or
/// darker version of a colour counts as less different than another hue).
pub fn ciede2000_weighted(p: Lab, q: Lab, k_l: f32) -> f32 {
    let (l1, a1, b1) = (p.l as f64, p.a as f64, p.b as f64);
    let (l2, a2, b2) = (q.l as f64, q.a as f64, q.b as f64);
    let pow7 = |x: f64| x.powi(7);
    let c_bar = ((a1 * a1 + b1 * b1).sqrt() + (a2 * a2 + b2 * b2).sqrt()) / 2.0;
    let g = 0.5 * (1.0 - (pow7(c_bar) / (pow7(c_bar) + pow7(25.0))).sqrt());
    let (a1p, a2p) = ((1.0 + g) * a1, (1.0 + g) * a2);
    let (c1p, c2p) = ((a1p * a1p + b1 * b1).sqrt(), (a2p * a2p + b2 * b2).sqrt());
    let hue = |b: f64, a: f64| {
        if a == 0.0 && b == 0.0 {
            0.0
        } else {
            b.atan2(a).to_degrees().rem_euclid(360.0)
        }
    };
    let (h1p, h2p) = (hue(b1, a1p), hue(b2, a2p));
    let dl = l2 - l1;
    let dc = c2p - c1p;
    let chroma_zero = c1p * c2p == 0.0;
    let dh = if chroma_zero {
        0.0
    } else {
        let d = h2p - h1p;
        if d.abs() <= 180.0 {
            d
        } else if d > 180.0 {
            d - 360.0
        } else {
            d + 360.0
        }
    };
    let dh_big = 2.0 * (c1p * c2p).sqrt() * (dh.to_radians() / 2.0).sin();
    let l_bar = (l1 + l2) / 2.0;
    let cp_bar = (c1p + c2p) / 2.0;
    let h_bar = if chroma_zero {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let cos = |deg: f64| deg.to_radians().cos();
    let t =
        1.0 - 0.17 * cos(h_bar - 30.0) + 0.24 * cos(2.0 * h_bar) + 0.32 * cos(3.0 * h_bar + 6.0)
            - 0.20 * cos(4.0 * h_bar - 63.0);
    let d_theta = 30.0 * (-((h_bar - 275.0) / 25.0).powi(2)).exp();
    let rc = 2.0 * (pow7(cp_bar) / (pow7(cp_bar) + pow7(25.0))).sqrt();
    let sl = 1.0 + 0.015 * (l_bar - 50.0).powi(2) / (20.0 + (l_bar - 50.0).powi(2)).sqrt();
    let sc = 1.0 + 0.045 * cp_bar;
    let sh = 1.0 + 0.015 * cp_bar * t;
    let rt = -(2.0 * d_theta).to_radians().sin() * rc;
    let (tl, tc, th) = (dl / (f64::from(k_l) * sl), dc / sc, dh_big / sh);
    (tl * tl + tc * tc + th * th + rt * tc * th).max(0.0).sqrt() as f32
}

/// Dominant colours of `image` by k-means in CIELAB, heaviest first.
///
/// Deterministic: seeded by farthest-point initialisation from the mean, so the
/// same image always yields the same palette (the record must be reproducible).
pub fn palette(image: &RgbImage, k: usize) -> Vec<Swatch> {
    let small = crate::metrics::fit_within(image, 64);
    let points: Vec<Lab> = small.pixels().map(|p| srgb_to_lab(p.0)).collect();
    if points.is_empty() || k == 0 {
        return Vec::new();
    }
    let dist2 = |p: &Lab, q: &Lab| (p.l - q.l).powi(2) + (p.a - q.a).powi(2) + (p.b - q.b).powi(2);
    let n = points.len() as f32;
    let mean = Lab {
        l: points.iter().map(|p| p.l).sum::<f32>() / n,
        a: points.iter().map(|p| p.a).sum::<f32>() / n,
        b: points.iter().map(|p| p.b).sum::<f32>() / n,
    };
    let mut centres = vec![mean];
    while centres.len() < k {
        let far = points
            .iter()
            .max_by(|p, q| {
                let dp = centres.iter().map(|c| dist2(p, c)).fold(f32::MAX, f32::min);
                let dq = centres.iter().map(|c| dist2(q, c)).fold(f32::MAX, f32::min);
                dp.total_cmp(&dq)
            })
            .copied()
            .unwrap_or(mean);
        if centres.iter().any(|c| dist2(c, &far) < 1e-6) {
            break; // fewer distinct colours than k
        }
        centres.push(far);
    }
    let mut assignment = vec![0usize; points.len()];
    for _ in 0..12 {
        for (i, p) in points.iter().enumerate() {
            assignment[i] = (0..centres.len())
                .min_by(|&x, &y| dist2(p, &centres[x]).total_cmp(&dist2(p, &centres[y])))
                .unwrap_or(0);
        }
        let mut sums = vec![(0.0f32, 0.0f32, 0.0f32, 0usize); centres.len()];
        for (p, &c) in points.iter().zip(&assignment) {
            sums[c].0 += p.l;
            sums[c].1 += p.a;
            sums[c].2 += p.b;
            sums[c].3 += 1;
        }
        for (centre, s) in centres.iter_mut().zip(&sums) {
            if s.3 > 0 {
                let m = s.3 as f32;
                *centre = Lab {
                    l: s.0 / m,
                    a: s.1 / m,
                    b: s.2 / m,
                };
            }
        }
    }
    let mut counts = vec![0usize; centres.len()];
    for &c in &assignment {
        counts[c] += 1;
    }
    let mut swatches: Vec<Swatch> = centres
        .into_iter()
        .zip(counts)
        .filter(|(_, count)| *count > 0)
        .map(|(lab, count)| Swatch {
            lab,
            weight: count as f32 / n,
        })
        .collect();
    swatches.sort_by(|x, y| y.weight.total_cmp(&x.weight));
    swatches
}

/// Symmetric palette distance in CIEDE2000 units: each swatch's distance to the
/// nearest swatch of the other palette, weighted by its share, averaged both ways.
/// `None` when either palette is empty.
pub fn palette_distance(reference: &[Swatch], candidate: &[Swatch]) -> Option<f32> {
    palette_distance_weighted(reference, candidate, 1.0)
}

/// [`palette_distance`] with CIEDE2000's lightness weight `k_l`
/// ([`ciede2000_weighted`]).
pub fn palette_distance_weighted(
    reference: &[Swatch],
    candidate: &[Swatch],
    k_l: f32,
) -> Option<f32> {
    if reference.is_empty() || candidate.is_empty() {
        return None;
    }
    let one_way = |from: &[Swatch], to: &[Swatch]| {
        let total: f32 = from.iter().map(|s| s.weight).sum();
        from.iter()
            .map(|s| {
                let nearest = to
                    .iter()
                    .map(|t| ciede2000_weighted(s.lab, t.lab, k_l))
                    .fold(f32::MAX, f32::min);
                s.weight * nearest
            })
            .sum::<f32>()
            / total.max(f32::EPSILON)
    };
    Some((one_way(reference, candidate) + one_way(candidate, reference)) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(l: f32, a: f32, b: f32) -> Lab {
        Lab { l, a, b }
    }

    #[test]
    fn ciede2000_matches_sharmas_published_test_pairs() {
        // Pairs 1, 2, 7, 14 and 34 of Sharma et al.'s supplementary data.
        let cases = [
            (
                lab(50.0, 2.6772, -79.7751),
                lab(50.0, 0.0, -82.7485),
                2.0425,
            ),
            (
                lab(50.0, 3.1571, -77.2803),
                lab(50.0, 0.0, -82.7485),
                2.8615,
            ),
            (lab(50.0, 0.0, 0.0), lab(50.0, -1.0, 2.0), 2.3669),
            (lab(50.0, 2.5, 0.0), lab(58.0, 24.0, 15.0), 19.4535),
            (
                lab(2.0776, 0.0795, -1.135),
                lab(0.9033, -0.0636, -0.5514),
                0.9082,
            ),
        ];
        for (p, q, want) in cases {
            let got = ciede2000(p, q);
            assert!((got - want).abs() < 1e-3, "{p:?} {q:?}: {got} != {want}");
            assert!((ciede2000(q, p) - want).abs() < 1e-3, "not symmetric");
        }
    }

    #[test]
    fn a_lightness_weight_forgives_lightness_not_hue() {
        let (dark, light, other) = (
            lab(40.0, 20.0, 10.0),
            lab(60.0, 20.0, 10.0),
            lab(40.0, -20.0, 10.0),
        );
        let lighter = (ciede2000(dark, light), ciede2000_weighted(dark, light, 2.0));
        let hue = (ciede2000(dark, other), ciede2000_weighted(dark, other, 2.0));
        assert!(lighter.1 < 0.6 * lighter.0, "{lighter:?}");
        assert!((hue.1 - hue.0).abs() < 1e-4, "{hue:?}");
    }

    #[test]
    fn white_and_black_land_on_the_lab_axis_ends() {
        let w = srgb_to_lab([255, 255, 255]);
        assert!(
            (w.l - 100.0).abs() < 0.01 && w.a.abs() < 0.01 && w.b.abs() < 0.01,
            "{w:?}"
        );
        assert!(srgb_to_lab([0, 0, 0]).l.abs() < 1e-3);
    }

    #[test]
    fn a_two_colour_image_has_a_two_colour_palette_with_the_right_shares() {
        let img = RgbImage::from_fn(40, 40, |x, _| {
            if x < 30 {
                image::Rgb([200, 30, 30])
            } else {
                image::Rgb([20, 20, 200])
            }
        });
        let p = palette(&img, 5);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!((p[0].weight - 0.75).abs() < 0.02, "{p:?}");
        assert_eq!(palette_distance(&p, &p), Some(0.0));
        let other = palette(&RgbImage::from_pixel(8, 8, image::Rgb([20, 200, 20])), 5);
        assert!(palette_distance(&p, &other).unwrap() > 30.0);
    }
}
