//! Which render engine runs. `LIKENESS_DIFFUSION_MODEL=DIR` selects diffusion
//! with the weights in DIR; without it the classic engine runs, which needs no
//! weights at all.

use likeness_render::{ClassicEngine, Engine};
use std::sync::Arc;

pub fn from_environment() -> anyhow::Result<Arc<dyn Engine>> {
    match std::env::var_os("LIKENESS_DIFFUSION_MODEL") {
        Some(dir) => crate::diffusion::engine(std::path::Path::new(&dir)),
        None => {
            tracing::info!(
                "render engine: classic (set LIKENESS_DIFFUSION_MODEL=DIR to render with diffusion)"
            );
            Ok(Arc::new(ClassicEngine::new(
                likeness_core::Catalogue::builtin(),
            )))
        }
    }
}
