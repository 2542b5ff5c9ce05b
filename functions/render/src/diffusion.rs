//! The diffusion engine behind the same [`Engine`] contract as the classic one:
//! Stable Diffusion img2img from the reference, prompted by the style, with the
//! subject crop (the face for people, the subject box for pets) entering every
//! denoising step through the IP-Adapter branch. Weights load once from a
//! diffusers-format folder (`LIKENESS_DIFFUSION_MODEL`).

use crate::{Candidate, Engine, RenderError, RenderRequest};
use image::{RgbImage, imageops};
use likeness_core::Rect;
use likeness_diffusion::{
    DType, DiffusionModel, Guards, Img2ImgRequest, SchedulerKind, SubjectBox,
};
use std::path::Path;
use std::time::Instant;

/// Sampling settings the service tunes; the style supplies prompt and strength.
#[derive(Clone, Debug)]
pub struct DiffusionSettings {
    pub steps: usize,
    pub scheduler: SchedulerKind,
    pub guidance: f32,
    /// Weight of the subject's image tokens against the text prompt.
    pub ip_scale: f32,
    pub guards: Guards,
}

impl Default for DiffusionSettings {
    fn default() -> Self {
        Self {
            steps: 30,
            scheduler: SchedulerKind::EulerAncestral,
            guidance: 7.5,
            ip_scale: 0.6,
            guards: Guards::default(),
        }
    }
}

pub struct DiffusionEngine {
    model: DiffusionModel,
    settings: DiffusionSettings,
}

impl DiffusionEngine {
    /// Load and check every tensor of the model in `dir` (f16 on a GPU, f32 on CPU).
    pub fn load(dir: &Path, settings: DiffusionSettings) -> Result<Self, RenderError> {
        let device = likeness_diffusion::default_device();
        let dtype = if device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        };
        let model = DiffusionModel::load(dir, dtype, &device).map_err(|e| RenderError::Engine {
            engine: "diffusion".into(),
            reason: e.to_string(),
        })?;
        Ok(Self { model, settings })
    }

    /// What the model is asked for: the reference at the requested size, the
    /// subject crop for the identity branch, the style's prompt, and the
    /// request's seed, strength and identity scale (the judge changes these
    /// between attempts).
    pub fn img2img_request(&self, request: &RenderRequest) -> Img2ImgRequest {
        let (w, h) = request.reference.dimensions();
        let scale = request.long_side as f32 / w.max(h) as f32;
        let (tw, th) = (
            ((w as f32 * scale) as u32).max(64),
            ((h as f32 * scale) as u32).max(64),
        );
        let image: RgbImage =
            imageops::resize(&request.reference, tw, th, imageops::FilterType::Lanczos3);
        // Identity enters through the face (people) or the whole subject (pets).
        let focus = request
            .identity
            .faces
            .first()
            .map(|f| f.rect)
            .or(request.identity.subject)
            .map(|r| r.scaled(scale));
        let subject_box = focus.and_then(|r| to_box(r, tw, th));
        let subject_crop = match subject_box {
            Some(b) => imageops::crop_imm(&image, b.x, b.y, b.width, b.height).to_image(),
            None => image.clone(),
        };
        let prompt = request
            .style
            .prompt
            .replace("{subject}", subject_phrase(request));
        let seeds: Vec<u64> = (0..request.variations)
            .map(|i| likeness_core::seeds::variation(request.seed, i))
            .collect();
        Img2ImgRequest {
            image,
            subject_crop,
            subject_box,
            prompt,
            negative_prompt: request.style.negative_prompt.clone(),
            strength: request.strength.max(0.05),
            steps: self.settings.steps,
            scheduler: self.settings.scheduler,
            spacing: None,
            guidance: self.settings.guidance,
            ip_scale: request.identity_scale.unwrap_or(self.settings.ip_scale),
            seeds,
            guards: self.settings.guards,
        }
    }
}

fn to_box(rect: Rect, width: u32, height: u32) -> Option<SubjectBox> {
    let r = rect.clamped(width as f32, height as f32);
    (r.width >= 1.0 && r.height >= 1.0).then_some(SubjectBox {
        x: r.x as u32,
        y: r.y as u32,
        width: r.width as u32,
        height: r.height as u32,
    })
}

/// The phrase `{subject}` stands for in a style's prompt: the order's subject,
/// so a person whose face the detector missed is still prompted as a person.
fn subject_phrase(request: &RenderRequest) -> &'static str {
    use likeness_core::SubjectKind;
    match request.subject {
        Some(SubjectKind::Person) => "a person",
        Some(SubjectKind::Couple) => "a couple",
        Some(SubjectKind::Pet) => "a beloved pet",
        None => match request.identity.faces.len() {
            0 => "a beloved pet",
            1 => "a person",
            _ => "a couple",
        },
    }
}

impl Engine for DiffusionEngine {
    fn name(&self) -> &str {
        "diffusion"
    }

    fn identity_scale(&self, request: &RenderRequest) -> Option<f32> {
        Some(request.identity_scale.unwrap_or(self.settings.ip_scale))
    }

    fn render(&self, request: &RenderRequest) -> Result<Vec<Candidate>, RenderError> {
        request.validate()?;
        let started = Instant::now();
        let img2img = self.img2img_request(request);
        let seeds = img2img.seeds.clone();
        let images = self
            .model
            .img2img(&img2img)
            .map_err(|e| RenderError::Engine {
                engine: "diffusion".into(),
                reason: e.to_string(),
            })?;
        let compute_ms = started.elapsed().as_millis() as u64 / images.len().max(1) as u64;
        Ok(images
            .into_iter()
            .zip(seeds)
            .map(|(image, seed)| Candidate {
                image,
                seed,
                engine: "diffusion".into(),
                compute_ms,
            })
            .collect())
    }
}
