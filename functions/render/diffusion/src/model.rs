//! Loading a diffusers-format folder and running img2img.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::clip::{self, TextEncoder, VisionEncoder};
use crate::config::{self, ClipConfig, NoiseScheduleConfig, UNetConfig, VaeConfig};
use crate::error::{DiffusionError, LoadError};
use crate::guards::{self, Guards, LatentRegion};
use crate::ip_adapter::ImageProj;
use crate::scheduler::{Sampler, Schedule, SchedulerKind, Spacing};
use crate::tokenizer::ClipTokenizer;
use crate::tools::{ModelSummary, describe_file};
use crate::unet::{ImageTokens, UNet};
use crate::vae::Vae;
use crate::weights::{self, Audit};

/// Environment variable naming the model folder the render worker loads.
pub const MODEL_ENV: &str = "LIKENESS_DIFFUSION_MODEL";

/// The subject's box in the request image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// One img2img job: every seed gives one output, all in one UNet batch.
#[derive(Debug, Clone)]
pub struct Img2ImgRequest {
    /// The normalized photo; outputs have its size.
    pub image: RgbImage,
    /// Face chip (people) or subject box (pets): what the IP-Adapter sees.
    pub subject_crop: RgbImage,
    /// Where the subject is in `image`, for the colour constraint; whole image if None.
    pub subject_box: Option<SubjectBox>,
    pub prompt: String,
    pub negative_prompt: String,
    /// Fraction of the schedule re-noised, (0, 1].
    pub strength: f32,
    pub steps: usize,
    pub scheduler: SchedulerKind,
    /// None → the scheduler's default spacing.
    pub spacing: Option<Spacing>,
    /// Classifier-free guidance scale; ≤ 1 runs the conditional branch only.
    pub guidance: f32,
    /// IP-Adapter image-attention scale.
    pub ip_scale: f32,
    pub seeds: Vec<u64>,
    pub guards: Guards,
}

impl Img2ImgRequest {
    fn validate(&self) -> Result<(), DiffusionError> {
        let bad = |m: String| Err(DiffusionError::Request(m));
        if self.seeds.is_empty() {
            return bad("no seeds: one output is made per seed".into());
        }
        if self.strength.is_nan() || self.strength <= 0.0 || self.strength > 1.0 {
            return bad(format!("strength {} is outside (0, 1]", self.strength));
        }
        if self.steps == 0 || self.steps > 1000 {
            return bad(format!("steps {} is outside 1..=1000", self.steps));
        }
        if crate::scheduler::img2img_steps(self.steps, self.strength as f64) == 0 {
            return bad(format!(
                "strength {} of {} steps runs no step",
                self.strength, self.steps
            ));
        }
        if !self.guidance.is_finite() || self.guidance < 0.0 {
            return bad(format!("guidance {} must be finite and ≥ 0", self.guidance));
        }
        if !self.ip_scale.is_finite() || self.ip_scale < 0.0 {
            return bad(format!("ip_scale {} must be finite and ≥ 0", self.ip_scale));
        }
        for (name, v) in [
            ("colour", self.guards.colour),
            ("anchor", self.guards.anchor),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} guard {v} is outside [0, 1]"));
            }
        }
        if self.guards.anchor_cell == 0 {
            return bad("anchor_cell must be at least 1".into());
        }
        if self.subject_crop.width() == 0 || self.subject_crop.height() == 0 {
            return bad("subject crop is empty".into());
        }
        Ok(())
    }
}

/// A loaded SD 1.5-family model with an optional IP-Adapter.
pub struct DiffusionModel {
    tokenizer: ClipTokenizer,
    text: TextEncoder,
    vae: Vae,
    unet: UNet,
    adapter: Option<(VisionEncoder, ImageProj)>,
    schedule: Schedule,
    dtype: DType,
    device: Device,
    /// Image sides must be multiples of this (VAE factor × UNet downsampling).
    multiple: usize,
    vae_factor: usize,
    latent_channels: usize,
    image_embed_dim: usize,
    summary: ModelSummary,
}

fn weight_file(dir: &Path, names: &[&str]) -> Result<PathBuf, LoadError> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::MissingFile {
            path: dir.join(names[0]),
        })
}

pub(crate) const UNET_FILES: &[&str] = &[
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
];
const ENCODER_FILES: &[&str] = &["model.safetensors", "model.fp16.safetensors"];

/// The single `.safetensors` file in `DIR/ip_adapter/`, if that folder exists.
fn adapter_file(dir: &Path) -> Result<Option<PathBuf>, LoadError> {
    let folder = dir.join("ip_adapter");
    if !folder.is_dir() {
        return Ok(None);
    }
    let entries = std::fs::read_dir(&folder).map_err(|e| LoadError::Io {
        path: folder.clone(),
        source: e,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    match files.len() {
        0 => Err(LoadError::MissingFile {
            path: folder.join("ip-adapter_sd15.safetensors"),
        }),
        1 => Ok(files.pop()),
        n => Err(LoadError::Unsupported(format!(
            "{} holds {n} .safetensors files; keep exactly one adapter there",
            folder.display()
        ))),
    }
}

fn unsupported(path: &Path, r: Result<(), String>) -> Result<(), LoadError> {
    r.map_err(|m| LoadError::Unsupported(format!("{}: {m}", path.display())))
}

impl DiffusionModel {
    /// Loads `dir` (diffusers layout, see docs/DIFFUSION.md) in `dtype` on `device`.
    /// Every tensor is checked by name and shape first; all problems come back in one
    /// [`LoadError::Tensors`].
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self, LoadError> {
        if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(LoadError::Unsupported(format!(
                "dtype {dtype:?}; use f32, f16 or bf16"
            )));
        }
        let unet_cfg_path = dir.join("unet/config.json");
        let unet_cfg: UNetConfig = config::read_json(&unet_cfg_path)?;
        unsupported(&unet_cfg_path, unet_cfg.validate())?;
        let vae_cfg_path = dir.join("vae/config.json");
        let vae_cfg: VaeConfig = config::read_json(&vae_cfg_path)?;
        unsupported(&vae_cfg_path, vae_cfg.validate())?;
        let text_cfg_path = dir.join("text_encoder/config.json");
        let text_cfg: ClipConfig = config::read_json(&text_cfg_path)?;
        unsupported(&text_cfg_path, text_cfg.validate(false))?;
        if text_cfg.hidden_size != unet_cfg.cross_attention_dim {
            return Err(LoadError::Unsupported(format!(
                "text encoder width {} differs from the UNet's cross_attention_dim {}",
                text_cfg.hidden_size, unet_cfg.cross_attention_dim
            )));
        }
        let sched_path = dir.join("scheduler/scheduler_config.json");
        let sched_cfg: NoiseScheduleConfig = if sched_path.is_file() {
            config::read_json(&sched_path)?
        } else {
            NoiseScheduleConfig::default()
        };
        let schedule = Schedule::new(&sched_cfg).map_err(|m| LoadError::Config {
            path: sched_path,
            message: m,
        })?;
        let tokenizer = ClipTokenizer::from_dir(&dir.join("tokenizer"))?;

        let audit = Audit::default();
        let mut files: Vec<(&str, PathBuf)> = Vec::new();
        let text_path = weight_file(&dir.join("text_encoder"), ENCODER_FILES)?;
        let text_vb = weights::checked_builder(
            "text_encoder",
            std::slice::from_ref(&text_path),
            dtype,
            device,
            &audit,
        )?;
        // transformers 5 saves CLIPTextModel without the `text_model.` prefix; it
        // loads both layouts, and so does this.
        let text_prefixed = weights::tensor_names(&text_path)?
            .iter()
            .any(|n| n.starts_with("text_model."));
        let text = if text_prefixed {
            TextEncoder::new(text_vb, &text_cfg)?
        } else {
            TextEncoder::with_root(text_vb, &text_cfg)?
        };
        files.push(("text_encoder", text_path));
        let vae_path = weight_file(&dir.join("vae"), UNET_FILES)?;
        let vae_vb = weights::checked_builder(
            "vae",
            std::slice::from_ref(&vae_path),
            dtype,
            device,
            &audit,
        )?;
        let vae = Vae::new(vae_vb, &vae_cfg)?;
        files.push(("vae", vae_path));
        let unet_path = weight_file(&dir.join("unet"), UNET_FILES)?;
        let unet_vb = weights::checked_builder(
            "unet",
            std::slice::from_ref(&unet_path),
            dtype,
            device,
            &audit,
        )?;
        files.push(("unet", unet_path));

        let adapter_path = adapter_file(dir)?;
        let (unet, adapter, image_embed_dim) = match &adapter_path {
            None => {
                let (unet, _) = UNet::new(unet_vb, &unet_cfg, None)?;
                (unet, None, 0)
            }
            Some(path) => {
                let vis_cfg_path = dir.join("image_encoder/config.json");
                let vis_cfg: ClipConfig = config::read_json(&vis_cfg_path)?;
                unsupported(&vis_cfg_path, vis_cfg.validate(true))?;
                let vis_path = weight_file(&dir.join("image_encoder"), ENCODER_FILES)?;
                let vis_vb = weights::checked_builder(
                    "image_encoder",
                    std::slice::from_ref(&vis_path),
                    dtype,
                    device,
                    &audit,
                )?;
                let vision = VisionEncoder::new(vis_vb, &vis_cfg)?;
                files.push(("image_encoder", vis_path));
                let ip_vb = weights::checked_builder(
                    "ip_adapter",
                    std::slice::from_ref(path),
                    dtype,
                    device,
                    &audit,
                )?;
                let (unet, _) = UNet::new(unet_vb, &unet_cfg, Some(ip_vb.pp("ip_adapter")))?;
                let tokens = adapter_tokens(path, unet_cfg.cross_attention_dim)?;
                let proj = ImageProj::new(
                    ip_vb.pp("image_proj"),
                    vis_cfg.projection_dim,
                    unet_cfg.cross_attention_dim,
                    tokens,
                )?;
                files.push(("ip_adapter", path.clone()));
                (
                    unet,
                    Some((vision, proj, tokens, vis_cfg.image_size)),
                    vis_cfg.projection_dim,
                )
            }
        };
        for (component, path) in &files {
            audit.report_unused(component, path)?;
        }
        audit.finish()?;
        let mut components = Vec::with_capacity(files.len());
        for (name, path) in &files {
            let config = match *name {
                "ip_adapter" => None,
                other => Some(dir.join(other).join("config.json")),
            };
            components.push(describe_file(name, path, config.as_deref())?);
        }
        let vae_factor = vae_cfg.factor();
        let summary = ModelSummary {
            dir: dir.to_path_buf(),
            compute_dtype: dtype,
            components,
            adapter_tokens: adapter.as_ref().map(|a| a.2),
            vision_size: adapter.as_ref().map(|a| a.3),
            guidance_embedding: unet_cfg.time_cond_proj_dim,
            native_size: unet_cfg.sample_size.get(0) * vae_factor,
            size_multiple: vae_factor << (unet_cfg.block_out_channels.len() - 1),
            prediction_type: sched_cfg.prediction_type.clone(),
            text_prefixed,
        };
        let adapter = adapter.map(|(v, p, _, _)| (v, p));
        if adapter.is_none() {
            tracing::info!(dir = %dir.display(), "no ip_adapter/ folder: running without the identity adapter");
        }
        Ok(Self {
            tokenizer,
            text,
            vae,
            unet,
            adapter,
            schedule,
            dtype,
            device: device.clone(),
            multiple: vae_factor << (unet_cfg.block_out_channels.len() - 1),
            vae_factor,
            latent_channels: vae_cfg.latent_channels,
            image_embed_dim,
            summary,
        })
    }

    /// What was loaded and what will run (see `likeness models check-diffusion`).
    pub fn summary(&self) -> &ModelSummary {
        &self.summary
    }

    /// Whether an IP-Adapter was loaded.
    pub fn has_adapter(&self) -> bool {
        self.adapter.is_some()
    }

    /// Image sides are rounded down to a multiple of this before encoding.
    pub fn size_multiple(&self) -> usize {
        self.multiple
    }

    /// The UNet, for benchmarks and adapters that drive it directly.
    pub fn unet(&self) -> &UNet {
        &self.unet
    }

    /// Runs img2img; one image per seed, each the size of `req.image`.
    pub fn img2img(&self, req: &Img2ImgRequest) -> Result<Vec<RgbImage>, DiffusionError> {
        self.img2img_observed(req, &mut NoObserver)
    }

    /// [`DiffusionModel::img2img`] telling `observer` about every denoising step
    /// (for progress), which may stop the run between steps
    /// ([`DiffusionError::Stopped`]).
    pub fn img2img_observed(
        &self,
        req: &Img2ImgRequest,
        observer: &mut dyn StepObserver,
    ) -> Result<Vec<RgbImage>, DiffusionError> {
        let mut noise = SeededNoise::new(&req.seeds);
        self.sample(req, &mut noise, observer)
    }

    /// The model's native sampling size in pixels (the UNet's `sample_size` × the
    /// VAE factor: 512 for SD 1.5) and the multiple image sides are rounded to.
    pub fn native_size(&self) -> (usize, usize) {
        (self.summary.native_size, self.multiple)
    }

    /// [`DiffusionModel::img2img`] drawing its noise from `noise` instead of the
    /// seeds (which then only set the batch size): to replay another
    /// implementation's noise, or to supply noise from elsewhere.
    pub fn img2img_with_noise(
        &self,
        req: &Img2ImgRequest,
        noise: &mut dyn NoiseSource,
    ) -> Result<Vec<RgbImage>, DiffusionError> {
        self.sample(req, noise, &mut NoObserver)
    }

    fn sample(
        &self,
        req: &Img2ImgRequest,
        noise: &mut dyn NoiseSource,
        observer: &mut dyn StepObserver,
    ) -> Result<Vec<RgbImage>, DiffusionError> {
        req.validate()?;
        let (ow, oh) = req.image.dimensions();
        let m = self.multiple as u32;
        let (ww, wh) = (ow / m * m, oh / m * m);
        if ww == 0 || wh == 0 {
            return Err(DiffusionError::Request(format!(
                "image {ow}x{oh} is smaller than the model's {m}-pixel tile"
            )));
        }
        let work = if (ww, wh) == (ow, oh) {
            req.image.clone()
        } else {
            image::imageops::resize(&req.image, ww, wh, image::imageops::FilterType::Lanczos3)
        };
        let (lh, lw) = (
            (wh / self.vae_factor as u32) as usize,
            (ww / self.vae_factor as u32) as usize,
        );
        let b = req.seeds.len();
        let dev = &self.device;

        let reference = self
            .vae
            .encode(&to_pixels(&work, self.dtype, dev)?)?
            .to_dtype(DType::F32)?;
        let ref_host: Vec<f32> = reference.flatten_all()?.to_vec1()?;
        let region = latent_region(req.subject_box, (ow, oh), (lw, lh));

        // As diffusers: a UNet with a guidance embedding (LCM-distilled) takes the
        // scale as `w = guidance − 1` and runs one conditional pass, never
        // classifier-free guidance.
        let cond = match self.unet.cond_dim {
            Some(d) => Some(
                crate::unet::guidance_embedding(req.guidance - 1.0, d, b, dev)?
                    .to_dtype(self.dtype)?,
            ),
            None => None,
        };
        let cfg = req.guidance > 1.0 && cond.is_none();
        let text = self.encode_prompts(&req.prompt, &req.negative_prompt, b, cfg)?;
        let image_tokens = self.image_tokens(&req.subject_crop, b, cfg)?;

        let spacing = req.spacing.unwrap_or(req.scheduler.default_spacing());
        let sampler = Sampler::new(
            &self.schedule,
            req.scheduler,
            req.steps,
            spacing,
            req.strength as f64,
        );
        let shape = (b, self.latent_channels, lh, lw);
        let start_noise = noise.next(shape, dev)?;
        let mut x = sampler.start(&reference, &start_noise)?;
        let n = sampler.timesteps.len();
        let stopped = |done| DiffusionError::Stopped { done, total: n };
        if observer.step(0, n).is_break() {
            return Err(stopped(0));
        }
        for (i, &t) in sampler.timesteps.iter().enumerate() {
            let input = sampler.scale_input(&x, i)?;
            let input = if cfg {
                Tensor::cat(&[&input, &input], 0)?
            } else {
                input
            };
            let tokens = image_tokens.as_ref().map(|t| ImageTokens {
                tokens: t,
                scale: req.ip_scale as f64,
            });
            let out = self
                .unet
                .forward_cond(
                    &input.to_dtype(self.dtype)?,
                    t as f64,
                    &text,
                    tokens,
                    cond.as_ref(),
                )?
                .to_dtype(DType::F32)?;
            let eps = if cfg {
                let (u, c) = (out.narrow(0, 0, b)?, out.narrow(0, b, b)?);
                (&u + ((c - &u)? * req.guidance as f64)?)?
            } else {
                out
            };
            let x0 = sampler.predict_x0(&x, &eps, i)?;
            let x0 = self.guard(&x0, &ref_host, region, &req.guards, i, n)?;
            let step_noise = if sampler.needs_noise(i) {
                Some(noise.next(shape, dev)?)
            } else {
                None
            };
            x = sampler.step(&x, &x0, i, step_noise.as_ref())?;
            if observer.step(i + 1, n).is_break() {
                return Err(stopped(i + 1));
            }
        }
        let pixels = self
            .vae
            .decode(&x.to_dtype(self.dtype)?)?
            .to_dtype(DType::F32)?;
        let mut out = Vec::with_capacity(b);
        for k in 0..b {
            let img = to_image(&pixels.get(k)?)?;
            out.push(if (ww, wh) == (ow, oh) {
                img
            } else {
                image::imageops::resize(&img, ow, oh, image::imageops::FilterType::Lanczos3)
            });
        }
        Ok(out)
    }

    fn guard(
        &self,
        x0: &Tensor,
        reference: &[f32],
        region: LatentRegion,
        g: &Guards,
        i: usize,
        n: usize,
    ) -> Result<Tensor, DiffusionError> {
        let (colour, anchor) = (
            guards::decayed(g.colour, i, n),
            guards::decayed(g.anchor, i, n),
        );
        if colour <= 0.0 && anchor <= 0.0 {
            return Ok(x0.clone());
        }
        let (b, c, h, w) = x0.dims4()?;
        let mut host: Vec<f32> = x0.flatten_all()?.to_vec1()?;
        for sample in host.chunks_mut(c * h * w) {
            guards::colour_constraint(sample, reference, c, h, w, region, colour);
            guards::anchor_low_frequencies(sample, reference, c, h, w, g.anchor_cell, anchor);
        }
        Ok(Tensor::from_vec(host, (b, c, h, w), x0.device())?)
    }

    /// Text conditioning for the batch: `[negative × b, prompt × b]` with guidance,
    /// `[prompt × b]` without.
    fn encode_prompts(
        &self,
        prompt: &str,
        negative: &str,
        b: usize,
        cfg: bool,
    ) -> Result<Tensor, DiffusionError> {
        let len = self.text.max_len;
        let mut ids = Vec::new();
        if cfg {
            ids.extend(self.tokenizer.encode(negative, len));
        }
        ids.extend(self.tokenizer.encode(prompt, len));
        let rows = ids.len() / len;
        let ids = Tensor::from_vec(ids, (rows, len), &self.device)?;
        let emb = self.text.forward(&ids)?;
        let parts: Vec<Tensor> = (0..rows)
            .map(|r| emb.narrow(0, r, 1)?.repeat((b, 1, 1)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// IP-Adapter tokens of the subject crop, with the projection of a zero embedding
    /// for the unconditional half (as IP-Adapter was trained).
    fn image_tokens(
        &self,
        crop: &RgbImage,
        b: usize,
        cfg: bool,
    ) -> Result<Option<Tensor>, DiffusionError> {
        let Some((vision, proj)) = &self.adapter else {
            return Ok(None);
        };
        let pixels = clip::preprocess(crop, vision.image_size, self.dtype, &self.device)?;
        let embed = vision.forward(&pixels)?;
        let cond = proj.forward(&embed)?.repeat((b, 1, 1))?;
        if !cfg {
            return Ok(Some(cond));
        }
        let zero = Tensor::zeros((1, self.image_embed_dim), self.dtype, &self.device)?;
        let uncond = proj.forward(&zero)?.repeat((b, 1, 1))?;
        Ok(Some(Tensor::cat(&[&uncond, &cond], 0)?))
    }
}

/// Token count of an adapter file, from `image_proj.proj.weight`'s rows (4 for
/// ip-adapter_sd15, 16 for "plus"-style files, which this projection does not run).
fn adapter_tokens(path: &Path, cross: usize) -> Result<usize, LoadError> {
    // SAFETY: read-only mapping, as in `weights::checked_builder`.
    let files = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }?;
    Ok(match files.get("image_proj.proj.weight") {
        Ok(v) if v.shape().len() == 2 && v.shape()[0] % cross == 0 && v.shape()[0] > 0 => {
            v.shape()[0] / cross
        }
        // Missing or odd: build the standard 4 tokens and let the audit list it.
        _ => 4,
    })
}

fn latent_region(
    subject: Option<SubjectBox>,
    (ow, oh): (u32, u32),
    (lw, lh): (usize, usize),
) -> LatentRegion {
    let Some(s) = subject else {
        return LatentRegion {
            x0: 0,
            y0: 0,
            x1: lw,
            y1: lh,
        };
    };
    let sx = lw as f64 / ow as f64;
    let sy = lh as f64 / oh as f64;
    let x0 = ((s.x as f64 * sx).floor() as usize).min(lw.saturating_sub(1));
    let y0 = ((s.y as f64 * sy).floor() as usize).min(lh.saturating_sub(1));
    let x1 = (((s.x + s.width) as f64 * sx).ceil() as usize).clamp(x0 + 1, lw);
    let y1 = (((s.y + s.height) as f64 * sy).ceil() as usize).clamp(y0 + 1, lh);
    LatentRegion { x0, y0, x1, y1 }
}

/// Told when sampling starts (`done` = 0) and after every denoising step, with the
/// number of steps this request runs (`floor(steps × strength)`); all seeds of a
/// request step together, as one batch. Returning `Break` stops sampling before
/// the next step (and before decoding).
pub trait StepObserver {
    fn step(&mut self, done: usize, total: usize) -> ControlFlow<()>;
}

impl<F: FnMut(usize, usize) -> ControlFlow<()>> StepObserver for F {
    fn step(&mut self, done: usize, total: usize) -> ControlFlow<()> {
        self(done, total)
    }
}

struct NoObserver;

impl StepObserver for NoObserver {
    fn step(&mut self, _: usize, _: usize) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Where img2img's Gaussian noise comes from: called once for the starting noise and
/// once per step that needs fresh noise, each time for the whole batch
/// `(batch, channels, h, w)`.
pub trait NoiseSource {
    fn next(
        &mut self,
        shape: (usize, usize, usize, usize),
        dev: &Device,
    ) -> candle_core::Result<Tensor>;
}

/// The default source: one ChaCha8 stream per seed.
pub struct SeededNoise {
    rngs: Vec<ChaCha8Rng>,
}

impl SeededNoise {
    pub fn new(seeds: &[u64]) -> Self {
        Self {
            rngs: seeds
                .iter()
                .map(|&s| ChaCha8Rng::seed_from_u64(s))
                .collect(),
        }
    }
}

impl NoiseSource for SeededNoise {
    fn next(
        &mut self,
        shape: (usize, usize, usize, usize),
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if shape.0 != self.rngs.len() {
            return Err(candle_core::Error::Msg(format!(
                "noise for a batch of {} from {} seeds",
                shape.0,
                self.rngs.len()
            )));
        }
        gaussian(&mut self.rngs, shape, dev)
    }
}

/// Standard normal noise, one independent stream per seed, so a sample depends only
/// on its own seed (not on its batch neighbours) and is the same on CPU and GPU.
fn gaussian(
    rngs: &mut [ChaCha8Rng],
    (b, c, h, w): (usize, usize, usize, usize),
    dev: &Device,
) -> candle_core::Result<Tensor> {
    use rand::Rng;
    let per = c * h * w;
    let mut data = Vec::with_capacity(b * per);
    for rng in rngs.iter_mut() {
        let mut k = 0;
        while k < per {
            // Box–Muller; u1 in (0, 1] so ln is finite.
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let (s, co) = (2.0 * std::f64::consts::PI * u2).sin_cos();
            data.push((r * co) as f32);
            if k + 1 < per {
                data.push((r * s) as f32);
            }
            k += 2;
        }
    }
    Tensor::from_vec(data, (b, c, h, w), dev)
}

fn to_pixels(img: &RgbImage, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            data[c * w * h + y as usize * w + x as usize] = p[c] as f32 / 127.5 - 1.0;
        }
    }
    Tensor::from_vec(data, (1, 3, h, w), dev)?.to_dtype(dtype)
}

fn to_image(t: &Tensor) -> candle_core::Result<RgbImage> {
    let (_, h, w) = t.dims3()?;
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    let plane = h * w;
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        let px = |c: usize| (((v[c * plane + i] + 1.0) * 127.5).round().clamp(0.0, 255.0)) as u8;
        image::Rgb([px(0), px(1), px(2)])
    }))
}
