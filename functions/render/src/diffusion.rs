//! The diffusion engine behind the same [`Engine`] contract as the classic one:
//! Stable Diffusion img2img from the reference, prompted by the style, with the
//! subject crop (the face for people, the subject box for pets) entering every
//! denoising step through the IP-Adapter branch. Weights load once from a
//! diffusers-format folder (`LIKENESS_DIFFUSION_MODEL`).

use crate::{CancelFlag, Candidate, Engine, RenderError, RenderRequest};
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

/// Where a render's sampling stands: sent after every denoising step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepProgress {
    pub style: likeness_core::StyleId,
    /// The request's base seed: tells attempts of one style apart.
    pub seed: u64,
    /// Candidates sampled together, as one batch: every step advances all of them.
    pub candidates: usize,
    /// Steps done, 0 when sampling starts.
    pub done: usize,
    /// Steps this request runs (`floor(steps × strength)`).
    pub total: usize,
}

/// Receives [`StepProgress`]; called on the rendering thread, so it must be quick.
pub type ProgressSink = std::sync::Arc<dyn Fn(&StepProgress) + Send + Sync>;

pub struct DiffusionEngine {
    model: DiffusionModel,
    settings: DiffusionSettings,
    progress: Option<ProgressSink>,
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
        Ok(Self {
            model,
            settings,
            progress: None,
        })
    }

    /// Also send every denoising step to `sink` (besides the `debug` tracing event).
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// The model: for benchmarks and tools that drive it directly.
    pub fn model(&self) -> &DiffusionModel {
        &self.model
    }

    /// What the model is asked for: the reference at the model's sampling size
    /// (see [`sampling_size`]), the subject crop from the full-resolution
    /// reference for the identity branch, the style's prompt, and the request's
    /// seed, strength and identity scale (the judge changes these between attempts).
    pub fn img2img_request(&self, request: &RenderRequest) -> Img2ImgRequest {
        let (w, h) = request.reference.dimensions();
        let (native, multiple) = self.model.native_size();
        let (sw, sh) = sampling_size(
            (w, h),
            delivery_size((w, h), request.long_side),
            native as u32,
            multiple as u32,
        );
        let image: RgbImage =
            imageops::resize(&request.reference, sw, sh, imageops::FilterType::Lanczos3);
        // Identity enters through the face (people) or the whole subject (pets).
        let focus = request
            .identity
            .faces
            .first()
            .map(|f| f.rect)
            .or(request.identity.subject);
        let subject_crop = match focus.and_then(|r| to_box(r, w, h)) {
            Some(b) => {
                imageops::crop_imm(&request.reference, b.x, b.y, b.width, b.height).to_image()
            }
            None => request.reference.clone(),
        };
        let (fx, fy) = (sw as f32 / w as f32, sh as f32 / h as f32);
        let subject_box = focus
            .map(|r| Rect::new(r.x * fx, r.y * fy, r.width * fx, r.height * fy))
            .and_then(|r| to_box(r, sw, sh));
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

/// Candidates' size: the reference's aspect with the requested long side.
pub fn delivery_size((w, h): (u32, u32), long_side: u32) -> (u32, u32) {
    let scale = long_side as f32 / w.max(h) as f32;
    (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    )
}

/// Longest side sampled, as a multiple of the native size: SD 1.5 (512 px) is
/// commonly sampled at up to 512×768 without repeating features.
const MAX_ASPECT_STRETCH: f32 = 1.5;

/// The size a `w`×`h` reference is sampled at: the short side at the model's
/// `native` size (the resolution it was trained at: 512 px for SD 1.5), the long
/// side following the aspect ratio up to 1.5 × native (512×768 for a 2:3
/// portrait), never more than the `delivery` size, each side rounded to the
/// nearest multiple of `multiple` (the model's tile). The sampled image is then
/// upscaled to the delivery size.
pub fn sampling_size(
    (w, h): (u32, u32),
    delivery: (u32, u32),
    native: u32,
    multiple: u32,
) -> (u32, u32) {
    let (short, long) = (w.min(h) as f32, w.max(h) as f32);
    let native = native as f32;
    let scale = (native / short).min(native * MAX_ASPECT_STRETCH / long);
    let (mut sw, mut sh) = (w as f32 * scale, h as f32 * scale);
    if delivery.0.max(delivery.1) as f32 <= sw.max(sh) {
        (sw, sh) = (delivery.0 as f32, delivery.1 as f32);
    }
    let m = multiple.max(1) as f32;
    let round = |v: f32| (((v / m).round()).max(1.0) * m) as u32;
    (round(sw), round(sh))
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
        self.render_cancellable(request, &CancelFlag::default())
    }

    /// Checks `cancel` at every denoising step, in the same hook that reports
    /// progress: a cancelled render stops within one step.
    fn render_cancellable(
        &self,
        request: &RenderRequest,
        cancel: &CancelFlag,
    ) -> Result<Vec<Candidate>, RenderError> {
        request.validate()?;
        cancel.check()?;
        let started = Instant::now();
        let img2img = self.img2img_request(request);
        let (dw, dh) = delivery_size(request.reference.dimensions(), request.long_side);
        tracing::info!(
            style = %request.style.id,
            prompt = %img2img.prompt,
            negative_prompt = %img2img.negative_prompt,
            strength = %img2img.strength,
            ip_scale = %img2img.ip_scale,
            sampled = %format_args!("{}x{}", img2img.image.width(), img2img.image.height()),
            delivered = %format_args!("{dw}x{dh}"),
            candidates = img2img.seeds.len(),
            "diffusion img2img"
        );
        let seeds = img2img.seeds.clone();
        let mut on_step = |done: usize, total: usize| {
            tracing::debug!(style = %request.style.id, step = done, steps = total, "denoising");
            if let Some(sink) = &self.progress {
                sink(&StepProgress {
                    style: request.style.id.clone(),
                    seed: request.seed,
                    candidates: seeds.len(),
                    done,
                    total,
                });
            }
            if cancel.is_cancelled() {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        };
        let images = self
            .model
            .img2img_observed(&img2img, &mut on_step)
            .map_err(|e| match e {
                likeness_diffusion::DiffusionError::Stopped { done, total } => {
                    tracing::info!(style = %request.style.id, done, total, "diffusion render cancelled");
                    RenderError::Cancelled
                }
                e => RenderError::Engine {
                    engine: "diffusion".into(),
                    reason: e.to_string(),
                },
            })?;
        let compute_ms = started.elapsed().as_millis() as u64 / images.len().max(1) as u64;
        Ok(images
            .into_iter()
            .zip(seeds)
            .map(|(image, seed)| Candidate {
                // Sampled at the model's size; delivered at the requested one.
                image: if image.dimensions() == (dw, dh) {
                    image
                } else {
                    imageops::resize(&image, dw, dh, imageops::FilterType::Lanczos3)
                },
                seed,
                engine: "diffusion".into(),
                compute_ms,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd15_samples_portraits_at_512_by_768_and_squares_at_512() {
        let portrait = (2000, 3000);
        let delivery = delivery_size(portrait, 1024);
        assert_eq!(delivery, (683, 1024));
        assert_eq!(sampling_size(portrait, delivery, 512, 64), (512, 768));
        assert_eq!(
            sampling_size((1200, 1200), delivery_size((1200, 1200), 1024), 512, 64),
            (512, 512)
        );
        // 3:4 keeps the short side native; the long side is rounded to the tile.
        assert_eq!(sampling_size((900, 1200), (768, 1024), 512, 64), (512, 704));
        // Panoramas: the long side stops at 1.5 × native, the short one follows.
        assert_eq!(
            sampling_size((1920, 1080), (1024, 576), 512, 64),
            (768, 448)
        );
        // SD 2's 768 px native size.
        assert_eq!(
            sampling_size((1000, 1000), (1024, 1024), 768, 64),
            (768, 768)
        );
    }

    #[test]
    fn a_delivery_smaller_than_native_is_sampled_at_the_delivery_size() {
        assert_eq!(sampling_size((480, 640), (48, 64), 512, 64), (64, 64));
        assert_eq!(sampling_size((480, 640), (48, 64), 128, 4), (48, 64));
        // Small references are sampled at the native size all the same.
        assert_eq!(sampling_size((60, 80), (768, 1024), 512, 64), (512, 704));
    }
}
