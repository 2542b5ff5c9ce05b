//! Render engines for likeness: the `Engine` contract both engines keep, the
//! classic (CPU, no weights) engine, and the style signatures QA checks.

pub mod classic;
pub mod diffusion;
pub mod engine;
pub mod landmarks;
pub mod sheet;
pub mod signature;
pub mod worker;

pub use classic::{ClassicEngine, params::ClassicParams, params::Medium};
pub use engine::{
    Candidate, DEFAULT_LONG_SIDE, DIFFUSION_MODEL_ENV, Engine, FaceHint, IdentityHints,
    MAX_VARIATIONS, RenderError, RenderRequest, engine_from_env,
};
pub use landmarks::{FaceLandmarks, add_landmarks};
pub use signature::{Measures, Signature, measure};
