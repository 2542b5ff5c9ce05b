//! Drawn media: line art, pencil, charcoal and ink wash. Continuous fields (tone,
//! difference of Gaussians) are computed at work resolution and brought up to
//! the output size before the ink curve, so strokes stay crisp at any size.

use super::Ctx;
use super::filters::{dog, fdog};
use super::noise::{Dir, cell, fbm, hash01, streaks, value};
use super::raster::{Plane, Regions, Rgb, gauss, mix3, nth, quantile, smoothstep, structure_flow};

/// Percentile stretch of the tone on the subject, so dim photos still draw.
fn stretched(l: &Plane, subj: &Plane) -> Plane {
    let mut v: Vec<f32> =
        l.d.iter()
            .zip(&subj.d)
            .filter(|(_, s)| **s > 0.5)
            .map(|(l, _)| *l)
            .collect();
    if v.len() < 16 {
        v = l.d.clone();
    }
    let n = v.len();
    let lo = nth(&mut v, n / 50);
    let hi = nth(&mut v, n * 49 / 50).max(lo + 0.05);
    l.map(|x| ((x - lo) / (hi - lo)).clamp(0.0, 1.0))
}

/// Contour ink from a DoG field, normalised so that 1.0 is the ink level: the
/// face and the rest of the subject each get their own level (a fixed share of
/// their pixels), so a low-contrast face still draws next to a busy background.
fn contour_field(ctx: &Ctx, l: &Plane, sigma: f32, share: f32) -> Plane {
    contour_field_by(ctx, sigma, share, |s, _| dog(l, s, 1.6))
}

/// [`contour_field`] over any edge field `field(sigma, region)` (a DoG at
/// that scale, needed only where `region` is above zero when one is given).
fn contour_field_by(
    ctx: &Ctx,
    sigma: f32,
    share: f32,
    field: impl Fn(f32, Option<&Plane>) -> Plane,
) -> Plane {
    let d = field(sigma, None);
    // The finer scale only counts on the face.
    let d_fine = field(sigma * 0.7, Some(&ctx.face));
    let mut out = d.clone();
    for i in 0..out.d.len() {
        let f = ctx.face.d[i];
        // Face lines come from the finer scale.
        out.d[i] = d.d[i] + (d_fine.d[i] - d.d[i]) * f;
    }
    let level = |mask: &Plane| {
        let mut v: Vec<f32> = out
            .d
            .iter()
            .zip(&mask.d)
            .filter(|(_, m)| **m > 0.5)
            .map(|(d, _)| -d)
            .collect();
        if v.len() < 16 {
            return None;
        }
        Some(quantile(&mut v, 1.0 - share.clamp(0.001, 0.5)).max(0.003))
    };
    let body_only = ctx
        .subj
        .zip(&ctx.face, |s, f| if f < 0.2 { s } else { 0.0 });
    let body = level(&body_only).unwrap_or(0.02);
    let face = level(&ctx.face).unwrap_or(body);
    // A drawing does not run into the paper's edge, and the blur's clamped
    // borders invent edges there: lines fade out over the outer 3 %.
    let (w, h) = (out.w, out.h);
    let margin = 0.03 * w.max(h) as f32;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let (f, s) = (ctx.face.d[i], ctx.subj.d[i]);
            let lvl = body + (face - body) * f;
            let edge = [x, y, w - 1 - x, h - 1 - y]
                .into_iter()
                .map(|d| d as f32)
                .fold(f32::INFINITY, f32::min);
            let frame = smoothstep(0.0, margin, edge);
            // Outside the subject lines need to be much stronger to count: a
            // busy background would otherwise draw as dark blots.
            out.d[i] = out.d[i] / lvl * (0.35 + 0.65 * s.max(f)) * frame;
        }
    }
    out
}

/// Ink contours on white paper, drawn with a flow-based DoG (Kang et al.
/// 2007): lines run along the edges' own direction, so eyes, nose, mouth, jaw
/// and hair come out as continuous strokes. Weak stretches of an edge are
/// drawn only where they continue a strong line (hysteresis, as in Canny's
/// edge linking), thinner than the strong parts: a jaw line fading into shadow
/// stays one stroke that thins instead of breaking, and weak marks that
/// continue nothing are left out. The darks a pen would lay in are hatched:
/// the head's darkest masses (hair, brows) crossed, as XDoG's soft threshold
/// fills them (Winnemöller et al. 2012), the face's shadows and the clothes'
/// darks with sparse parallel lines. Without that tone a contour drawing
/// keeps too little of the photo's structure to be recognised (obama.jpg:
/// structure SSIM 0.15).
pub fn line_art(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let l = stretched(&ctx.abstracted_with(false).luma(), &ctx.subj);
    let flow = structure_flow(&gauss(&l, ctx.wr(0.8)), ctx.wr(3.0));
    let field = contour_field_by(ctx, ctx.wr(p.line_sigma), 0.06 * p.lines, |s, region| {
        fdog(&l, &flow, s, 1.6, ctx.wr(3.0), region)
    });
    // The level at which a pixel inks on its own; the face draws at a lower
    // one so eyes, nose and mouth survive.
    let strong_level = |f: f32| 1.05 - 0.5 * f;
    let linked = linked_lines(&field, &ctx.face, strong_level, 0.45);
    let fill = head_masses(ctx, &l);
    let body = body_masses(ctx, &stretched(&ctx.work.luma(), &ctx.subj));
    // Each valley's peak nearby, to keep a strong line from swelling into a bar.
    let peak = local_max(&field.map(|v| -v), ctx.wr(2.0).max(1.0) as usize);
    let (w, h) = (ctx.w, ctx.h);
    let field = field.resized(w, h);
    let peak = peak.resized(w, h);
    let linked = gauss(&linked, 0.6).resized(w, h);
    let fill = fill.resized(w, h);
    let body = body.resized(w, h);
    let paper = ctx.paper();
    let ink_col = [0.07, 0.07, 0.09];
    let mut dice = ctx.dice(0x11A7);
    let hatch_angle = dice.range(0.6, 0.95);
    let (hatch_dir, cross_dir) = (Dir::new(hatch_angle), Dir::new(hatch_angle - 1.3));
    let (seed, px) = (ctx.seed, ctx.px);
    let spacing = 3.5 * ctx.stroke_scale;
    let bend = Plane::smooth_from_fn(w, h, (3.0 * px).round() as usize, |x, y| {
        0.5 * fbm(seed, x / px, y / px, 30.0, 2)
    });
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        // Only the strongest part of each valley inks: a line whose weight
        // grows with the edge's contrast, not a band; and never more than its
        // core (the part within about half of its peak), so a hard edge
        // draws a firm line rather than a bar.
        let f = ctx.face_full.d[i];
        let lo = strong_level(f);
        let v = -field.d[i];
        let core = smoothstep(0.5, 0.7, v / peak.d[i].max(1e-6));
        let strong = smoothstep(lo, lo + 0.45, v);
        let subject = ctx.subj_full.d[i].max(f);
        // Weak stretches continue lines on the subject only: in the
        // background they would trace every fold of a curtain.
        let weak =
            smoothstep(0.45 * lo, 0.45 * lo + 0.3, v) * linked.d[i] * smoothstep(0.5, 0.8, subject);
        let line = strong.max(0.85 * weak) * core;
        // Dark masses are hatched, as a pen lays in hair: crossed where darkest.
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let dark = fill.d[i];
        let h1 = hatch(seed, fx, fy, hatch_dir, spacing, bend.d[i], dark, 0.0);
        let h2 = hatch(seed ^ 1, fx, fy, cross_dir, spacing, bend.d[i], dark, 0.5);
        let b = pen_hatch(fx, fy, hatch_dir, spacing * 1.6, bend.d[i], body.d[i] * 0.7);
        let masses = h1.max(h2).max(b);
        // The drawing is of the person: the background stays bare paper. The
        // mask's rim is where the silhouette's own outline runs, so it is kept.
        let keep = smoothstep(0.2, 0.5, subject);
        let ink = (line * keep).max(masses);
        mix3(paper, ink_col, ink)
    })
}

/// How much sparse hatching each work pixel gets: on the face its shadows
/// (under its own 30th percentile of tone), elsewhere on the subject the
/// clothes' darks (under the subject's 35th percentile, never lighter than
/// 0.3). `l` is the photo's tone without the background blur, so a dark suit's
/// edge against the background stays sharp.
fn body_masses(ctx: &Ctx, l: &Plane) -> Plane {
    let tone = gauss(l, ctx.wr(1.0));
    // The face's shadows against the face's own tones, the clothes' darks
    // against the subject's.
    let level = |mask: &Plane, q: f32, max: f32| {
        let mut v: Vec<f32> = tone
            .d
            .iter()
            .zip(&mask.d)
            .filter(|(_, m)| **m > 0.5)
            .map(|(t, _)| *t)
            .collect();
        (v.len() >= 16).then(|| quantile(&mut v, q).min(max))
    };
    let body = level(&ctx.subj, 0.35, 0.3).unwrap_or(-1.0);
    let face = level(&ctx.face, 0.3, 0.45).unwrap_or(-1.0);
    let face_amount = 0.6;
    Plane::from_fn(l.w, l.h, |x, y| {
        let i = y * l.w + x;
        let f = ctx.face.d[i];
        let t = tone.d[i];
        let clothes = smoothstep(body + 0.05, body - 0.05, t) * smoothstep(0.3, 0.6, ctx.subj.d[i]);
        let shadow = smoothstep(face + 0.04, face - 0.06, t) * face_amount;
        clothes * (1.0 - f) + shadow * f
    })
}

/// Pen hatching: parallel ink lines along `dir`, `spacing` apart, as wide as
/// `amount` asks (0 none, 1 about half the spacing); `wobble` (in spacings)
/// bends them as a hand does.
fn pen_hatch(fx: f32, fy: f32, dir: Dir, spacing: f32, wobble: f32, amount: f32) -> f32 {
    if amount <= 0.0 {
        return 0.0;
    }
    let v = -fx * dir.sin + fy * dir.cos;
    let line = 1.0 - (cell(v / spacing + wobble) - 0.5).abs() * 2.0;
    let width = amount.min(1.0) * 0.45;
    smoothstep(1.0 - width, 1.0 - width + 0.12, line)
}

/// The largest value within `r` pixels (a square window), separably.
fn local_max(p: &Plane, r: usize) -> Plane {
    let (w, h) = (p.w, p.h);
    let rows = Plane::from_fn(w, h, |x, y| {
        let row = &p.d[y * w..(y + 1) * w];
        row[x.saturating_sub(r)..(x + r + 1).min(w)]
            .iter()
            .copied()
            .fold(f32::MIN, f32::max)
    });
    Plane::from_fn(w, h, |x, y| {
        (y.saturating_sub(r)..(y + r + 1).min(h))
            .map(|yy| rows.d[yy * w + x])
            .fold(f32::MIN, f32::max)
    })
}

/// 1 on the weak stretches of contour (above `weak` times the strong level)
/// that are connected to a strong one (above `strong_level(face)`), 0
/// elsewhere: hysteresis over a normalised contour field.
fn linked_lines(
    field: &Plane,
    face: &Plane,
    strong_level: impl Fn(f32) -> f32,
    weak: f32,
) -> Plane {
    let level = |i: usize| strong_level(face.d[i]);
    let regions = Regions {
        w: field.w,
        h: field.h,
        diagonals: true,
    };
    let mut out = Plane::new(field.w, field.h, 0.0);
    regions.for_each(
        |i| -field.d[i] > weak * level(i),
        |_, j| -field.d[j] > weak * level(j),
        |region| {
            if region.iter().any(|&i| -field.d[i] > level(i)) {
                for &i in region {
                    out.d[i] = 1.0;
                }
            }
        },
    );
    out
}

/// Ink coverage of the head's darkest masses (hair, brows, pupils, a beard)
/// at work size: the darkest fifth of the head's tone, and never lighter than
/// a third of the stretched range, with a soft edge. A dark region is filled
/// only when most of it lies within the head (an ellipse reaching above the
/// face for the hair): dark background beside the head runs on past it and
/// stays paper, as does hair that merges with a dark background.
fn head_masses(ctx: &Ctx, l: &Plane) -> Plane {
    let (w, h) = (l.w, l.h);
    let heads: Vec<(f32, f32, f32, f32)> = ctx
        .faces
        .iter()
        .map(|f| {
            let c = f.rect.center();
            (
                c.x,
                c.y - 0.2 * f.rect.height,
                0.8 * f.rect.width,
                0.95 * f.rect.height,
            )
        })
        .collect();
    let head = Plane::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        heads
            .iter()
            .map(|&(cx, cy, rx, ry)| {
                let d = ((px - cx) / rx).hypot((py - cy) / ry);
                1.0 - smoothstep(0.9, 1.0, d)
            })
            .fold(0.0, f32::max)
    });
    let tone = gauss(l, ctx.wr(0.6));
    let mut v: Vec<f32> = tone
        .d
        .iter()
        .zip(&head.d)
        .filter(|(_, m)| **m > 0.5)
        .map(|(t, _)| *t)
        .collect();
    if v.len() < 16 {
        return Plane::new(w, h, 0.0);
    }
    let level = quantile(&mut v, 0.2).min(0.33);
    let dark = |i: usize| tone.d[i] < level + 0.05;
    let mut kept = Plane::new(w, h, 0.0);
    Regions {
        w,
        h,
        diagonals: true,
    }
    .for_each(
        dark,
        |_, j| dark(j),
        |region| {
            let inside = region.iter().filter(|&&i| head.d[i] > 0.5).count();
            if inside * 10 >= region.len() * 7 {
                for &i in region {
                    kept.d[i] = 1.0;
                }
            }
        },
    );
    tone.zip(&kept, |t, k| smoothstep(level + 0.05, level - 0.03, t) * k)
        .zip(&ctx.subj, |f, s| f * smoothstep(0.3, 0.6, s))
}

/// Hatching coverage for one layer: parallel strokes along `dir`, `spacing`
/// apart, growing thicker as `darkness` rises above `start`; broken along their
/// length. `wobble` (in spacings) bends the strokes as a hand does.
#[allow(clippy::too_many_arguments)]
fn hatch(
    seed: u64,
    fx: f32,
    fy: f32,
    dir: Dir,
    spacing: f32,
    wobble: f32,
    darkness: f32,
    start: f32,
) -> f32 {
    let amount = ((darkness - start) / (1.0 - start)).clamp(0.0, 1.0);
    if amount <= 0.0 {
        return 0.0;
    }
    let v = -fx * dir.sin + fy * dir.cos;
    let u = fx * dir.cos + fy * dir.sin;
    let phase = cell(v / spacing + wobble);
    let line = 1.0 - (phase - 0.5).abs() * 2.0; // 1 at the stroke's centre
    let breaks = value(seed ^ 0xB, u / (spacing * 9.0), v / (spacing * 0.9));
    let width = (amount * 1.2).min(1.0);
    smoothstep(1.0 - width, 1.0 - width + 0.25, line) * (0.55 + 0.45 * breaks) * amount.sqrt()
}

/// Graphite: soft tonal shading plus two or three hatching directions, contour
/// lines, all catching on the paper's grain.
pub fn pencil(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0x9E9C);
    let a0 = dice.range(0.6, 0.95);
    let luma = ctx.abstracted().luma();
    // The face gets its own tonal range: a light face over a dark suit would
    // otherwise be drawn in the palest few tones and lose its features.
    let body = stretched(&luma, &ctx.subj);
    let face = stretched(&luma, &ctx.face);
    let l = Plane {
        d: (0..body.d.len())
            .map(|i| body.d[i] + (face.d[i] - body.d[i]) * 0.7 * ctx.face.d[i])
            .collect(),
        ..body
    };
    let field = contour_field(ctx, &l, ctx.wr(p.line_sigma), 0.1 * p.lines);
    let t = 1.0;
    let (w, h) = (ctx.w, ctx.h);
    // Tone is worked up around the head and left lighter further out.
    let darkness = gauss(&l, ctx.wr(1.0))
        // Running-sum blurs can overshoot 1 by a rounding error: no NaN from powf.
        .map(|t| (1.0 - t).max(0.0).powf(0.9))
        .zip(&ctx.finish(0.55), |d, f| d * f)
        .resized(w, h);
    let field = field.resized(w, h);
    let presence = ctx.presence(0.3);
    let paper = ctx.paper();
    let (seed, px, tex) = (ctx.seed, ctx.px, p.texture);
    let spacing = p.stroke * ctx.stroke_scale;
    let graphite = [0.2, 0.21, 0.24];
    let layers = [
        (seed, Dir::new(a0), spacing, 0.12),
        (seed ^ 1, Dir::new(a0 + 1.45), spacing * 1.1, 0.42),
        (seed ^ 2, Dir::new(a0 - 0.7), spacing * 0.9, 0.68),
    ];
    // Strokes bend over forty pixels: the bend is evaluated on a coarse lattice.
    let bends = layers.map(|(s, ..)| {
        Plane::smooth_from_fn(w, h, (3.0 * px).round() as usize, |x, y| {
            0.6 * fbm(s, x / px, y / px, 40.0, 2)
        })
    });
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let dark = darkness.d[i] * presence.d[i];
        let [h1, h2, h3] = [0, 1, 2].map(|k| {
            let (s, dir, spacing, start) = layers[k];
            hatch(s, fx, fy, dir, spacing, bends[k].d[i], dark, start)
        });
        let grain = value(seed ^ 3, fx / 1.2, fy / 1.2);
        // Graphite stays a light medium: soft tone and hatching together
        // leave paper showing even in the darkest areas. The face is blended
        // (stumped) rather than hatched, as in a portrait sketch: hatch lines
        // across a small face break up its features.
        let f = ctx.face_full.d[i];
        let shade = (0.3 + 0.3 * f) * dark;
        let contour = smoothstep(t * 0.7, t * 1.4, -field.d[i]);
        let hatching = h1.max(h2).max(h3) * (0.62 - 0.35 * f);
        let cover =
            (shade + hatching + contour * 0.85).min(1.0) * (1.0 - tex * 0.45 * (1.0 - grain));
        mix3(paper, graphite, cover.clamp(0.0, 0.92))
    })
}

/// Charcoal on toned paper: bold smudged darks, broad diagonal strokes that skip
/// over the paper's coarse tooth, white chalk on the highlights.
pub fn charcoal(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0xC4A2);
    let angle = dice.range(0.55, 1.0);
    let l = stretched(&ctx.abstracted().luma(), &ctx.subj);
    let field = contour_field(ctx, &l, ctx.wr(p.line_sigma), 0.1 * p.lines);
    let t = 1.0;
    let (w, h) = (ctx.w, ctx.h);
    let smudge = gauss(&l, ctx.wr(2.5)).resized(w, h);
    let sharp = l.resized(w, h);
    let field = field.resized(w, h);
    let presence = ctx.presence(0.45);
    let paper = ctx.paper();
    let (seed, px, tex) = (ctx.seed, ctx.px, p.texture);
    let spacing = p.stroke * ctx.stroke_scale;
    let black = [0.07, 0.065, 0.06];
    let dir = Dir::new(angle);
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let tone = smudge.d[i] * 0.6 + sharp.d[i] * 0.4;
        let dark = smoothstep(0.15, 1.05, 1.0 - tone) * presence.d[i];
        let strokes = streaks(seed, fx, fy, dir, spacing * 6.0, spacing * 0.6);
        let tooth =
            value(seed ^ 1, fx / 1.8, fy / 1.8) * 0.6 + hash01(seed ^ 2, x as i32, y as i32) * 0.4;
        let amount = dark * 0.95 + 0.3 * (strokes - 0.5);
        // Charcoal catches the tooth's peaks first and fills the valleys last.
        let cover = smoothstep(tooth * tex - 0.15, tooth * tex + 0.35, amount);
        let contour = smoothstep(t * 0.7, t * 1.5, -field.d[i]) * (0.6 + 0.4 * tooth);
        let cover = (cover * 0.9 + contour * 0.9).min(1.0) * 0.97;
        let mut out = mix3(paper, black, cover);
        let chalk = smoothstep(0.82, 0.97, tone) * ctx.subj_full.d[i] * (0.4 + 0.6 * tooth);
        out = mix3(out, [0.98, 0.97, 0.95], chalk * 0.8);
        out
    })
}

/// Sumi-e: a few graded grey washes with darker pooled edges, calligraphic
/// outlines drawn along the edges' flow (flow-based DoG) and broken by the dry
/// brush, on fibrous rice paper.
pub fn ink_wash(ctx: &Ctx) -> Rgb {
    let p = &ctx.params;
    let mut dice = ctx.dice(0x1A4);
    let fibre_angle = dice.range(0.0, 3.1);
    let l = stretched(&ctx.abstracted().luma(), &ctx.subj);
    let levels = p.levels.max(2) as f32;
    // Soft quantisation: bands with narrow smooth transitions, as washes dry;
    // each wash graded (it keeps some of the modelling beneath it), so the
    // fields read as ink diluted by hand rather than posterised grey.
    let wash = gauss(&l, ctx.wr(1.0)).map(|v| {
        let s = v * (levels - 1.0);
        let b = s.floor();
        let stepped = (b + smoothstep(0.4, 0.6, s - b)) / (levels - 1.0);
        0.65 * stepped + 0.35 * v
    });
    let pig = wash.map(|v| 1.0 - v);
    let edge = gauss(&pig, ctx.wr(1.0)).zip(&gauss(&pig, ctx.wr(3.5)), |a, b| (a - b).max(0.0));
    let flow = structure_flow(&gauss(&l, ctx.wr(0.8)), ctx.wr(3.0));
    let field = contour_field_by(ctx, ctx.wr(p.line_sigma), 0.1 * p.lines, |s, region| {
        fdog(&l, &flow, s, 1.6, ctx.wr(3.0), region)
    });
    let t = 1.0;
    let (w, h) = (ctx.w, ctx.h);
    let wash = wash.resized(w, h);
    let edge = edge.resized(w, h);
    let field = field.resized(w, h);
    let presence = ctx.presence(0.4);
    let paper = ctx.paper();
    let (seed, px, tex) = (ctx.seed, ctx.px, p.texture);
    let (brush, fibres) = (Dir::new(0.3), Dir::new(fibre_angle));
    Rgb::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let (fx, fy) = (x as f32 / px, y as f32 / px);
        let ink_amount = ((1.0 - wash.d[i]) * 0.75 + edge.d[i] * 2.5) * presence.d[i];
        let dry = streaks(seed, fx, fy, brush, 40.0, 1.5);
        let outline = smoothstep(t * 0.7, t * 1.3, -field.d[i]) * smoothstep(0.15, 0.45, dry);
        let a = (ink_amount + outline).min(1.0);
        let fibre = streaks(seed ^ 1, fx, fy, fibres, 25.0, 0.8);
        let paper = paper.map(|v| v * (1.0 - 0.04 * tex * smoothstep(0.8, 1.0, fibre)));
        mix3(paper, [0.08, 0.08, 0.09], a * 0.95)
    })
}
