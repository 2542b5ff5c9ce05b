//! The classic engine: pure-CPU stylization with no weights. Deterministic per
//! seed; the face keeps more detail than the subject, the subject more than the
//! background, so the person stays recognisable in every medium.

mod drawing;
mod filters;
mod masks;
mod noise;
mod paint;
pub mod params;
mod print;
pub(crate) use likeness_vision::raster;
mod strokes;

use crate::engine::{
    CancelFlag, Candidate, Engine, FaceHint, IdentityHints, RenderError, RenderRequest,
};
use image::RgbImage;
use likeness_core::{Catalogue, Point, Rect, Style};
use noise::Dice;
use params::{ClassicParams, Medium};
use raster::{Plane, Rgb, gauss, mix3};
use rayon::prelude::*;
use std::time::Instant;

pub use params::Medium as ClassicMedium;

/// Name recorded on every candidate this engine makes.
pub const ENGINE_NAME: &str = "classic";

pub struct ClassicEngine {
    catalogue: Catalogue,
}

impl ClassicEngine {
    /// Hybrid styles are resolved against `catalogue`.
    pub fn new(catalogue: Catalogue) -> Self {
        Self { catalogue }
    }

    fn plain(&self, id: &likeness_core::StyleId) -> Result<(&Style, ClassicParams), RenderError> {
        let style = self.catalogue.get(id).ok_or_else(|| RenderError::Style {
            style: id.to_string(),
            reason: "not in the catalogue".into(),
        })?;
        Ok((style, style_params(style)?))
    }

    /// One candidate; `cancel` is checked between its passes (preparation, the
    /// body's medium, a hybrid's face medium).
    fn render_one(
        &self,
        req: &RenderRequest,
        seed: u64,
        cancel: &CancelFlag,
    ) -> Result<RgbImage, RenderError> {
        let (body, face) = match &req.style.hybrid {
            Some(h) => (self.plain(&h.body)?.1, Some(self.plain(&h.face)?.1)),
            None => (style_params(&req.style)?, None),
        };
        let strength_scale = (req.strength / req.style.strength.max(0.05)).clamp(0.5, 1.6);
        cancel.check()?;
        let prepared = Prepared::new(req, seed);
        cancel.check()?;
        let body_img = prepared.ctx(&body, seed, strength_scale).render();
        let out = match face {
            None => body_img,
            Some(face_params) => {
                cancel.check()?;
                let face_img = prepared.ctx(&face_params, seed, strength_scale).render();
                // A wider, softer mask than the detail mask: the seam must vanish.
                let blend = gauss(&prepared.face_full, prepared.long as f32 / 90.0);
                Rgb {
                    w: body_img.w,
                    h: body_img.h,
                    d: body_img
                        .d
                        .iter()
                        .zip(&face_img.d)
                        .zip(&blend.d)
                        .map(|((b, f), &m)| mix3(*b, *f, (m * 1.4).min(1.0)))
                        .collect(),
                }
            }
        };
        Ok(out.to_image())
    }
}

impl Default for ClassicEngine {
    fn default() -> Self {
        Self::new(Catalogue::builtin())
    }
}

impl Engine for ClassicEngine {
    fn name(&self) -> &str {
        ENGINE_NAME
    }

    fn render(&self, req: &RenderRequest) -> Result<Vec<Candidate>, RenderError> {
        self.render_cancellable(req, &CancelFlag::default())
    }

    fn render_cancellable(
        &self,
        req: &RenderRequest,
        cancel: &CancelFlag,
    ) -> Result<Vec<Candidate>, RenderError> {
        req.validate()?;
        let span = tracing::info_span!("classic_render", style = %req.style.id, seed = req.seed);
        let _enter = span.enter();
        (0..req.variations)
            .into_par_iter()
            .map(|i| {
                let seed = likeness_core::seeds::variation(req.seed, i);
                let started = Instant::now();
                let image = self.render_one(req, seed, cancel)?;
                Ok(Candidate {
                    image,
                    seed,
                    engine: ENGINE_NAME.to_string(),
                    compute_ms: started.elapsed().as_millis() as u64,
                })
            })
            .collect()
    }
}

/// The typed classic parameters of a plain style.
pub fn style_params(style: &Style) -> Result<ClassicParams, RenderError> {
    ClassicParams::from_table(&style.classic).map_err(|reason| RenderError::Style {
        style: style.id.to_string(),
        reason: format!("classic parameters: {reason}"),
    })
}

/// The seeded crop, output size and masks, shared by both halves of a hybrid.
struct Prepared<'a> {
    long: usize,
    full_w: usize,
    full_h: usize,
    /// The reference and the seeded crop of it that fills the output; each
    /// medium resamples the crop straight to its work size.
    reference: &'a RgbImage,
    crop: Rect,
    faces: Vec<FaceHint>,
    subject: Option<Rect>,
    /// Where detail is kept: the faces, or without faces (a pet) the head
    /// around the subject box.
    detail: Vec<FaceHint>,
    face_full: Plane,
}

impl<'a> Prepared<'a> {
    fn new(req: &'a RenderRequest, seed: u64) -> Self {
        let (rw, rh) = req.reference.dimensions();
        let crop = seeded_crop(rw as f32, rh as f32, &req.identity, seed);
        let long = req.long_side as usize;
        let (cw, ch) = (crop.width, crop.height);
        let s = long as f32 / cw.max(ch);
        let full_w = ((cw * s).round() as usize).max(1);
        let full_h = ((ch * s).round() as usize).max(1);
        let moved = |p: Point| Point {
            x: (p.x - crop.x) * s,
            y: (p.y - crop.y) * s,
        };
        let move_rect = |r: Rect| {
            Rect::new(
                (r.x - crop.x) * s,
                (r.y - crop.y) * s,
                r.width * s,
                r.height * s,
            )
        };
        let faces: Vec<FaceHint> = req
            .identity
            .faces
            .iter()
            .map(|f| FaceHint {
                rect: move_rect(f.rect),
                landmarks: f.landmarks.map(|l| l.map(moved)),
            })
            .collect();
        let subject = req.identity.subject.map(move_rect);
        let detail: Vec<FaceHint> = if faces.is_empty() {
            subject
                .map(|s| FaceHint {
                    rect: masks::pet_head(s),
                    landmarks: None,
                })
                .into_iter()
                .collect()
        } else {
            faces.clone()
        };
        let face_full = masks::face_mask(full_w, full_h, &detail);
        Self {
            long,
            full_w,
            full_h,
            reference: &req.reference,
            crop,
            faces,
            subject,
            detail,
            face_full,
        }
    }

    fn ctx(&self, params: &ClassicParams, seed: u64, strength_scale: f32) -> Ctx {
        let px = self.long as f32 / 1024.0;
        // Small previews still need enough work pixels for eyes and mouth.
        let work_long = ((params.work_long_side as f32 * px).round() as usize)
            .max(self.long.min(384))
            .clamp(32, self.long);
        let ws = work_long as f32 / self.long as f32;
        let (ww, wh) = (
            ((self.full_w as f32 * ws).round() as usize).max(8),
            ((self.full_h as f32 * ws).round() as usize).max(8),
        );
        let work = raster::resample(self.reference, self.crop, ww, wh);
        let at_work = |faces: &[FaceHint]| -> Vec<FaceHint> {
            faces
                .iter()
                .map(|f| FaceHint {
                    rect: f.rect.scaled(ws),
                    landmarks: f.landmarks.map(|l| {
                        l.map(|p| Point {
                            x: p.x * ws,
                            y: p.y * ws,
                        })
                    }),
                })
                .collect()
        };
        let detail = at_work(&self.detail);
        let face = masks::face_mask(ww, wh, &detail);
        let subj = masks::subject_mask(
            &work,
            &at_work(&self.faces),
            self.subject.map(|r| r.scaled(ws)),
            &face,
        );
        let mut dice = Dice::new(seed, 0x5EED);
        let stroke_scale = dice.range(0.85, 1.18) * strength_scale;
        Ctx {
            w: self.full_w,
            h: self.full_h,
            px,
            work_px: ws * px,
            subj_full: subj.resized(self.full_w, self.full_h),
            face_full: self.face_full.clone(),
            work,
            face,
            subj,
            faces: detail,
            seed,
            stroke_scale,
            params: params.clone(),
        }
    }
}

/// A seeded crop of 88..100% of the frame that keeps every face inside, so
/// variations differ in framing as well as in texture.
fn seeded_crop(w: f32, h: f32, hints: &IdentityHints, seed: u64) -> Rect {
    let mut dice = Dice::new(seed, 0xC409);
    let z = dice.range(0.88, 1.0);
    let (cw, ch) = ((w * z).floor().max(1.0), (h * z).floor().max(1.0));
    let (mut lo_x, mut hi_x) = (0.0, w - cw);
    let (mut lo_y, mut hi_y) = (0.0, h - ch);
    for f in &hints.faces {
        // Keep the face plus a margin inside the crop when the crop allows it.
        let m = f.rect.width * 0.3;
        lo_x = f32::max(lo_x, f.rect.right() + m - cw);
        hi_x = f32::min(hi_x, f.rect.x - m);
        lo_y = f32::max(lo_y, f.rect.bottom() + m - ch);
        hi_y = f32::min(hi_y, f.rect.y - m);
    }
    let pick = |d: &mut Dice, lo: f32, hi: f32, max: f32| {
        if lo <= hi {
            d.range(lo.max(0.0), hi.min(max).max(lo.max(0.0)))
        } else {
            (max * 0.5).max(0.0)
        }
    };
    let x = pick(&mut dice, lo_x, hi_x, w - cw)
        .clamp(0.0, w - cw)
        .floor();
    let y = pick(&mut dice, lo_y, hi_y, h - ch)
        .clamp(0.0, h - ch)
        .floor();
    Rect::new(x, y, cw, ch)
}

/// Everything a medium needs: the work-resolution photo and masks, the output
/// size, the seed and the style's parameters.
pub(crate) struct Ctx {
    /// Output size.
    pub w: usize,
    pub h: usize,
    /// Output pixels per pixel of a 1024 px render: textures scale with it.
    pub px: f32,
    /// Work pixels per 1024-render pixel.
    pub work_px: f32,
    pub work: Rgb,
    pub face: Plane,
    pub subj: Plane,
    pub face_full: Plane,
    pub subj_full: Plane,
    /// The faces at work resolution (for a pet without faces, its head).
    pub faces: Vec<FaceHint>,
    pub seed: u64,
    /// Seeded (and strength-scaled) multiplier of brush and stroke sizes.
    pub stroke_scale: f32,
    pub params: ClassicParams,
}

impl Ctx {
    fn render(&self) -> Rgb {
        match self.params.medium {
            Medium::Watercolor => paint::watercolor(self),
            Medium::Oil => paint::oil(self),
            Medium::Pastel => paint::pastel(self),
            Medium::LineArt => drawing::line_art(self),
            Medium::Pencil => drawing::pencil(self),
            Medium::Charcoal => drawing::charcoal(self),
            Medium::InkWash => drawing::ink_wash(self),
            Medium::PopArt => print::pop_art(self),
        }
    }

    /// A radius in work pixels from a catalogue value, which is given in work
    /// pixels of a 1024 px render.
    pub fn wr(&self, r: f32) -> f32 {
        r * self.work_px * self.stroke_scale * 1024.0 / self.params.work_long_side as f32
    }

    /// The DoG level above which the darkest `share` of the subject's pixels
    /// become ink: adapts line density to the photo's contrast.
    pub fn ink_threshold(&self, field: &Plane, share: f32) -> f32 {
        let mut v: Vec<f32> = field
            .d
            .iter()
            .zip(&self.subj.d)
            .filter(|(_, s)| **s > 0.5)
            .map(|(d, _)| -d)
            .collect();
        if v.len() < 16 {
            v = field.d.iter().map(|d| -d).collect();
        }
        raster::quantile(&mut v, 1.0 - share.clamp(0.001, 0.5)).max(0.003)
    }

    /// Per-pixel radius: face, subject and (larger) background.
    pub fn radius_plane(&self) -> Plane {
        let p = &self.params;
        let (rs, rf, rb) = (
            self.wr(p.radius),
            self.wr(p.face_radius),
            self.wr(p.radius * p.background_scale),
        );
        self.subj.zip(&self.face, |s, f| {
            let r = rb + (rs - rb) * s;
            r + (rf - r) * f
        })
    }

    /// Edge-preserving abstraction with three levels of detail: fine on the face,
    /// medium on the subject, coarse and blurred in the background.
    pub fn abstracted(&self) -> Rgb {
        self.abstracted_with(true)
    }

    /// [`Ctx::abstracted`], with the background blurred further (`blur_background`)
    /// or left at the subject's level of detail, for a medium that draws the
    /// silhouette where the subject meets the background.
    pub fn abstracted_with(&self, blur_background: bool) -> Rgb {
        let p = &self.params;
        let rs = self.wr(p.radius).round().max(1.0) as usize;
        let rf = self.wr(p.face_radius).round().max(1.0) as usize;
        let fine = filters::guided(&self.work, rf, 0.002);
        let coarse = filters::guided(&filters::guided(&self.work, rs, 0.015), rs, 0.015);
        let bg = if blur_background {
            coarse.map_planes(|c| gauss(c, self.wr(p.radius * p.background_scale)))
        } else {
            coarse.clone()
        };
        Rgb {
            w: self.work.w,
            h: self.work.h,
            d: (0..self.work.d.len())
                .map(|i| {
                    let c = mix3(bg.d[i], coarse.d[i], self.subj.d[i]);
                    mix3(c, fine.d[i], self.face.d[i])
                })
                .collect(),
        }
    }

    /// How present the medium is at each output pixel: 1 on the subject, fading
    /// with a ragged, seeded edge to `1 - background_fade` in the background.
    pub fn presence(&self, raggedness: f32) -> Plane {
        let fade = self.params.background_fade;
        let seed = self.seed ^ 0xED6E;
        let px = self.px;
        // The finest octave spans 7.5 px of a 1024 px render: a lattice two
        // pixels apart resolves it.
        let step = (2.0 * px).round() as usize;
        let ragged = Plane::smooth_from_fn(self.w, self.h, step, |x, y| {
            noise::fbm(seed, x / px, y / px, 60.0, 4)
        });
        self.subj_full.zip(&ragged, |subject, n| {
            let a = raster::smoothstep(0.3, 0.65, subject + raggedness * n);
            (1.0 - fade) + fade * a
        })
    }

    /// How finished the drawing is at each work pixel: 1 around the faces,
    /// falling to `1 - fade` from one and a half to three and a half face
    /// heights away (distance below a face counts 0.8: the body is there), as a
    /// sketch is worked up at the head and left loose further out. All 1
    /// without faces.
    pub fn finish(&self, fade: f32) -> Plane {
        let heads: Vec<(f32, f32, f32)> = self
            .faces
            .iter()
            .map(|f| {
                let c = f.rect.center();
                (c.x, c.y, f.rect.height.max(1.0))
            })
            .collect();
        Plane::from_fn(self.work.w, self.work.h, |x, y| {
            let d = heads
                .iter()
                .map(|&(cx, cy, size)| {
                    let dx = (x as f32 + 0.5 - cx) / size;
                    let dy = (y as f32 + 0.5 - cy) / size;
                    let dy = if dy > 0.0 { dy * 0.8 } else { dy };
                    (dx * dx + dy * dy).sqrt()
                })
                .fold(f32::INFINITY, f32::min);
            if d.is_finite() {
                1.0 - fade * raster::smoothstep(1.5, 3.5, d)
            } else {
                1.0
            }
        })
    }

    /// A seeded paper colour from the style's list, or warm white.
    pub fn paper(&self) -> [f32; 3] {
        let papers = &self.params.papers;
        if papers.is_empty() {
            return [0.97, 0.96, 0.93];
        }
        let mut dice = Dice::new(self.seed, 0xAA9E);
        params::parse_hex(&papers[dice.pick(papers.len())]).unwrap_or([0.97, 0.96, 0.93])
    }

    pub fn dice(&self, salt: u64) -> Dice {
        Dice::new(self.seed, salt)
    }
}
