//! Errors of the diffusion library.

use std::path::PathBuf;

/// One expected tensor that the weight files do not provide as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorProblem {
    Missing {
        component: String,
        name: String,
        expected: Vec<usize>,
    },
    Shape {
        component: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A key in the IP-Adapter file that no layer of this UNet uses (wrong adapter family).
    Unexpected { component: String, name: String },
}

impl std::fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TensorProblem::Missing {
                component,
                name,
                expected,
            } => write!(
                f,
                "{component}: missing `{name}` (expected shape {expected:?})"
            ),
            TensorProblem::Shape {
                component,
                name,
                expected,
                found,
            } => write!(
                f,
                "{component}: `{name}` has shape {found:?}, expected {expected:?}"
            ),
            TensorProblem::Unexpected { component, name } => {
                write!(f, "{component}: unexpected key `{name}`")
            }
        }
    }
}

/// Why a model folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is missing (expected a diffusers-format model folder)")]
    MissingFile { path: PathBuf },
    #[error("invalid config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("invalid tokenizer files: {0}")]
    Tokenizer(String),
    #[error("{} weight problem(s):\n  {}", .0.len(), .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Tensors(Vec<TensorProblem>),
    #[error("tensor backend: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Why an img2img request failed.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    #[error("invalid request: {0}")]
    Request(String),
    /// A [`crate::StepObserver`] stopped sampling.
    #[error("stopped after {done} of {total} denoising steps")]
    Stopped { done: usize, total: usize },
    #[error("tensor backend: {0}")]
    Candle(#[from] candle_core::Error),
}
