//! Painted media: watercolor, oil and soft pastel.

use super::Ctx;
use super::filters::{dog, guided, kuwahara};
use super::noise::{Dir, fbm, floor, hash01, value};
use super::raster::{
    Plane, Regions, Rgb, gauss, large_regions, luma, mix3, saturate, smoothstep, structure_flow,
};
use super::strokes::{Canvas, Layer, Reference, sample_rgb};

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

/// Soft pastel on tinted paper: a rubbed-in layer of the lifted palette, then
/// two layers of short directional chalk strokes crossing at a seeded angle,
/// each stroke one colour taken where it is laid (so strokes read as marks,
/// not as a texture over a photo), tapered at both ends and lifted where the
/// colour under it changes, so edges survive. Chalk catches the paper's tooth
/// before its valleys: light pressure leaves tinted paper speckled through.
/// The face gets short strokes over a denser rubbed layer, so its features
/// hold; a pastel-pencil contour in the local colour, darker, draws them.
pub fn pastel(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0xFA57);
    let angle = dice.range(0.5, 1.1);
    let cross = angle + dice.range(0.7, 1.0);
    let hue = HueShift::degrees(dice.range(-8.0, 8.0));
    let abs = ctx.abstracted();
    let lines = dog(&abs.luma(), ctx.wr(p.line_sigma), 1.6);
    let t = ctx.ink_threshold(&lines, 0.05 * p.lines);
    let (w, h) = (ctx.w, ctx.h);
    // Light and low in contrast: chalk never reaches photographic blacks.
    // Off the face the darks are lifted further (a dark suit is built up
    // densely below, and must stay light and airy); the face keeps the
    // contrast its features need to be read as a face.
    let lift = |c: [f32; 3], face: f32| {
        let darkest = 0.40 - 0.06 * face;
        saturate(hue.apply(c), p.saturation).map(|v| darkest + (0.98 - darkest) * v.clamp(0.0, 1.0))
    };
    let colour = Rgb {
        d: abs
            .d
            .iter()
            .zip(&ctx.face.d)
            .map(|(&c, &face)| lift(c, face))
            .collect(),
        ..abs
    };
    // Rubbed-in chalk is softer than the strokes laid over it.
    let rubbed = colour.map_planes(|c| gauss(c, ctx.wr(1.2))).resized(w, h);
    let colour = colour.resized(w, h);
    // Where the picture has detail (eyes, a mouth, an ear's rim) a pastellist
    // works with the chalk's edge in short strokes: broad strokes there would
    // smear what makes the subject recognisable. A pet's detail mask may
    // cover only the most salient part of its head (chelsea.png's right eye
    // was smeared), so detail is read from the picture itself.
    let detail = gauss(&lines.map(|v| v.abs()), ctx.wr(2.0));
    // The subject's most detailed 12 %: `ink_threshold` ranks a field's
    // valleys, and detail's peaks are the valleys of its negation.
    let detail_at = ctx.ink_threshold(&detail.map(|v| -v), 0.12);
    let detail = detail.map(|v| smoothstep(0.5 * detail_at, detail_at, v));
    let lines = lines.resized(w, h);
    let detail = detail.resized(w, h);
    let presence = ctx.presence(0.45);
    let paper = ctx.paper();
    let (seed, px, tex) = (ctx.seed, ctx.px, p.texture);
    // Stroke sizes in pixels of a 1024 px render.
    let len = p.stroke * 5.0 * ctx.stroke_scale;
    let wid = p.stroke * 1.1 * ctx.stroke_scale;
    let layers = [
        ChalkLayer::new(angle, len, wid, seed ^ 0x51),
        ChalkLayer::new(cross, len * 0.8, wid * 0.85, seed ^ 0x52),
        ChalkLayer::new(angle + 0.15, len * 0.4, wid * 0.45, seed ^ 0x53),
    ];
    // The hand's slow drift bends the strokes; it spans ninety pixels.
    let wobble = Plane::smooth_from_fn(w, h, (4.0 * px).round() as usize, |x, y| {
        0.6 * fbm(seed ^ 3, x / px, y / px, 90.0, 2)
    });
    // The coarse felt of the tooth, four pixels across, on a lattice.
    let felt = Plane::smooth_from_fn(w, h, (2.0 * px).round().max(1.0) as usize, |x, y| {
        value(seed ^ 7, x / px / 4.0, y / px / 4.0)
    });
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let here = colour.d[i];
        let pressure = presence.d[i];
        let f = ctx.face_full.d[i];
        let s = ctx.subj_full.d[i].max(f);
        // The paper's tooth: fine grain plus a coarser felt.
        let tooth = 0.65 * value(seed ^ 6, fx / 1.3, fy / 1.3) + 0.35 * felt.d[i];
        let grain = tex * (tooth - 0.5);
        // Chalk catches the tooth's peaks first: coverage for a pressure.
        let catch = |amount: f32| smoothstep(0.25, 0.75, amount + 0.9 * grain);
        let mut out = paper;
        // The rubbed-in layer: thin off the face, dense on it, and dense where
        // the colour is deep: a dark jacket is built up until little paper
        // shows, or the light paper sparkles through it. The face keeps its
        // own layering, which the detector still reads as a face.
        let rub_col = rubbed.d[i];
        let deep = smoothstep(0.3, 0.55, 1.0 - luma(rub_col)) * pressure * (1.0 - f);
        let rub = pressure * (0.6 + 0.35 * f) + 0.35 * deep;
        out = mix3(
            out,
            rub_col,
            catch(rub) * (0.8 + 0.15 * f + 0.05 * deep).min(0.95),
        );
        // Strokes: the broad layers on the subject and, fainter, the ground;
        // the fine layer on the face and wherever there is detail, where
        // broad strokes would smear the features (biden.jpg's face was lost
        // to the detector at 768 px).
        let fine = f.max(detail.d[i] * pressure);
        let broad = pressure * (1.0 - 0.8 * fine);
        let reach = [broad, broad * (0.35 + 0.65 * s), fine];
        for (layer, weight) in layers.iter().zip(reach) {
            if weight <= 0.01 {
                continue;
            }
            let Some((shape, centre)) = layer.at(fx, fy, wobble.d[i]) else {
                continue;
            };
            let amount = shape * weight * 1.1;
            // Too light a touch to catch even the tooth's peaks: nothing to lay.
            if amount + 0.9 * grain <= 0.25 {
                continue;
            }
            let (cx, cy) = (centre.0 * px, centre.1 * px);
            let stick = sample_rgb(&colour, cx, cy);
            let jitter = 0.91 + 0.18 * hash01(layer.seed ^ 9, centre.0 as i32, centre.1 as i32);
            let stick = stick.map(|v| (v * jitter).min(1.0));
            // A stroke lifts where the colour under it changes: it does not
            // carry the jacket's colour across the collar.
            let diff = (0..3).map(|k| (stick[k] - here[k]).abs()).sum::<f32>() / 3.0;
            let keep = 1.0 - smoothstep(0.06, 0.16, diff);
            let cover = catch(amount) * keep;
            out = mix3(out, stick, cover * 0.9);
        }
        // Chalk dust on the tooth's peaks: a faint lighter speckle.
        out = mix3(
            out,
            [1.0; 3],
            0.07 * tex * smoothstep(0.8, 0.97, tooth) * pressure * (1.0 - deep),
        );
        let ink = smoothstep(t * 0.8, t * 1.6, -lines.d[i]) * s;
        let line_col = here.map(|v| v * 0.5);
        mix3(out, line_col, ink * 0.75 * catch(0.85))
    })
}

/// One layer of chalk strokes: rows `width` apart across `dir`, each row cut
/// into strokes about `length` long at a seeded offset, so strokes are laid
/// side by side like a pastellist's hatching and never on a visible grid.
struct ChalkLayer {
    dir: Dir,
    length: f32,
    width: f32,
    seed: u64,
}

impl ChalkLayer {
    fn new(angle: f32, length: f32, width: f32, seed: u64) -> Self {
        Self {
            dir: Dir::new(angle),
            length: length.max(2.0),
            width: width.max(1.0),
            seed,
        }
    }

    /// The stroke over the point (`x`, `y`) in pixels of a 1024 px render:
    /// how much of the stroke is there (1 at its spine, tapering to 0 at its
    /// ends and sides) and its centre, where its colour is taken. `bend`, in
    /// rows, is the hand's drift. `None` between strokes.
    fn at(&self, x: f32, y: f32, bend: f32) -> Option<(f32, (f32, f32))> {
        let (c, s) = (self.dir.cos, self.dir.sin);
        let u = x * c + y * s;
        let v = -x * s + y * c + bend * self.width;
        let row = floor(v / self.width);
        let r = row as i32;
        let offset = hash01(self.seed, r, 0) * self.length;
        let col = floor((u + offset) / self.length);
        let k = col as i32;
        let (cu, cv) = ((u + offset) / self.length - col, v / self.width - row);
        // Each stroke its own length, sideways drift and width.
        let h1 = hash01(self.seed ^ 1, k, r);
        let h2 = hash01(self.seed ^ 2, k, r);
        let h3 = hash01(self.seed ^ 3, k, r);
        let (start, end) = (0.04 * h1, 0.86 + 0.14 * h2);
        if cu < start || cu > end {
            return None;
        }
        let along = (cu - start) / (end - start);
        let across = ((cv - 0.5 - 0.25 * (h3 - 0.5)) * 2.0).abs() / (0.95 + 0.3 * h1);
        if across >= 1.0 {
            return None;
        }
        // Pressed at the start, lifted off at the end.
        let taper = smoothstep(0.0, 0.12, along) * (1.0 - smoothstep(0.6, 1.0, along) * 0.7);
        let shape = taper * (1.0 - across * across);
        let mid = (start + end) * 0.5;
        let cu0 = (col + mid) * self.length - offset;
        let cv0 = (row + 0.5) * self.width - bend * self.width;
        let centre = (cu0 * c - cv0 * s, cu0 * s + cv0 * c);
        Some((shape, centre))
    }
}
