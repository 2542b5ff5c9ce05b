//! Brush strokes laid one by one on a canvas, coarse to fine, the way a painter
//! blocks in a portrait: broad strokes everywhere, then smaller ones where the
//! canvas still differs from the subject, then short ones on the face. Each
//! stroke follows the local flow, carries one colour with bristle streaks, stops
//! where the colour under it changes (so edges stay crisp), and leaves paint
//! height behind for the impasto lighting.

use super::noise::{Dice, mix64, value};
use super::raster::{Flow, Plane, Rgb};

/// The painting so far: colour and paint height at output resolution.
pub struct Canvas {
    pub colour: Rgb,
    pub height: Plane,
}

/// One pass of strokes of one size.
pub struct Layer<'a> {
    /// Half the stroke width, output pixels.
    pub half_width: f32,
    /// Stroke length over its width (seeded around this).
    pub aspect: f32,
    /// Where this layer paints (0..1 per output pixel); below 0.3 nothing.
    pub mask: Option<&'a Plane>,
    /// Paint only where the canvas differs from the reference by more than this
    /// (mean absolute RGB difference); 0 paints everywhere.
    pub error: f32,
    /// Seeded colour wobble, 0..1.
    pub jitter: f32,
    pub salt: u64,
}

/// What every layer samples: the colour to paint toward and the flow field it
/// follows, both possibly at a lower resolution than the canvas, and the same
/// colour at canvas resolution, which every stroke pixel checks to stop at edges.
pub struct Reference<'a> {
    pub colour: &'a Rgb,
    pub flow: &'a Flow,
    pub full: &'a Rgb,
}

impl Canvas {
    pub fn new(underpainting: Rgb) -> Self {
        let height = Plane::new(underpainting.w, underpainting.h, 0.0);
        Self {
            colour: underpainting,
            height,
        }
    }

    pub fn paint(&mut self, reference: &Reference, layer: &Layer, seed: u64) {
        let (w, h) = (self.colour.w, self.colour.h);
        let hw = layer.half_width.max(0.8);
        let len = hw * 2.0 * layer.aspect;
        // A grid that covers the canvas about one and a half times.
        let step = (4.0 * hw * len).sqrt() * 0.8;
        let (nx, ny) = (
            (w as f32 / step).ceil() as usize,
            (h as f32 / step).ceil() as usize,
        );
        let mut order: Vec<(u64, usize, usize)> = Vec::with_capacity(nx * ny);
        for gy in 0..ny {
            for gx in 0..nx {
                let key = mix64(seed ^ layer.salt ^ ((gy as u64) << 32 | gx as u64));
                order.push((key, gx, gy));
            }
        }
        // Painters do not work in raster order: a seeded shuffle.
        order.sort_unstable_by_key(|o| o.0);
        let sx = reference.colour.w as f32 / w as f32;
        let sy = reference.colour.h as f32 / h as f32;
        for (key, gx, gy) in order {
            let mut dice = Dice::new(key, 0x57);
            let cx = (gx as f32 + dice.range(0.1, 0.9)) * step;
            let cy = (gy as f32 + dice.range(0.1, 0.9)) * step;
            let (ix, iy) = ((cx as usize).min(w - 1), (cy as usize).min(h - 1));
            if layer.mask.is_some_and(|m| m.at(ix, iy) < 0.3) {
                continue;
            }
            let (rx, ry) = (cx * sx, cy * sy);
            let target = sample_rgb(reference.colour, rx, ry);
            if layer.error > 0.0 {
                let here = self.colour.d[iy * w + ix];
                let diff = (0..3).map(|k| (here[k] - target[k]).abs()).sum::<f32>() / 3.0;
                if diff < layer.error {
                    continue;
                }
            }
            let (mut tx, mut ty, aniso) = (
                reference.flow.tx.sample(rx, ry),
                reference.flow.ty.sample(rx, ry),
                reference.flow.aniso.sample(rx, ry),
            );
            // Where the photo has no direction, the hand's own slant takes over.
            let slant = (0.6 + dice.range(-0.35, 0.35)).sin_cos();
            let a = (aniso * 3.0).min(1.0);
            tx = tx * a + slant.1 * (1.0 - a);
            ty = ty * a + slant.0 * (1.0 - a);
            let n = (tx * tx + ty * ty).sqrt().max(1e-6);
            let wobble = dice.range(-0.2, 0.2);
            let (ws, wc) = wobble.sin_cos();
            let (dx, dy) = ((tx * wc - ty * ws) / n, (tx * ws + ty * wc) / n);
            let half_len = len * 0.5 * dice.range(0.7, 1.3);
            let j = layer.jitter;
            let value_shift = 1.0 + j * dice.range(-0.06, 0.06);
            let warm = j * dice.range(-0.025, 0.025);
            let colour = [
                (target[0] * value_shift + warm).clamp(0.0, 1.0),
                (target[1] * value_shift).clamp(0.0, 1.0),
                (target[2] * value_shift - warm).clamp(0.0, 1.0),
            ];
            let stroke = Stroke {
                cx,
                cy,
                dx,
                dy,
                half_len,
                half_width: hw * dice.range(0.85, 1.15),
                colour,
                seed: key,
            };
            self.lay(&stroke, reference.full);
        }
    }

    fn lay(&mut self, s: &Stroke, full: &Rgb) {
        let (w, h) = (self.colour.w, self.colour.h);
        let reach = s.half_len + s.half_width + 1.0;
        let x0 = (s.cx - reach).floor().max(0.0) as usize;
        let y0 = (s.cy - reach).floor().max(0.0) as usize;
        let x1 = ((s.cx + reach).ceil() as usize).min(w - 1);
        let y1 = ((s.cy + reach).ceil() as usize).min(h - 1);
        let bristle = (s.half_width * 0.35).max(0.6);
        // Soft edges on broad strokes: paint thins out where the brush lifts.
        let feather = (s.half_width * 0.3).max(1.0);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (px, py) = (x as f32 + 0.5 - s.cx, y as f32 + 0.5 - s.cy);
                let u = px * s.dx + py * s.dy;
                let v = -px * s.dy + py * s.dx;
                // Distance outside the stroke, in pixels (0 inside): a capsule
                // whose width tapers toward both ends, like a loaded flat brush.
                let along = (u.abs() - s.half_len).max(0.0);
                let end = (u.abs() / s.half_len - 0.55).clamp(0.0, 0.45) / 0.45;
                let width = s.half_width * (1.0 - 0.45 * end * end);
                let outside = (along * along + v * v).sqrt() - width;
                if outside > 0.5 * feather {
                    continue;
                }
                let mut alpha = (0.5 - outside / feather).min(1.0);
                let streak = value(s.seed, v / bristle, u / (s.half_len * 0.8 + 1.0));
                // Dry brush: the tail thins out into bristle marks.
                let tail = ((u + s.half_len) / (2.0 * s.half_len)).clamp(0.0, 1.0);
                if tail > 0.7 {
                    alpha *= (1.0 - (tail - 0.7) / 0.3 * (1.0 - streak)).max(0.0);
                }
                // The stroke stops where the subject's colour changes under it.
                let under = full.d[y * w + x];
                let diff = (0..3).map(|k| (under[k] - s.colour[k]).abs()).sum::<f32>() / 3.0;
                alpha *= 1.0 - ((diff - 0.08) / 0.1).clamp(0.0, 1.0);
                if alpha <= 0.0 {
                    continue;
                }
                let i = y * w + x;
                let shade = 1.0 + 0.06 * (streak - 0.5);
                for (c, paint) in self.colour.d[i].iter_mut().zip(s.colour) {
                    *c += ((paint * shade).clamp(0.0, 1.0) - *c) * alpha;
                }
                // Paint ridges at the stroke's edges and grooves along its bristles.
                let edge = (v.abs() / s.half_width).min(1.0);
                let ridge = 0.5 + 0.15 * edge * edge + 0.12 * (streak - 0.5);
                let hgt = &mut self.height.d[i];
                *hgt += (ridge - *hgt) * alpha;
            }
        }
    }
}

struct Stroke {
    cx: f32,
    cy: f32,
    /// Unit direction along the stroke.
    dx: f32,
    dy: f32,
    half_len: f32,
    half_width: f32,
    colour: [f32; 3],
    seed: u64,
}

pub(crate) fn sample_rgb(img: &Rgb, x: f32, y: f32) -> [f32; 3] {
    let fx = (x - 0.5).clamp(0.0, (img.w - 1) as f32);
    let fy = (y - 0.5).clamp(0.0, (img.h - 1) as f32);
    let (x0, y0) = (fx as usize, fy as usize);
    let (x1, y1) = ((x0 + 1).min(img.w - 1), (y0 + 1).min(img.h - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let at = |x: usize, y: usize| img.d[y * img.w + x];
    let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * tx;
        let bottom = c[k] + (d[k] - c[k]) * tx;
        top + (bottom - top) * ty
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::raster::structure_flow;

    #[test]
    fn strokes_take_the_reference_colour_and_stop_at_its_edges() {
        // Left half dark red, right half light blue; the canvas starts grey.
        let (w, h) = (64, 48);
        let reference = Rgb::from_fn(w, h, |x, _| {
            if x < 32 {
                [0.5, 0.1, 0.1]
            } else {
                [0.6, 0.8, 0.95]
            }
        });
        let flow = structure_flow(&reference.luma(), 2.0);
        let mut canvas = Canvas::new(Rgb::from_fn(w, h, |_, _| [0.5, 0.5, 0.5]));
        let layer = Layer {
            half_width: 3.0,
            aspect: 2.5,
            mask: None,
            error: 0.0,
            jitter: 0.0,
            salt: 1,
        };
        let r = Reference {
            colour: &reference,
            flow: &flow,
            full: &reference,
        };
        canvas.paint(&r, &layer, 9);
        canvas.paint(
            &r,
            &Layer {
                half_width: 1.5,
                error: 0.05,
                salt: 2,
                ..layer
            },
            9,
        );
        let mean = |x0: usize, x1: usize| {
            let mut s = [0.0f32; 3];
            for y in 0..h {
                for x in x0..x1 {
                    let c = canvas.colour.d[y * w + x];
                    (0..3).for_each(|k| s[k] += c[k]);
                }
            }
            s.map(|v| v / ((x1 - x0) * h) as f32)
        };
        let (left, right) = (mean(4, 28), mean(36, 60));
        assert!(left[0] > 0.45 && left[2] < 0.25, "left {left:?}");
        assert!(right[2] > 0.8 && right[0] < 0.7, "right {right:?}");
        // No red carried across the boundary into the blue half.
        let near = mean(33, 36);
        assert!(near[2] > 0.7, "the boundary bled: {near:?}");
        assert!(canvas.height.d.iter().any(|&v| v > 0.3), "no paint height");
    }

    #[test]
    fn the_same_seed_paints_the_same_canvas() {
        let reference = Rgb::from_fn(40, 40, |x, y| [x as f32 / 40.0, y as f32 / 40.0, 0.5]);
        let flow = structure_flow(&reference.luma(), 2.0);
        let layer = Layer {
            half_width: 2.0,
            aspect: 3.0,
            mask: None,
            error: 0.0,
            jitter: 1.0,
            salt: 5,
        };
        let r = Reference {
            colour: &reference,
            flow: &flow,
            full: &reference,
        };
        let paint = |seed| {
            let mut c = Canvas::new(reference.clone());
            c.paint(&r, &layer, seed);
            c.colour.d
        };
        assert_eq!(paint(3), paint(3));
        assert_ne!(paint(3), paint(4));
    }
}
