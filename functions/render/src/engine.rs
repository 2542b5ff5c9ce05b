//! The contract every render engine keeps, so QA, cost and the state machine do
//! not care which engine ran.

use image::RgbImage;
use likeness_core::{Point, Rect, Style};
use thiserror::Error;

/// Output long side when the request does not say.
pub const DEFAULT_LONG_SIDE: u32 = 1024;
/// Largest number of variations one request may ask for.
pub const MAX_VARIATIONS: u32 = 16;

/// One face, in pixels of the reference image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceHint {
    pub rect: Rect,
    /// The dlib 5-point predictor's points in its order: two corners of one eye,
    /// two of the other, then the base of the nose. Optional.
    pub landmarks: Option<[Point; 5]>,
}

/// What the engine knows about who is in the photo.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdentityHints {
    pub faces: Vec<FaceHint>,
    /// The subject's box (person, couple or pet), in pixels of the reference.
    pub subject: Option<Rect>,
}

#[derive(Clone, Debug)]
pub struct RenderRequest {
    pub reference: RgbImage,
    pub identity: IdentityHints,
    pub style: Style,
    /// Variation `i` renders with `seed + i`, so any candidate can be reproduced alone.
    pub seed: u64,
    /// How far from the photo to go, 0..1 (img2img strength for diffusion; for the
    /// classic engine it scales brush and smoothing sizes around the style default).
    pub strength: f32,
    pub variations: u32,
    /// Long side of each candidate in pixels.
    pub long_side: u32,
    /// Weight of the subject's identity against the prompt, for engines that
    /// condition on it (diffusion's IP-Adapter scale); `None`: the engine's default.
    pub identity_scale: Option<f32>,
    /// What the customer ordered a portrait of; `None` when not known (the
    /// faces found then decide).
    pub subject: Option<likeness_core::SubjectKind>,
}

impl RenderRequest {
    /// A request with the style's default strength, one variation, 1024 px.
    pub fn new(reference: RgbImage, style: Style, seed: u64) -> Self {
        let strength = style.strength;
        Self {
            reference,
            identity: IdentityHints::default(),
            style,
            seed,
            strength,
            variations: 1,
            long_side: DEFAULT_LONG_SIDE,
            identity_scale: None,
            subject: None,
        }
    }

    pub fn validate(&self) -> Result<(), RenderError> {
        let (w, h) = self.reference.dimensions();
        if w < 16 || h < 16 {
            return Err(RenderError::BadRequest(format!(
                "reference image is {w}x{h}; at least 16x16 is needed"
            )));
        }
        if !(0.0..=1.0).contains(&self.strength) || !self.strength.is_finite() {
            return Err(RenderError::BadRequest(format!(
                "strength {} is outside 0..1",
                self.strength
            )));
        }
        if self.variations == 0 || self.variations > MAX_VARIATIONS {
            return Err(RenderError::BadRequest(format!(
                "variations must be 1..={MAX_VARIATIONS}, got {}",
                self.variations
            )));
        }
        if let Some(scale) = self.identity_scale
            && (!scale.is_finite() || !(0.0..=4.0).contains(&scale))
        {
            return Err(RenderError::BadRequest(format!(
                "identity scale {scale} is outside 0..4"
            )));
        }
        if !(64..=4096).contains(&self.long_side) {
            return Err(RenderError::BadRequest(format!(
                "long side must be 64..=4096 px, got {}",
                self.long_side
            )));
        }
        Ok(())
    }
}

/// One rendered image and how it was made.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub image: RgbImage,
    pub seed: u64,
    pub engine: String,
    pub compute_ms: u64,
}

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("bad render request: {0}")]
    BadRequest(String),
    #[error("style `{style}`: {reason}")]
    Style { style: String, reason: String },
    #[error("{engine} engine failed: {reason}")]
    Engine { engine: String, reason: String },
    /// The render's [`CancelFlag`] was set; the engine stopped at its next check.
    #[error("the render was cancelled")]
    Cancelled,
}

/// Stops a render from outside its thread. Engines check it between units of
/// work (diffusion: every denoising step; classic: between passes) and return
/// [`RenderError::Cancelled`], so an abandoned render stops computing within one
/// unit instead of running to the end on a thread nobody waits for.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled: for `?` between units of work.
    pub fn check(&self) -> Result<(), RenderError> {
        if self.is_cancelled() {
            Err(RenderError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A guard that cancels this flag when dropped: whatever way the owner of
    /// the render stops waiting (an error, a dropped future), the compute stops.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// See [`CancelFlag::cancel_on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A render engine. Synchronous: a worker calls it from a blocking thread.
pub trait Engine: Send + Sync {
    /// Short, stable name recorded with every candidate (`classic`, `diffusion`).
    fn name(&self) -> &str;
    fn render(&self, request: &RenderRequest) -> Result<Vec<Candidate>, RenderError>;
    /// [`Engine::render`] that stops with [`RenderError::Cancelled`] soon after
    /// `cancel` is set. Engines that cannot stop midway keep this default, which
    /// only checks before starting.
    fn render_cancellable(
        &self,
        request: &RenderRequest,
        cancel: &CancelFlag,
    ) -> Result<Vec<Candidate>, RenderError> {
        cancel.check()?;
        self.render(request)
    }
    /// The identity scale this engine renders `request` with; `None` for
    /// engines that do not condition on identity tokens.
    /// Starts a render off the caller's task and hands back its handle. The
    /// default runs [`Engine::render_cancellable`] on a blocking thread, where
    /// compute belongs; an engine whose work is only waited for (a remote
    /// device, a modelled one) may run it as an ordinary task instead. Either
    /// way the handle's result is the render's, and `cancel` is the way to
    /// stop it: dropping the handle does not.
    fn start(
        self: std::sync::Arc<Self>,
        request: RenderRequest,
        cancel: CancelFlag,
    ) -> tokio::task::JoinHandle<Result<Vec<Candidate>, RenderError>>
    where
        Self: 'static,
    {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_task = span.enter();
            self.render_cancellable(&request, &cancel)
        })
    }

    fn identity_scale(&self, request: &RenderRequest) -> Option<f32> {
        let _ = request;
        None
    }
}

/// Environment variable naming a diffusers-format weights folder.
pub const DIFFUSION_MODEL_ENV: &str = "LIKENESS_DIFFUSION_MODEL";

/// The engine this process renders with: diffusion when
/// `LIKENESS_DIFFUSION_MODEL` names a weights folder, else the classic engine,
/// which needs no weights.
pub fn engine_from_env(
    catalogue: &likeness_core::Catalogue,
) -> Result<std::sync::Arc<dyn Engine>, RenderError> {
    match std::env::var_os(DIFFUSION_MODEL_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            tracing::info!(model = %dir.display(), "render engine: diffusion");
            Ok(std::sync::Arc::new(
                crate::diffusion::DiffusionEngine::load(
                    &dir,
                    crate::diffusion::DiffusionSettings::default(),
                )?,
            ))
        }
        None => {
            tracing::info!(
                "render engine: classic (set {DIFFUSION_MODEL_ENV}=DIR to render with diffusion)"
            );
            Ok(std::sync::Arc::new(crate::ClassicEngine::new(
                catalogue.clone(),
            )))
        }
    }
}
