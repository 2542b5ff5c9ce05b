//! Stable Diffusion 1.5-family img2img with an IP-Adapter identity branch and likeness
//! guards, in candle. The entry points are [`DiffusionModel::load`] and
//! [`DiffusionModel::img2img`]; see docs/DIFFUSION.md.

pub mod clip;
pub mod config;
pub mod error;
pub mod guards;
pub mod ip_adapter;
pub mod manifest;
mod model;
pub mod resample;
pub mod scheduler;
pub mod tokenizer;
pub mod tools;
pub mod unet;
pub mod vae;
pub mod weights;

pub use error::{DiffusionError, LoadError, TensorProblem};
pub use guards::Guards;
pub use model::{
    DiffusionModel, Img2ImgRequest, MODEL_ENV, NoiseSource, SeededNoise, StepObserver, SubjectBox,
};
pub use scheduler::{SchedulerKind, Spacing};

pub use candle_core::{DType, Device};

/// Picks the compute device: the first CUDA GPU when built with `cuda` and one is
/// present, the CPU otherwise.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}
