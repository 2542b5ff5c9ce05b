//! A style's statistical signature: a few image statistics with the band each
//! must fall in for a render to look like its medium (line art is mostly white
//! paper, pop art has few colours, watercolour little fine detail, ...).

use crate::metrics::{fit_within, gradient, luma};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::HashMap;

/// The statistics a signature may constrain, all in [0, 1] except `colours`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// Share of near-white pixels (luma >= 225): paper.
    WhiteFraction,
    /// Share of dark pixels (luma <= 50): ink, charcoal, shadow.
    DarkFraction,
    /// Mean HSV saturation.
    Saturation,
    /// Number of 4-bit-per-channel colours that together cover 90% of pixels.
    Colours,
    /// Mean absolute Laplacian of luma / 255: fine detail and texture.
    Detail,
    /// Share of pixels with Sobel magnitude above 96: contour density.
    Edges,
    /// Share of pixels whose 3x3 luma range is at most 4: flat paint.
    Flat,
}

impl Stat {
    pub const ALL: [Stat; 7] = [
        Stat::WhiteFraction,
        Stat::DarkFraction,
        Stat::Saturation,
        Stat::Colours,
        Stat::Detail,
        Stat::Edges,
        Stat::Flat,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Stat::WhiteFraction => "white_fraction",
            Stat::DarkFraction => "dark_fraction",
            Stat::Saturation => "saturation",
            Stat::Colours => "colours",
            Stat::Detail => "detail",
            Stat::Edges => "edges",
            Stat::Flat => "flat",
        }
    }

    pub fn parse(name: &str) -> Option<Stat> {
        Stat::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Measured statistics of one image, keyed by [`Stat::as_str`].
pub type Stats = BTreeMap<Stat, f32>;

/// Measure every [`Stat`] on a 256 px copy.
pub fn measure(image: &RgbImage) -> Stats {
    let small = fit_within(image, 256);
    let g = luma(&small);
    let n = g.data.len().max(1) as f32;
    let white = g.data.iter().filter(|&&v| v >= 225.0).count() as f32 / n;
    let dark = g.data.iter().filter(|&&v| v <= 50.0).count() as f32 / n;
    let saturation = small
        .pixels()
        .map(|p| {
            let max = *p.0.iter().max().unwrap_or(&0) as f32;
            let min = *p.0.iter().min().unwrap_or(&0) as f32;
            if max > 0.0 { (max - min) / max } else { 0.0 }
        })
        .sum::<f32>()
        / n;
    let mut bins: HashMap<u16, u32> = HashMap::new();
    for p in small.pixels() {
        let key = ((p[0] as u16 >> 4) << 8) | ((p[1] as u16 >> 4) << 4) | (p[2] as u16 >> 4);
        *bins.entry(key).or_default() += 1;
    }
    let mut counts: Vec<u32> = bins.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut covered = 0.0;
    let mut colours = 0;
    for c in counts {
        if covered >= 0.9 * n {
            break;
        }
        covered += c as f32;
        colours += 1;
    }
    let (w, h) = (g.width, g.height);
    let (mut lap, mut flat, mut inner) = (0.0f32, 0usize, 0usize);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let c = g.at(x, y);
            lap +=
                (4.0 * c - g.at(x - 1, y) - g.at(x + 1, y) - g.at(x, y - 1) - g.at(x, y + 1)).abs();
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for dy in 0..3 {
                for dx in 0..3 {
                    let v = g.at(x + dx - 1, y + dy - 1);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            if hi - lo <= 4.0 {
                flat += 1;
            }
            inner += 1;
        }
    }
    let inner_n = inner.max(1) as f32;
    let grad = gradient(&g);
    let edges = grad.data.iter().filter(|&&v| v > 96.0).count() as f32 / inner_n;
    Stats::from([
        (Stat::WhiteFraction, white),
        (Stat::DarkFraction, dark),
        (Stat::Saturation, saturation),
        (Stat::Colours, colours as f32),
        (Stat::Detail, lap / inner_n / 255.0),
        (Stat::Edges, edges.min(1.0)),
        (Stat::Flat, flat as f32 / inner_n),
    ])
}

/// The band each constrained statistic must fall in.
pub type Signature = BTreeMap<Stat, [f32; 2]>;

/// 1 at the band's middle, 0.5 at its edges, falling to 0 one half-width outside.
/// Every QA score shares this shape, so 0.5 always means "at the tolerance".
pub fn band_score(x: f32, lo: f32, hi: f32) -> f32 {
    let half = ((hi - lo) / 2.0).max(f32::EPSILON);
    let mid = (lo + hi) / 2.0;
    let off = (x - mid).abs() / half;
    if off <= 1.0 {
        1.0 - 0.5 * off * off
    } else {
        (0.5 * (2.0 - off)).max(0.0)
    }
}

/// Style score: the mean band score over the signature's statistics, with the
/// statistics outside their band named. An empty signature constrains nothing.
pub fn style_score(stats: &Stats, signature: &Signature) -> (f32, Vec<Stat>) {
    if signature.is_empty() {
        return (1.0, Vec::new());
    }
    let mut total = 0.0;
    let mut outside = Vec::new();
    for (stat, [lo, hi]) in signature {
        let x = stats.get(stat).copied().unwrap_or(0.0);
        total += band_score(x, *lo, *hi);
        if x < *lo || x > *hi {
            outside.push(*stat);
        }
    }
    (total / signature.len() as f32, outside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn band_score_is_half_at_the_edges_and_zero_far_outside() {
        assert_eq!(band_score(0.5, 0.0, 1.0), 1.0);
        assert!((band_score(1.0, 0.0, 1.0) - 0.5).abs() < 1e-6);
        assert!((band_score(0.0, 0.0, 1.0) - 0.5).abs() < 1e-6);
        assert_eq!(band_score(3.0, 0.0, 1.0), 0.0);
        assert!(band_score(1.2, 0.0, 1.0) < 0.5);
    }

    #[test]
    fn ink_on_paper_reads_as_white_with_few_colours_and_a_colour_field_does_not() {
        let ink = RgbImage::from_fn(300, 300, |x, y| {
            if (x + y) % 40 < 2 {
                Rgb([10, 10, 10])
            } else {
                Rgb([250, 250, 248])
            }
        });
        let s = measure(&ink);
        assert!(s[&Stat::WhiteFraction] > 0.9, "{s:?}");
        assert!(s[&Stat::Colours] <= 2.0, "{s:?}");
        assert!(s[&Stat::Saturation] < 0.05, "{s:?}");
        let field = RgbImage::from_fn(300, 300, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let f = measure(&field);
        assert!(
            f[&Stat::WhiteFraction] < 0.05 && f[&Stat::Colours] > 50.0,
            "{f:?}"
        );
        let sig = Signature::from([
            (Stat::WhiteFraction, [0.6, 1.0]),
            (Stat::Colours, [1.0, 8.0]),
        ]);
        assert!(style_score(&s, &sig).0 > 0.5 && style_score(&s, &sig).1.is_empty());
        let (score, outside) = style_score(&f, &sig);
        assert!(score < 0.5, "{score}");
        assert_eq!(outside, vec![Stat::WhiteFraction, Stat::Colours]);
    }
}
