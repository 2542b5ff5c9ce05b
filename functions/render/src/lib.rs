//! Render engines for likeness: the `Engine` contract both engines keep, the
//! classic (CPU, no weights) engine, and the style signatures QA checks.

pub mod classic;
pub mod diffusion;
pub mod engine;
pub mod landmarks;
pub mod sheet;
pub mod worker;

pub use classic::{ClassicEngine, params::ClassicParams, params::Medium};
pub use engine::{
    CancelFlag, CancelOnDrop, Candidate, DEFAULT_LONG_SIDE, DIFFUSION_MODEL_ENV, Engine, FaceHint,
    IdentityHints, MAX_VARIATIONS, RenderError, RenderRequest, engine_from_env,
};
pub use landmarks::{FaceLandmarks, add_landmarks};
/// Style signatures live with the other image measurements in `likeness-vision`,
/// where QA reads them without depending on the renderer.
pub use likeness_vision::signature::{self, Measures, Signature, measure};
