use std::path::PathBuf;

/// Everything that can go wrong between a model file on disk and an embedding.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "model file {path} is missing; run `{fix}` to fetch the models",
        fix = crate::models::FETCH_COMMAND
    )]
    ModelMissing { path: PathBuf },
    #[error(
        "model file {path} has SHA-256 {actual}, expected {expected} (truncated or wrong file); \
         delete it and run `{fix}`",
        fix = crate::models::FETCH_COMMAND
    )]
    ModelChecksum {
        path: PathBuf,
        expected: &'static str,
        actual: String,
    },
    #[error("model file {path} could not be parsed at byte {offset}: {reason}")]
    ModelFormat {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("fetching models failed: {0}")]
    Fetch(String),
    #[error("no home directory to place the model cache in; set LIKENESS_MODELS_DIR")]
    NoModelsDir,
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("face box {0:?} is empty or not finite")]
    BadBox(likeness_core::Rect),
    #[error("image is {width}x{height}; it must be at least 1x1")]
    EmptyImage { width: u32, height: u32 },
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

pub type Result<T> = std::result::Result<T, IdentityError>;
