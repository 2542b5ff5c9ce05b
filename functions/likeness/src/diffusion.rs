//! The diffusion engine, selected by `LIKENESS_DIFFUSION_MODEL=DIR`.

use likeness_render::Engine;
use likeness_render::diffusion::{DiffusionEngine, DiffusionSettings};
use std::path::Path;
use std::sync::Arc;

pub fn engine(dir: &Path) -> anyhow::Result<Arc<dyn Engine>> {
    tracing::info!(model = %dir.display(), "render engine: diffusion");
    Ok(Arc::new(DiffusionEngine::load(
        dir,
        DiffusionSettings::default(),
    )?))
}
