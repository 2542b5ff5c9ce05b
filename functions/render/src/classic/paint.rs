//! Painted media: watercolor, oil and soft pastel.

use super::Ctx;
use super::filters::{dog, guided, kuwahara};
use super::noise::{Dir, fbm, hash01, streaks, value};
use super::raster::{
    Plane, Regions, Rgb, gauss, large_regions, luma, mix3, saturate, smoothstep, structure_flow,
};
use super::strokes::{Canvas, Layer, Reference};

/// A hue rotation in YIQ, which keeps luma (and so likeness) fixed.
#[derive(Clone, Copy)]
pub struct HueShift {
    sin: f32,
    cos: f32,
}

impl HueShift {
    pub fn degrees(deg: f32) -> Self {
        let (sin, cos) = deg.to_radians().sin_cos();
        Self { sin, cos }
    }

    pub fn apply(self, c: [f32; 3]) -> [f32; 3] {
        let (s, co) = (self.sin, self.cos);
        let y = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        let i = 0.596 * c[0] - 0.274 * c[1] - 0.322 * c[2];
        let q = 0.211 * c[0] - 0.523 * c[1] + 0.312 * c[2];
        let (i, q) = (i * co - q * s, i * s + q * co);
        [
            y + 0.956 * i + 0.621 * q,
            y - 0.272 * i - 0.647 * q,
            y - 1.106 * i + 1.703 * q,
        ]
    }
}

/// Transparent washes on cold-press paper, after Curtis et al. and Bousseau et
/// al.: an abstracted image is laid down as a few washes whose edges follow its
/// shapes and wander a little as a hand-laid wash does; each wash is graded
/// (it keeps some of the modelling under it) and its border is a narrow wet
/// edge, darker where pigment pooled as it dried. Pigment density, not ink,
/// makes the darks: a wash never goes darker than layered pigment can
/// (`DEEPEST`), so a dark suit is a deep wash rather than black islands.
/// Granulation settles in the paper's tooth, more in heavy washes; the
/// lightest band is bare paper; a faint pencil underdrawing holds the features.
/// The face gets more, finer washes.
pub fn watercolor(ctx: &Ctx) -> Rgb {
    /// Largest pigment density: the darkest wash keeps 28 % of the paper's light.
    const DEEPEST: f32 = 0.72;
    let p = &ctx.params;
    let mut dice = ctx.dice(0x3A7E);
    let hue = HueShift::degrees(dice.range(-10.0, 10.0));
    let sat = p.saturation * dice.range(0.9, 1.1);
    let abs = ctx.abstracted();
    // Colour bleeds within a wash: it is softer than the value structure, and
    // wetter (softer still) off the face.
    let bled = abs.map_planes(|c| {
        let near = gauss(c, ctx.wr(1.5));
        let far = gauss(c, ctx.wr(4.0));
        Plane {
            d: (0..near.d.len())
                .map(|i| far.d[i] + (near.d[i] - far.d[i]) * ctx.face.d[i])
                .collect(),
            ..near
        }
    });
    let colour = Rgb {
        d: bled
            .d
            .iter()
            .map(|&c| saturate(hue.apply(c), sat).map(|v| v.clamp(0.0, 1.0)))
            .collect(),
        ..bled
    };
    let tone = abs.luma();
    let lines = dog(&tone, ctx.wr(p.line_sigma), 1.6);
    let t = ctx.ink_threshold(&lines, 0.04 * p.lines);
    // The underdrawing draws contours, not every dark speck: only marks that
    // run for a while survive.
    let drawn = large_regions(
        &lines.zip(&ctx.subj, |l, s| if s > 0.3 { -l / t } else { 0.0 }),
        1.0,
        (ctx.wr(4.0) * ctx.wr(4.0)) as usize,
    );
    let drawn = gauss(&drawn, ctx.wr(0.8));
    let levels = p.levels.max(2) as f32;
    let (ww, wh) = (ctx.work.w, ctx.work.h);
    let seed = ctx.seed;
    let wpx = ctx.work_px;
    // Each pixel's wash: `floor(coord)` of `count` washes, the face getting
    // more, finer ones. Wash edges wander with a slow noise, so they are not
    // contour lines of the photo.
    let count = ctx.face.map(|f| levels + 3.0 * f);
    let mut coord = Plane::from_fn(ww, wh, |x, y| {
        let i = y * ww + x;
        let f = ctx.face.d[i];
        let (fx, fy) = (x as f32 / wpx, y as f32 / wpx);
        let wander = 0.45 * fbm(seed ^ 0x77, fx, fy, 70.0, 2);
        (1.0 - tone.d[i]) * count.d[i] + wander * (1.0 - 0.6 * f)
    });
    // Where the noise barely crosses into the next wash it leaves specks:
    // off the face, islands smaller than a broad brush's touch join the wash
    // around them.
    merge_small_washes(&mut coord, &ctx.face, (ctx.wr(9.0) * ctx.wr(9.0)) as usize);
    // A wash is graded, not flat: it keeps a third of the modelling beneath it.
    let q_of = |c: f32, n: f32| {
        let band = c.floor();
        let wet_edge = smoothstep(0.82, 1.0, c - band);
        let stepped = (band + wet_edge) / n;
        (0.68 * stepped + 0.32 * c / n).clamp(0.0, 1.0)
    };
    let q_work = coord.zip(&count, q_of);
    // Pigment pools at a wash's border on its darker side: the wash minus its
    // blurred self, only where positive, so the rim stays inside the wash.
    let rim = q_work.zip(&gauss(&q_work, ctx.wr(1.2)), |q, b| (q - b).max(0.0));
    let (w, h) = (ctx.w, ctx.h);
    let colour = colour.resized(w, h);
    // The continuous coordinate is brought up and quantised at output size, so
    // wash edges stay crisp.
    let coord = coord.resized(w, h);
    let count = count.resized(w, h);
    let rim = rim.resized(w, h);
    let lines = lines.resized(w, h);
    let drawn = drawn.resized(w, h);
    let presence = ctx.presence(0.35);
    let paper = ctx.paper();
    let (px, tex) = (ctx.px, p.texture);
    // Pigment pools over a hundred pixels: evaluated on a coarse lattice.
    // Granulation and paper bump are per pixel.
    let turbulence = Plane::smooth_from_fn(w, h, (8.0 * px).round() as usize, |x, y| {
        fbm(seed, x / px, y / px, 150.0, 2)
    });
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let q = q_of(coord.d[i], count.d[i]);
        let c = colour.d[i];
        // The pigment's absorption is scaled so the wash has its band's value;
        // near-white colour stays light rather than carrying a dark wash.
        let absorb = (1.0 - luma(c)).max(0.2);
        let gran = fbm(seed ^ 1, fx, fy, 3.0, 2);
        let turb = turbulence.d[i];
        let density = (DEEPEST * q / absorb).min(1.0)
            * (1.0 + 0.22 * tex * turb + (0.12 + 0.18 * q) * tex * gran)
            * (1.0 + 2.5 * rim.d[i]);
        let wash = c.map(|v| (1.0 - (1.0 - v) * density.min(1.3)).clamp(0.0, 1.0));
        // However colour and pigment combine, a wash keeps some light: values
        // under 0.4 are compressed towards `1 - DEEPEST`, keeping their order
        // (granulation and rims still show in the deepest wash).
        let l = luma(wash);
        let floor = 1.0 - DEEPEST;
        let lifted = if l < 0.4 {
            floor + l * (0.4 - floor) / 0.4
        } else {
            l
        };
        let wash = wash.map(|v| (v + lifted - l).clamp(0.0, 1.0));
        let wash = [paper[0] * wash[0], paper[1] * wash[1], paper[2] * wash[2]];
        let mut out = mix3(paper, wash, presence.d[i]);
        let ink = smoothstep(t, t * 1.8, -lines.d[i]) * ctx.subj_full.d[i] * drawn.d[i];
        out = out.map(|v| v * (1.0 - 0.22 * ink));
        let bump = fbm(seed ^ 2, fx, fy, 5.0, 2);
        out.map(|v| v * (1.0 - 0.05 * tex * bump.abs()))
    })
}

/// Gives every wash region (pixels with the same `floor(coord)`) smaller than
/// `min_area` pixels and mostly off the face the wash that most of its
/// neighbours have.
fn merge_small_washes(coord: &mut Plane, face: &Plane, min_area: usize) {
    let (w, h) = (coord.w, coord.h);
    let band: Vec<i32> = coord.d.iter().map(|c| c.floor() as i32).collect();
    let regions = Regions {
        w,
        h,
        diagonals: false,
    };
    regions.for_each(
        |_| true,
        |a, b| band[a] == band[b],
        |region| {
            if region.len() >= min_area {
                return;
            }
            let on_face = region.iter().map(|&i| face.d[i]).sum::<f32>() / region.len() as f32;
            if on_face > 0.5 {
                return;
            }
            let own = band[region[0]];
            let mut votes: Vec<(i32, usize)> = Vec::new();
            for &i in region {
                let (x, y) = (i % w, i / w);
                let neighbours = [
                    (x > 0).then(|| i - 1),
                    (x + 1 < w).then(|| i + 1),
                    (y > 0).then(|| i - w),
                    (y + 1 < h).then(|| i + w),
                ];
                for j in neighbours.into_iter().flatten() {
                    if band[j] != own {
                        match votes.iter_mut().find(|v| v.0 == band[j]) {
                            Some(v) => v.1 += 1,
                            None => votes.push((band[j], 1)),
                        }
                    }
                }
            }
            if let Some(&(to, _)) = votes.iter().max_by_key(|v| v.1) {
                for &i in region {
                    coord.d[i] = to as f32 + 0.5;
                }
            }
        },
    );
}

/// Impasto oil, painted stroke by stroke: an anisotropic-Kuwahara underpainting
/// (broad in the background, small on the face) gives each stroke its colour;
/// broad strokes block in everything, medium ones model the figure where it
/// still differs, short ones shape the face. Stroke relief is lit from the top
/// left over a warm, dark studio ground and canvas weave.
pub fn oil(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0x011);
    let warmth = dice.range(0.0, 0.05);
    let flow_src = guided(&ctx.work, ctx.wr(2.0).round().max(1.0) as usize, 0.01).luma();
    let flow = structure_flow(&flow_src, ctx.wr(2.5));
    let radius = ctx.radius_plane();
    let painted = kuwahara(&ctx.work, &flow, &radius, 8.0);
    let (w, h) = (ctx.w, ctx.h);
    let full = painted.resized(w, h);
    let reference = Reference {
        colour: &painted,
        flow: &flow,
        full: &full,
    };
    let under = painted.map_planes(|c| gauss(c, ctx.wr(1.5)));
    let mut canvas = Canvas::new(under.resized(w, h));
    // Brush sizes in output pixels: `stroke` is the subject brush's width at 1024 px.
    let brush = p.stroke * ctx.px * ctx.stroke_scale * 0.5;
    let seed = ctx.seed;
    canvas.paint(
        &reference,
        &Layer {
            half_width: brush * p.background_scale.max(1.0) * 1.5,
            aspect: 3.0,
            mask: None,
            error: 0.0,
            jitter: 1.0,
            salt: 0xB1,
        },
        seed,
    );
    canvas.paint(
        &reference,
        &Layer {
            half_width: brush,
            aspect: 2.6,
            mask: Some(&ctx.subj_full),
            error: 0.03,
            jitter: 0.7,
            salt: 0xB2,
        },
        seed,
    );
    canvas.paint(
        &reference,
        &Layer {
            half_width: brush * p.face_radius / p.radius.max(0.5),
            aspect: 2.0,
            mask: Some(&ctx.face_full),
            error: 0.02,
            jitter: 0.3,
            salt: 0xB3,
        },
        seed,
    );
    let Canvas {
        colour,
        height: relief,
    } = canvas;
    // Paint settles: the relief has no knife-sharp steps at stroke borders.
    let relief = gauss(&relief, ctx.px.max(0.5));
    let subj = &ctx.subj_full;
    let fade = p.background_fade;
    let (px, tex) = (ctx.px, p.texture);
    let ground = [0.16 + warmth, 0.12, 0.09];
    // The weave is a product of two sines: one table per axis.
    let weave_x: Vec<f32> = (0..w).map(|x| (x as f32 / px * 1.9).sin()).collect();
    let weave_y: Vec<f32> = (0..h).map(|y| (y as f32 / px * 1.9).sin()).collect();
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let c = saturate(colour.d[i], p.saturation);
        let c = [c[0] * (1.02 + warmth), c[1], c[2] * (0.97 - warmth)];
        // Gentle S-curve for the chiaroscuro of a studio portrait.
        let c = c.map(|v| {
            let v = v.clamp(0.0, 1.0);
            v + 0.35 * v * (1.0 - v) * (v - 0.5)
        });
        let bg = (1.0 - subj.d[i]) * fade * 0.8;
        let c = mix3(
            c,
            [
                c[0] * ground[0] * 3.0,
                c[1] * ground[1] * 3.0,
                c[2] * ground[2] * 3.0,
            ],
            bg,
        );
        let (hx, hy) = (
            relief.at((x + 1).min(w - 1), y) - relief.at(x.saturating_sub(1), y),
            relief.at(x, (y + 1).min(h - 1)) - relief.at(x, y.saturating_sub(1)),
        );
        let light = 1.0 + tex * 0.55 * (1.0 - 0.7 * ctx.face_full.d[i]) * (-(hx + hy));
        let weave = weave_x[x] * weave_y[y] * 0.5 + 0.5;
        let canvas = 1.0 - 0.04 * tex * weave - 0.03 * tex * hash01(seed ^ 9, x as i32, y as i32);
        c.map(|v| (v * light * canvas).clamp(0.0, 1.0))
    })
}

/// Soft pastel: a light, airy palette laid in chalky strokes on tinted paper; the
/// paper's tooth shows through where pressure is light, and a pastel pencil
/// line holds the features.
pub fn pastel(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0xFA57);
    let angle = dice.range(0.5, 1.1);
    let hue = HueShift::degrees(dice.range(-8.0, 8.0));
    let abs = ctx.abstracted();
    let lines = dog(&abs.luma(), ctx.wr(p.line_sigma), 1.6);
    let t = ctx.ink_threshold(&lines, 0.06 * p.lines);
    let (w, h) = (ctx.w, ctx.h);
    let colour = Rgb {
        d: abs
            .d
            .iter()
            .map(|&c| saturate(hue.apply(c), p.saturation))
            .collect(),
        ..abs
    }
    .resized(w, h);
    let lines = lines.resized(w, h);
    let presence = ctx.presence(0.45);
    let paper = ctx.paper();
    let (seed, px, tex) = (ctx.seed, ctx.px, p.texture);
    let len = p.stroke * 3.0 * ctx.stroke_scale;
    let wid = p.stroke * 0.35 * ctx.stroke_scale;
    let (dir, cross) = (Dir::new(angle), Dir::new(angle + 1.2));
    // The hand's slow drift, coarse: it spans ninety pixels.
    let wobble = Plane::smooth_from_fn(w, h, (4.0 * px).round() as usize, |x, y| {
        0.35 * fbm(seed ^ 3, x / px, y / px, 90.0, 2)
    });
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let c = colour.d[i];
        // Each chalk stroke is a slightly different stick.
        let stick = streaks(seed ^ 0x51, fx, fy, dir, len * 1.5, wid * 1.5);
        let c = c.map(|v| v * (0.93 + 0.14 * stick));
        // Light and low in contrast: chalk never reaches photographic blacks.
        let c = c.map(|v| 0.3 + 0.68 * v.clamp(0.0, 1.0));
        let s1 = streaks(seed ^ 4, fx, fy, dir.turned(wobble.d[i]), len, wid);
        let s2 = streaks(seed ^ 5, fx, fy, cross.turned(wobble.d[i]), len * 0.8, wid);
        let tooth = value(seed ^ 6, fx / 1.4, fy / 1.4);
        let pressure = presence.d[i];
        let cover = smoothstep(
            0.3,
            0.62,
            pressure * 0.8 + 0.45 * (s1.max(s2) - 0.5) + tex * 0.4 * (tooth - 0.5),
        );
        let mut out = mix3(paper, c, cover);
        // Chalk lies on the tooth's peaks: a faint lighter speckle.
        out = mix3(
            out,
            [1.0; 3],
            0.08 * tex * smoothstep(0.75, 0.95, tooth) * cover,
        );
        let ink = smoothstep(t * 0.7, t * 1.5, -lines.d[i]) * ctx.subj_full.d[i];
        let line_col = c.map(|v| v * 0.45);
        mix3(out, line_col, ink * 0.8)
    })
}
