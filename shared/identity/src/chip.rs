//! Aligned face chips, reproducing dlib's `get_face_chip_details` and
//! `extract_image_chip` (bilinear sampling from a 2x Gaussian pyramid level
//! when the face is much larger than the chip) so the embedding sees the same
//! pixels dlib would feed its network.

use image::{Rgb, RgbImage};
use likeness_core::Point;

use crate::geometry::{Affine, DRect, IRect, rotate_about};

/// dlib's 5-point template (right eye outer, right eye inner, left eye outer,
/// left eye inner, nose base), in unit chip coordinates before padding.
const TEMPLATE_5: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

pub const CHIP_SIZE: u32 = 150;
pub const CHIP_PADDING: f64 = 0.25;

/// Where a chip lies in its source image: a rotated rectangle and the output size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChipDetails {
    pub rect: DRect,
    pub angle: f64,
    pub rows: u32,
    pub cols: u32,
}

impl ChipDetails {
    /// `get_face_chip_details(det, size, padding)` for a 5-point detection.
    pub fn for_face(landmarks: &[Point; 5], size: u32, padding: f64) -> ChipDetails {
        let s = size as f64;
        let from: Vec<[f64; 2]> = TEMPLATE_5
            .iter()
            .map(|p| {
                [
                    (padding + p[0]) / (2.0 * padding + 1.0) * s,
                    (padding + p[1]) / (2.0 * padding + 1.0) * s,
                ]
            })
            .collect();
        let to: Vec<[f64; 2]> = landmarks.iter().map(|p| [p.x as f64, p.y as f64]).collect();
        let tform = Affine::similarity(&from, &to);
        let (px, py) = (tform.m[0][0], tform.m[1][0]);
        let angle = py.atan2(px);
        let scale = px.hypot(py);
        let centre = tform.apply([s / 2.0, s / 2.0]);
        ChipDetails {
            rect: DRect::centered(centre, s * scale, s * scale),
            angle,
            rows: size,
            cols: size,
        }
    }

    fn size(&self) -> f64 {
        self.rows as f64 * self.cols as f64
    }
}

/// `extract_image_chip(img, details, chip)` with bilinear interpolation.
pub fn extract_chip(img: &RgbImage, d: &ChipDetails) -> RgbImage {
    let mut chip = RgbImage::new(d.cols, d.rows);
    if img.width() == 0 || img.height() == 0 || d.rect.is_empty() {
        return chip;
    }
    // How many halvings keep bilinear sampling from degrading into nearest neighbour.
    let mut depth = 0;
    let mut grow = 2.0;
    let mut r = d.rect.pyramid_down();
    while r.area() > d.size() {
        r = r.pyramid_down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    let centre = d.rect.center();
    let corners = [
        [d.rect.l, d.rect.t],
        [d.rect.r, d.rect.t],
        [d.rect.l, d.rect.b],
        [d.rect.r, d.rect.b],
    ];
    let rot = corners.iter().fold(
        DRect {
            l: 0.0,
            t: 0.0,
            r: -1.0,
            b: -1.0,
        },
        |acc, c| acc.union_point(rotate_about(centre, *c, d.angle)),
    );
    let whole = DRect {
        l: 0.0,
        t: 0.0,
        r: img.width() as f64 - 1.0,
        b: img.height() as f64 - 1.0,
    };
    let empty = IRect {
        l: 0,
        t: 0,
        r: -1,
        b: -1,
    };
    let bbox = empty.union(rot.grow(grow).intersect(whole).to_irect());
    if bbox.is_empty() {
        return chip;
    }
    let sub = crop(img, bbox);
    let mut levels: Vec<RgbImage> = Vec::with_capacity(depth);
    for i in 0..depth {
        let down = pyramid_down(if i == 0 { &sub } else { &levels[i - 1] });
        levels.push(down);
    }
    let mut level: i64 = -1;
    let mut rect = d.rect.translate(-bbox.l as f64, -bbox.t as f64);
    while rect.pyramid_down().area() > d.size() {
        level += 1;
        rect = rect.pyramid_down();
    }
    let c = rect.center();
    let to = [
        rotate_about(c, [rect.l, rect.t], d.angle),
        rotate_about(c, [rect.r, rect.t], d.angle),
        rotate_about(c, [rect.l, rect.b], d.angle),
    ];
    let (w, h) = (d.cols as f64 - 1.0, d.rows as f64 - 1.0);
    let map = Affine::from_three([[0.0, 0.0], [w, 0.0], [0.0, h]], to);
    let src = if level < 0 {
        &sub
    } else {
        match levels.get(level as usize) {
            Some(l) => l,
            None => return chip,
        }
    };
    for (x, y, px) in chip.enumerate_pixels_mut() {
        let p = map.apply([x as f64, y as f64]);
        *px = bilinear(src, p).unwrap_or(Rgb([0, 0, 0]));
    }
    chip
}

fn crop(img: &RgbImage, r: IRect) -> RgbImage {
    image::imageops::crop_imm(
        img,
        r.l as u32,
        r.t as u32,
        r.width() as u32,
        r.height() as u32,
    )
    .to_image()
}

/// dlib's `interpolate_bilinear`: no sample unless all four neighbours are
/// inside, and the result truncated (not rounded) to 8 bits.
fn bilinear(img: &RgbImage, p: [f64; 2]) -> Option<Rgb<u8>> {
    let left = p[0].floor();
    let top = p[1].floor();
    if !(left >= 0.0 && top >= 0.0) {
        return None;
    }
    let (l, t) = (left as u32, top as u32);
    if l + 1 >= img.width() || t + 1 >= img.height() {
        return None;
    }
    let lr = p[0] - left;
    let tb = p[1] - top;
    let tl = img.get_pixel(l, t).0;
    let tr = img.get_pixel(l + 1, t).0;
    let bl = img.get_pixel(l, t + 1).0;
    let br = img.get_pixel(l + 1, t + 1).0;
    let mut out = [0u8; 3];
    for k in 0..3 {
        let v = (1.0 - tb) * ((1.0 - lr) * tl[k] as f64 + lr * tr[k] as f64)
            + tb * ((1.0 - lr) * bl[k] as f64 + lr * br[k] as f64);
        out[k] = v as u8;
    }
    Some(Rgb(out))
}

/// `pyramid_down<2>` for RGB: a separable [1 4 6 4 1] filter, every other
/// row and column kept, integer arithmetic exactly as dlib does it.
pub fn pyramid_down(img: &RgbImage) -> RgbImage {
    let (nc, nr) = (img.width() as usize, img.height() as usize);
    if nr <= 8 || nc <= 8 {
        return RgbImage::new(0, 0);
    }
    let tc = (nc - 3) / 2;
    let raw = img.as_raw();
    let mut temp = vec![0u16; nr * tc * 3];
    for r in 0..nr {
        let row = &raw[r * nc * 3..(r + 1) * nc * 3];
        for c in 0..tc {
            let oc = 2 * c;
            for k in 0..3 {
                let at = |i: usize| row[(oc + i) * 3 + k] as u16;
                temp[(r * tc + c) * 3 + k] = at(0) + 4 * at(1) + 6 * at(2) + 4 * at(3) + at(4);
            }
        }
    }
    let dr_count = (nr - 3) / 2;
    let mut out = RgbImage::new(tc as u32, dr_count as u32);
    let buf: &mut [u8] = &mut out;
    let mut dr = 0;
    let mut r = 2;
    while r + 2 < nr {
        for c in 0..tc {
            for k in 0..3 {
                let at = |rr: usize| temp[(rr * tc + c) * 3 + k];
                let v = at(r - 2) + 4 * at(r - 1) + 6 * at(r) + 4 * at(r + 1) + at(r + 2);
                buf[(dr * tc + c) * 3 + k] = (v / 256) as u8;
            }
        }
        dr += 1;
        r += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_of_a_flat_image_stays_flat_and_has_dlib_dimensions() {
        let img = RgbImage::from_pixel(21, 17, Rgb([200, 100, 7]));
        let down = pyramid_down(&img);
        assert_eq!((down.width(), down.height()), (9, 7));
        assert!(down.pixels().all(|p| p.0 == [200, 100, 7]));
    }

    #[test]
    fn chip_of_an_upright_template_face_is_centred() {
        // Landmarks exactly on the padded template of a 150 chip at 2x scale.
        let s = 300.0;
        let pts: Vec<Point> = TEMPLATE_5
            .iter()
            .map(|p| Point {
                x: ((0.25 + p[0]) / 1.5 * s) as f32,
                y: ((0.25 + p[1]) / 1.5 * s) as f32,
            })
            .collect();
        let d = ChipDetails::for_face(&pts.try_into().unwrap(), 150, 0.25);
        assert!(d.angle.abs() < 1e-3, "angle {}", d.angle);
        assert!((d.rect.width() - 300.0).abs() < 1.0, "{:?}", d.rect);
        let c = d.rect.center();
        assert!((c[0] - 150.0).abs() < 1.0 && (c[1] - 150.0).abs() < 1.0);
    }
}
