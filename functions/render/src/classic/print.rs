//! Pop art: a screen print in a handful of flat inks. Every output pixel is one of
//! the palette's colours (no antialiasing), so the colour count is exact.

use super::Ctx;
use super::filters::dog;
use super::noise::cell;
use super::params::parse_hex;
use super::raster::{Rgb, gauss, quantile, smoothstep};

const DEFAULT_PALETTE: [[f32; 3]; 5] = [
    [0.08, 0.06, 0.12],
    [0.85, 0.15, 0.45],
    [0.98, 0.55, 0.2],
    [1.0, 0.9, 0.35],
    [0.15, 0.65, 0.85],
];

pub fn pop_art(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0x909A);
    let palette: [[f32; 3]; 5] = if p.palettes.is_empty() {
        DEFAULT_PALETTE
    } else {
        let chosen = &p.palettes[dice.pick(p.palettes.len())];
        std::array::from_fn(|k| parse_hex(&chosen[k]).unwrap_or(DEFAULT_PALETTE[k]))
    };
    let abs = ctx.abstracted();
    let l = gauss(&abs.luma(), ctx.wr(0.8));
    // Band edges at quantiles of the subject's tone, so every band gets used.
    let mut tones: Vec<f32> =
        l.d.iter()
            .zip(&ctx.subj.d)
            .filter(|(_, s)| **s > 0.5)
            .map(|(v, _)| *v)
            .collect();
    if tones.len() < 16 {
        tones = l.d.clone();
    }
    let (t1, t2, t3) = (
        quantile(&mut tones, 0.2),
        quantile(&mut tones, 0.5),
        quantile(&mut tones, 0.78),
    );
    // The face gets its own bands, so its features survive the few inks.
    let mut face_tones: Vec<f32> =
        l.d.iter()
            .zip(&ctx.face.d)
            .filter(|(_, f)| **f > 0.8)
            .map(|(v, _)| *v)
            .collect();
    let (f1, f2, f3) = if face_tones.len() >= 16 {
        (
            quantile(&mut face_tones, 0.15),
            quantile(&mut face_tones, 0.45),
            quantile(&mut face_tones, 0.75),
        )
    } else {
        (t1, t2, t3)
    };
    let field = dog(&abs.luma(), ctx.wr(p.line_sigma), 1.6);
    let t = ctx.ink_threshold(&field, 0.1 * p.lines);
    let (w, h) = (ctx.w, ctx.h);
    let tone = l.resized(w, h);
    let field = field.resized(w, h);
    let dot_pitch = p.stroke * ctx.stroke_scale * ctx.px;
    let (sa, ca) = std::f32::consts::FRAC_PI_4.sin_cos();
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let v = tone.d[i];
        let fm = ctx.face_full.d[i];
        let (t1, t2, t3) = (
            t1 + (f1 - t1) * fm,
            t2 + (f2 - t2) * fm,
            t3 + (f3 - t3) * fm,
        );
        let subject = ctx.subj_full.d[i] > 0.5;
        if -field.d[i] > t && ctx.subj_full.d[i] > 0.3 {
            return palette[0];
        }
        if !subject {
            return palette[4];
        }
        if v < t1 {
            palette[0]
        } else if v < t2 {
            palette[1]
        } else if v < t3 {
            // Halftone: shadow-ink dots on the mid ink, larger where darker.
            let (fx, fy) = (x as f32 / dot_pitch, y as f32 / dot_pitch);
            let (u, vv) = (fx * ca + fy * sa, -fx * sa + fy * ca);
            let (du, dv) = (cell(u) - 0.5, cell(vv) - 0.5);
            let r = 0.5 * (1.0 - smoothstep(t2, t3, v)).sqrt();
            if du * du + dv * dv < r * r {
                palette[1]
            } else {
                palette[2]
            }
        } else {
            palette[3]
        }
    })
}
