//! Dark blotches: small, isolated islands of near-black in a render where the
//! photo has no dark feature. A person sees them at once (a posterised wash
//! that left ink stains on a jacket), while every global statistic barely
//! moves, so they are found one by one:
//!
//! 1. the photo is registered onto the render (renders may crop and zoom);
//! 2. every dark region of the render (luma below [`DARK`], after an opening
//!    that removes drawn lines, which are thin) of brush-touch size is compared
//!    with the ring of pixels around it: how much darker is it than its
//!    surroundings, in the render and at the same place in the photo;
//! 3. a region at least [`CONTRAST`] darker than its ring in the render, where
//!    the photo's difference is under [`EXPLAINED`] of that (after scaling by
//!    how much the render stretched the photo's contrast overall), is a blotch:
//!    the medium invented it. Eyes, nostrils, a dark tie on a white shirt are
//!    dark in the photo too, and pass.
//!
//! Everything runs on a copy whose long side is [`SIDE`] pixels, so the
//! measure does not depend on the render's size.

use crate::metrics::{Plane, fit_within, luma};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Long side of the analysis copy.
pub const SIDE: u32 = 256;
/// A blotch is dark in absolute terms: luma (0..1) below this.
pub const DARK: f32 = 0.3;
/// ... and this much darker than the ring around it.
pub const CONTRAST: f32 = 0.18;
/// The photo explains a dark region when its own difference at that place is
/// at least this share of the render's.
pub const EXPLAINED: f32 = 0.4;
/// Smallest blotch, in analysis pixels (about 100 px of a 1024 px render).
const MIN_AREA: usize = 6;
/// Largest, as a share of the frame: beyond that it is a dark mass (a suit, a
/// night sky), not a blotch.
const MAX_AREA: f32 = 0.01;
/// Width of the ring a region is compared with, analysis pixels.
const RING: usize = 3;

/// What the check measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Blotches {
    /// Share of the frame covered by blotches.
    pub area: f32,
    /// How many there are.
    pub count: usize,
}

/// The photo's side of the check: its luma at the two sizes registration
/// uses. A style's candidates share one, so the photo is shrunk once, not
/// once a candidate.
#[derive(Clone, Debug)]
pub struct BlotchPhoto {
    /// Long side 2 x [`SIDE`]: what the registered crop is sampled from.
    big: Plane,
    /// Long side 96: what placements are scored on.
    small: Plane,
}

impl BlotchPhoto {
    /// `None` for an empty photo.
    pub fn new(photo: &RgbImage) -> Option<Self> {
        if photo.width() == 0 || photo.height() == 0 {
            return None;
        }
        Some(Self {
            big: unit(&luma(&fit_within(photo, 2 * SIDE))),
            small: unit(&luma(&fit_within(photo, 96))),
        })
    }
}

/// Dark blotches of `render` that `photo` does not explain.
pub fn dark_blotches(photo: &RgbImage, render: &RgbImage) -> Blotches {
    BlotchPhoto::new(photo).map_or_else(Blotches::default, |p| dark_blotches_against(&p, render))
}

/// [`dark_blotches`] against a prepared photo.
pub fn dark_blotches_against(photo: &BlotchPhoto, render: &RgbImage) -> Blotches {
    let Some(mask) = mask_against(photo, render) else {
        return Blotches::default();
    };
    let (w, h) = mask.dimensions();
    let count = regions(
        &mask.pixels().map(|p| p[0] > 0).collect::<Vec<_>>(),
        w as usize,
        h as usize,
    )
    .len();
    let area = mask.pixels().filter(|p| p[0] > 0).count();
    Blotches {
        area: area as f32 / (w * h) as f32,
        count,
    }
}

/// The blotches themselves at the analysis size (255 where there is one), to
/// look at; `None` for a render too small to judge.
pub fn blotch_mask(photo: &RgbImage, render: &RgbImage) -> Option<image::GrayImage> {
    mask_against(&BlotchPhoto::new(photo)?, render)
}

fn mask_against(photo: &BlotchPhoto, render: &RgbImage) -> Option<image::GrayImage> {
    let small = fit_within(render, SIDE);
    let r = unit(&luma(&small));
    let (w, h) = (r.width, r.height);
    if w < 16 || h < 16 {
        return None;
    }
    let p = registered(photo, render, w, h);
    // A medium that stretches contrast everywhere (charcoal) darkens the
    // photo's features more than they are: compare with the photo stretched alike.
    let gain = (std_dev(&r.data) / std_dev(&p.data).max(1e-3)).clamp(1.0, 2.0);
    let dark: Vec<bool> = r.data.iter().map(|&v| v < DARK).collect();
    // Opening: a drawn line two pixels wide (eight at 1024 px) does not survive it.
    let opened = dilate_mask(&erode_mask(&dark, w, h), w, h);
    let opened: Vec<bool> = opened.iter().zip(&dark).map(|(a, b)| *a && *b).collect();
    let max_area = (MAX_AREA * (w * h) as f32) as usize;
    let mut keep = vec![false; w * h];
    for region in region_pixels(&opened, w, h) {
        if region.len() < MIN_AREA || region.len() > max_area {
            continue;
        }
        let Some((in_render, in_photo)) = contrast(&region, &r, &p, &dark) else {
            continue;
        };
        if in_render >= CONTRAST && in_photo * gain < EXPLAINED * in_render {
            for i in region {
                keep[i] = true;
            }
        }
    }
    image::GrayImage::from_raw(
        w as u32,
        h as u32,
        keep.iter().map(|&k| if k { 255 } else { 0 }).collect(),
    )
}

/// How much darker `region` is than the ring around it, in the render and in
/// the photo. The ring leaves out the render's other dark pixels (a blotch
/// touching a dark line is still compared with the paper around it); the
/// photo's region is taken a pixel wider, for registration slack. `None`
/// when too little ring is left to compare with.
fn contrast(region: &[usize], r: &Plane, p: &Plane, dark: &[bool]) -> Option<(f32, f32)> {
    let w = r.width;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for &i in region {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let (x0, y0) = (x0.saturating_sub(RING), y0.saturating_sub(RING));
    let (x1, y1) = ((x1 + RING).min(w - 1), (y1 + RING).min(r.height - 1));
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    // Chebyshev distance to the region, within the box, capped at RING + 1.
    let mut dist = vec![RING + 1; bw * bh];
    for &i in region {
        dist[(i / w - y0) * bw + (i % w - x0)] = 0;
    }
    for _ in 0..RING {
        let prev = dist.clone();
        for by in 0..bh {
            for bx in 0..bw {
                let mut d = prev[by * bw + bx];
                for ny in by.saturating_sub(1)..=(by + 1).min(bh - 1) {
                    for nx in bx.saturating_sub(1)..=(bx + 1).min(bw - 1) {
                        d = d.min(prev[ny * bw + nx] + 1);
                    }
                }
                dist[by * bw + bx] = d;
            }
        }
    }
    let (mut ring_r, mut ring_p, mut ring_n) = (0.0f32, 0.0f32, 0usize);
    let (mut in_p, mut in_n) = (0.0f32, 0usize);
    for by in 0..bh {
        for bx in 0..bw {
            let i = (y0 + by) * w + x0 + bx;
            let d = dist[by * bw + bx];
            if d <= 1 {
                in_p += p.data[i];
                in_n += 1;
            }
            if (1..=RING).contains(&d) && !dark[i] {
                ring_r += r.data[i];
                ring_p += p.data[i];
                ring_n += 1;
            }
        }
    }
    if ring_n * 2 < region.len() || in_n == 0 {
        return None;
    }
    let blob_r = region.iter().map(|&i| r.data[i]).sum::<f32>() / region.len() as f32;
    Some((
        ring_r / ring_n as f32 - blob_r,
        ring_p / ring_n as f32 - in_p / in_n as f32,
    ))
}

fn std_dev(v: &[f32]) -> f32 {
    let n = v.len().max(1) as f32;
    let mean = v.iter().sum::<f32>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt()
}

fn unit(p: &Plane) -> Plane {
    Plane {
        width: p.width,
        height: p.height,
        data: p.data.iter().map(|v| v / 255.0).collect(),
    }
}

/// The photo's luma over the part of it the render shows, at `w` x `h`: the
/// crop (same aspect as the render, zoom 0.82-1) whose low-resolution luma
/// correlates best with the render's, coarse then fine.
fn registered(photo: &BlotchPhoto, render: &RgbImage, w: usize, h: usize) -> Plane {
    let (big, small_photo) = (&photo.big, &photo.small);
    let target = unit(&luma(&fit_within(render, 48)));
    let (pw, ph) = (big.width as f32, big.height as f32);
    let aspect = w as f32 / h as f32;
    let (fw, fh) = if aspect >= pw / ph {
        (pw, pw / aspect)
    } else {
        (ph * aspect, ph)
    };
    // A crop is (zoom, x, y) in `big`'s pixels; sampled on `small_photo`.
    let k = small_photo.width as f32 / pw;
    let score = |z: f32, x: f32, y: f32| {
        let (cw, ch) = (fw * z, fh * z);
        let (tw, th) = (target.width, target.height);
        let sampled: Vec<f32> = (0..tw * th)
            .map(|i| {
                let (u, v) = ((i % tw) as f32 + 0.5, (i / tw) as f32 + 0.5);
                let px = (x + u / tw as f32 * cw) * k;
                let py = (y + v / th as f32 * ch) * k;
                sample(small_photo, px, py)
            })
            .collect();
        correlation(&sampled, &target.data)
    };
    let mut best = (f32::MIN, 1.0f32, 0.0f32, 0.0f32);
    for zi in 0..=9 {
        let z = 1.0 - 0.02 * zi as f32;
        let (sx, sy) = ((pw - fw * z).max(0.0), (ph - fh * z).max(0.0));
        for yi in 0..=6 {
            for xi in 0..=6 {
                let (x, y) = (sx * xi as f32 / 6.0, sy * yi as f32 / 6.0);
                let s = score(z, x, y);
                if s > best.0 {
                    best = (s, z, x, y);
                }
            }
        }
    }
    // Refine around the best placement, a sixth of a coarse step apart.
    let (_, z0, x0, y0) = best;
    let step = 0.02 * pw.max(ph) / 6.0;
    for dz in -2..=2 {
        let z = (z0 + 0.005 * dz as f32).clamp(0.5, 1.0);
        for dy in -3..=3 {
            for dx in -3..=3 {
                let x = (x0 + step * dx as f32).clamp(0.0, (pw - fw * z).max(0.0));
                let y = (y0 + step * dy as f32).clamp(0.0, (ph - fh * z).max(0.0));
                let s = score(z, x, y);
                if s > best.0 {
                    best = (s, z, x, y);
                }
            }
        }
    }
    let (_, z, x, y) = best;
    let (cw, ch) = (fw * z, fh * z);
    Plane {
        width: w,
        height: h,
        data: (0..w * h)
            .map(|i| {
                let (u, v) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                sample(big, x + u / w as f32 * cw, y + v / h as f32 * ch)
            })
            .collect(),
    }
}

/// Bilinear sample, pixel centres at +0.5, clamped borders.
fn sample(p: &Plane, x: f32, y: f32) -> f32 {
    let fx = (x - 0.5).clamp(0.0, (p.width - 1) as f32);
    let fy = (y - 0.5).clamp(0.0, (p.height - 1) as f32);
    let (x0, y0) = (fx as usize, fy as usize);
    let (x1, y1) = ((x0 + 1).min(p.width - 1), (y0 + 1).min(p.height - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let a = p.at(x0, y0) * (1.0 - tx) + p.at(x1, y0) * tx;
    let b = p.at(x0, y1) * (1.0 - tx) + p.at(x1, y1) * tx;
    a * (1.0 - ty) + b * ty
}

/// Pearson correlation: indifferent to the render's brightness and contrast.
fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()).max(1) as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        let (da, db) = (x - ma, y - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    sab / (saa * sbb).sqrt().max(1e-9)
}

fn erode_mask(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            m[i] && x > 0
                && y > 0
                && x + 1 < w
                && y + 1 < h
                && m[i - 1]
                && m[i + 1]
                && m[i - w]
                && m[i + w]
        })
        .collect()
}

fn dilate_mask(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            m[i] || (x > 0 && m[i - 1])
                || (x + 1 < w && m[i + 1])
                || (y > 0 && m[i - w])
                || (y + 1 < h && m[i + w])
        })
        .collect()
}

/// Sizes of the 8-connected regions of `m`.
fn regions(m: &[bool], w: usize, h: usize) -> Vec<usize> {
    region_pixels(m, w, h).iter().map(Vec::len).collect()
}

/// The 8-connected regions of `m`, as pixel indices.
fn region_pixels(m: &[bool], w: usize, h: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; w * h];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || !m[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = Vec::new();
        while let Some(i) = stack.pop() {
            size.push(i);
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if m[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        sizes.push(size);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A soft, light scene with a dark eye-like dot the photo has.
    fn scene() -> RgbImage {
        RgbImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = (x as f32 - 200.0, y as f32 - 150.0);
            let v = if dx * dx + dy * dy < 64.0 {
                20.0
            } else {
                150.0 + 60.0 * (x as f32 / 400.0)
            };
            Rgb([v as u8, (v * 0.9) as u8, (v * 0.8) as u8])
        })
    }

    fn with_spots(img: &RgbImage, spots: &[(u32, u32, u32)]) -> RgbImage {
        let mut out = img.clone();
        for &(cx, cy, r) in spots {
            for y in cy - r..=cy + r {
                for x in cx - r..=cx + r {
                    let (dx, dy) = (x as i32 - cx as i32, y as i32 - cy as i32);
                    if dx * dx + dy * dy <= (r * r) as i32 {
                        out.put_pixel(x, y, Rgb([15, 12, 10]));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_photo_has_no_blotches_of_its_own_and_added_ones_are_counted() {
        let photo = scene();
        let same = dark_blotches(&photo, &photo);
        assert_eq!(same.count, 0, "{same:?}");
        let stained = with_spots(&photo, &[(80, 80, 7), (320, 220, 9), (300, 60, 6)]);
        let b = dark_blotches(&photo, &stained);
        assert_eq!(b.count, 3, "{b:?}");
        assert!(b.area > 0.003, "{b:?}");
        // A zoomed crop of the stained picture: the photo's dot is registered
        // and stays explained, the stains are still found.
        let crop = image::imageops::crop_imm(&stained, 20, 15, 360, 270).to_image();
        let b = dark_blotches(&photo, &crop);
        assert_eq!(b.count, 3, "{b:?}");
    }

    #[test]
    fn thin_drawn_lines_are_not_blotches() {
        let photo = scene();
        let mut drawn = photo.clone();
        for x in 40..360 {
            for y in [100u32, 101, 200, 201] {
                drawn.put_pixel(x, y + (x / 40), Rgb([20, 20, 20]));
            }
        }
        let b = dark_blotches(&photo, &drawn);
        assert_eq!(b.count, 0, "{b:?}");
    }
}
