//! dlib's shape predictor (an ensemble of regression trees, Kazemi & Sullivan
//! 2014): the `.dat` reader and the cascade, following
//! `dlib/image_processing/shape_predictor.h`.

use std::path::Path;

use image::{GrayImage, RgbImage};
use likeness_core::{Point, Rect};

use crate::dlib_io::Reader;
use crate::error::{IdentityError, Result};
use crate::geometry::{Affine, IRect, round_half_up};

struct Split {
    idx1: u32,
    idx2: u32,
    thresh: f32,
}

struct Tree {
    splits: Vec<Split>,
    /// `num_leaves` vectors of `2 * num_parts` floats, back to back.
    leaves: Vec<f32>,
}

/// A loaded landmark cascade. Immutable; share it across threads.
pub struct ShapePredictor {
    initial: Vec<f32>,
    forests: Vec<Vec<Tree>>,
    anchor_idx: Vec<Vec<usize>>,
    deltas: Vec<Vec<[f32; 2]>>,
}

impl std::fmt::Debug for ShapePredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapePredictor")
            .field("parts", &self.num_parts())
            .field("cascades", &self.forests.len())
            .finish()
    }
}

const LIMIT: usize = 1 << 24;

impl ShapePredictor {
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let mut r = Reader::new(bytes, path);
        r.expect_int(1, "shape_predictor version")?;
        let (nr, nc, initial) = r.float_matrix()?;
        if nc != 1 || nr == 0 || nr % 2 != 0 {
            return Err(r.error(format!("initial shape is {nr}x{nc}, expected 2N x 1")));
        }
        let dims = nr;
        let num_cascades = r.count(LIMIT, "cascade count")?;
        let mut forests = Vec::with_capacity(num_cascades);
        for _ in 0..num_cascades {
            let num_trees = r.count(LIMIT, "tree count")?;
            let mut trees = Vec::with_capacity(num_trees);
            for _ in 0..num_trees {
                let num_splits = r.count(LIMIT, "split count")?;
                let mut splits = Vec::with_capacity(num_splits);
                for _ in 0..num_splits {
                    let idx1 = r.count(u32::MAX as usize, "split index")? as u32;
                    let idx2 = r.count(u32::MAX as usize, "split index")? as u32;
                    let thresh = r.float32()?;
                    splits.push(Split { idx1, idx2, thresh });
                }
                let num_leaves = r.count(LIMIT, "leaf count")?;
                if num_leaves != num_splits + 1 {
                    return Err(r.error(format!(
                        "tree has {num_splits} splits and {num_leaves} leaves"
                    )));
                }
                let mut leaves = Vec::with_capacity(num_leaves * dims);
                for _ in 0..num_leaves {
                    let (lr, lc, v) = r.float_matrix()?;
                    if lr != dims || lc != 1 {
                        return Err(r.error(format!("leaf is {lr}x{lc}, expected {dims}x1")));
                    }
                    leaves.extend_from_slice(&v);
                }
                trees.push(Tree { splits, leaves });
            }
            forests.push(trees);
        }
        let n = r.count(LIMIT, "anchor list count")?;
        let mut anchor_idx = Vec::with_capacity(n);
        for _ in 0..n {
            let m = r.count(LIMIT, "anchor count")?;
            let mut v = Vec::with_capacity(m);
            for _ in 0..m {
                v.push(r.count(dims / 2 - 1, "anchor index")?);
            }
            anchor_idx.push(v);
        }
        let n = r.count(LIMIT, "delta list count")?;
        let mut deltas = Vec::with_capacity(n);
        for _ in 0..n {
            let m = r.count(LIMIT, "delta count")?;
            let mut v = Vec::with_capacity(m);
            for _ in 0..m {
                v.push([r.float32()?, r.float32()?]);
            }
            deltas.push(v);
        }
        if anchor_idx.len() != forests.len() || deltas.len() != forests.len() {
            return Err(r.error("cascade, anchor and delta counts differ"));
        }
        for ((trees, anchors), ds) in forests.iter().zip(&anchor_idx).zip(&deltas) {
            if anchors.len() != ds.len() {
                return Err(r.error("anchor and delta lists differ in length"));
            }
            let bad = trees
                .iter()
                .flat_map(|t| &t.splits)
                .any(|s| s.idx1 as usize >= ds.len() || s.idx2 as usize >= ds.len());
            if bad {
                return Err(r.error("a split refers to a feature pixel that does not exist"));
            }
        }
        if !r.at_end() {
            return Err(r.error("trailing bytes after the shape predictor"));
        }
        Ok(Self {
            initial,
            forests,
            anchor_idx,
            deltas,
        })
    }

    pub fn num_parts(&self) -> usize {
        self.initial.len() / 2
    }

    /// Landmarks for the face in `rect`, rounded to whole pixels as dlib's
    /// `full_object_detection` stores them (the chip alignment uses these).
    pub fn predict(&self, gray: &GrayImage, rect: &Rect) -> Result<Vec<Point>> {
        let ir = to_dlib_rect(rect)?;
        // unnormalizing_tform: (0,0) -> top-left, (1,1) -> bottom-right.
        let to_img = Affine {
            m: [[(ir.r - ir.l) as f64, 0.0], [0.0, (ir.b - ir.t) as f64]],
            t: [ir.l as f64, ir.t as f64],
        };
        let (w, h) = (gray.width() as i64, gray.height() as i64);
        let mut shape = self.initial.clone();
        let mut features = Vec::new();
        for ((trees, anchors), deltas) in
            self.forests.iter().zip(&self.anchor_idx).zip(&self.deltas)
        {
            let tform = self.shape_tform(&shape);
            features.clear();
            for (&a, d) in anchors.iter().zip(deltas) {
                // dlib does this step in float precision.
                let x = tform[0][0] * d[0] + tform[0][1] * d[1] + shape[2 * a];
                let y = tform[1][0] * d[0] + tform[1][1] * d[1] + shape[2 * a + 1];
                let p = to_img.apply([x as f64, y as f64]);
                let (px, py) = (round_half_up(p[0]), round_half_up(p[1]));
                let v = if px >= 0 && py >= 0 && px < w && py < h {
                    gray.get_pixel(px as u32, py as u32).0[0] as f32
                } else {
                    0.0
                };
                features.push(v);
            }
            let dims = shape.len();
            for tree in trees {
                let mut i = 0usize;
                while i < tree.splits.len() {
                    let s = &tree.splits[i];
                    i = if features[s.idx1 as usize] - features[s.idx2 as usize] > s.thresh {
                        2 * i + 1
                    } else {
                        2 * i + 2
                    };
                }
                let leaf = i - tree.splits.len();
                let values = &tree.leaves[leaf * dims..(leaf + 1) * dims];
                for (s, v) in shape.iter_mut().zip(values) {
                    *s += v;
                }
            }
        }
        Ok((0..self.num_parts())
            .map(|i| {
                let p = to_img.apply([shape[2 * i] as f64, shape[2 * i + 1] as f64]);
                Point {
                    x: round_half_up(p[0]) as f32,
                    y: round_half_up(p[1]) as f32,
                }
            })
            .collect())
    }

    /// The similarity taking the mean shape onto `current`, cast to float as dlib does.
    fn shape_tform(&self, current: &[f32]) -> [[f32; 2]; 2] {
        let pts = |s: &[f32]| -> Vec<[f64; 2]> {
            s.chunks_exact(2)
                .map(|c| [c[0] as f64, c[1] as f64])
                .collect()
        };
        let a = Affine::similarity(&pts(&self.initial), &pts(current));
        [
            [a.m[0][0] as f32, a.m[0][1] as f32],
            [a.m[1][0] as f32, a.m[1][1] as f32],
        ]
    }
}

/// A face box as dlib's inclusive integer rectangle.
pub(crate) fn to_dlib_rect(rect: &Rect) -> Result<IRect> {
    let ok = [rect.x, rect.y, rect.width, rect.height]
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1e7);
    if !ok || rect.width < 1.0 || rect.height < 1.0 {
        return Err(IdentityError::BadBox(*rect));
    }
    let l = rect.x.round() as i64;
    let t = rect.y.round() as i64;
    Ok(IRect {
        l,
        t,
        r: (rect.x + rect.width).round() as i64 - 1,
        b: (rect.y + rect.height).round() as i64 - 1,
    })
}

/// dlib's RGB to grey conversion: the integer mean of the three channels.
pub fn intensity_image(rgb: &RgbImage) -> GrayImage {
    let mut out = GrayImage::new(rgb.width(), rgb.height());
    for (o, p) in out.pixels_mut().zip(rgb.pixels()) {
        o.0[0] = ((p.0[0] as u32 + p.0[1] as u32 + p.0[2] as u32) / 3) as u8;
    }
    out
}
