//! `DELETE /v1/previews/{id}`: the customer's "erase my photo and previews".
//!
//! Deletes the upload, the work objects and the delivered portraits, moves the
//! preview to `erased` and announces `preview.erased`. The record stays (as
//! `erased`, without its results) and so do its cost lines, which hold no
//! personal data. Erasing again repeats the deletions and answers the same, so
//! a retried request or a double click is harmless.
//!
//! The preview moves to `erased` first: from then on no stage can move it on,
//! and finalize removes anything it delivered for it (see
//! `likeness_judge::finalize`). Objects a stage in flight writes to `uploads/`
//! or `work/` after this are removed by those prefixes' lifetimes
//! (docs/DATA.md).

use crate::auth::{KEY_OR_PREVIEW_TOKEN, OWNER_ONLY, TenantPreview};
use crate::views::{Erased, ErrorBody};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use likeness_core::preview::PreviewPatch;
use likeness_core::{PortError, Preview, Status, keys};

/// How often a transition that lost a race with a stage is tried again.
const TRANSITION_TRIES: usize = 5;

#[utoipa::path(
    delete,
    path = "/v1/previews/{id}",
    tag = "previews",
    security(("api_key" = []), ("preview_token" = [])),
    params(("id" = String, Path, description = "The preview id, `pv_…`")),
    responses(
        (status = 200, description = "Erased (also when it was already)", body = Erased),
        (status = 401, description = "No credential, or an invalid or expired one", body = ErrorBody),
        (status = 404, description = "No such preview for this credential", body = ErrorBody),
    )
)]
pub async fn erase(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview<OWNER_ONLY, KEY_OR_PREVIEW_TOKEN>,
) -> Result<Json<Erased>, ApiError> {
    let id = preview.id.clone();
    let newly_erased = mark_erased(&state, preview.clone()).await?;
    let deleted = delete_objects(&state, &preview).await?;
    if newly_erased {
        tracing::info!(preview_id = %id, objects_deleted = deleted, "preview erased");
    }
    if let Some(announce) = &state.announce {
        // Announcing is idempotent (the event id is derived from the preview
        // and `erased`), so a retried erase re-queues nothing already sent.
        announce.announce(&id).await?;
    }
    Ok(Json(Erased {
        id: id.to_string(),
        status: Status::Erased.as_str().to_owned(),
    }))
}

/// Move `preview` to `erased`, re-reading it when a stage moved it meanwhile.
/// Returns whether this call erased it.
async fn mark_erased(state: &ApiState, mut preview: Preview) -> Result<bool, ApiError> {
    let patch = PreviewPatch {
        forget_photo: true,
        ..PreviewPatch::default()
    };
    for _ in 0..TRANSITION_TRIES {
        if preview.status == Status::Erased {
            return Ok(false);
        }
        match state
            .previews
            .transition(&preview.id, preview.status, Status::Erased, patch.clone())
            .await
        {
            Ok(_) => return Ok(true),
            Err(PortError::Conflict(_)) => {
                preview = state
                    .previews
                    .get(&preview.id)
                    .await?
                    .ok_or_else(ApiError::not_found)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Unavailable(format!(
        "preview {} kept changing while being erased",
        preview.id
    ))
    .into())
}

async fn delete_objects(state: &ApiState, preview: &Preview) -> Result<usize, ApiError> {
    let prefixes = [
        preview.upload.key.clone(),
        keys::work_prefix(&preview.id),
        keys::delivered_prefix(&preview.tenant, &preview.id),
    ];
    let mut deleted = 0;
    for prefix in prefixes {
        for key in state.blobs.list(&prefix).await? {
            state.blobs.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
