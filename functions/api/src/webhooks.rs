//! Webhook signing secrets and the delivery record, for the tenant's own use.
//!
//! `POST /v1/webhooks/secret` replaces every secret at once (old ones stop
//! signing now); `POST /v1/webhooks/secret/rotate` adds a new one while the old
//! keep signing for a grace period, so receivers can switch without a gap.
//! `GET /v1/previews/{id}/webhooks` lists the delivery attempts for a preview.

use crate::auth::{Caller, TenantPreview};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use likeness_core::ledger::EndpointSecret;
use likeness_core::ports::KeyScope;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long a rotated-out secret keeps signing unless the request says otherwise.
pub const DEFAULT_GRACE_HOURS: u32 = 24;
pub const MAX_GRACE_HOURS: u32 = 7 * 24;

fn tenant_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.scope != KeyScope::Tenant {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Webhook secrets belong to a tenant: use the tenant's API key.",
        ));
    }
    Ok(())
}

pub async fn create_secret(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    tenant_only(&caller)?;
    let now = state.clock.now();
    state.deliveries.retire_secrets(&caller.tenant, now).await?;
    let secret = EndpointSecret::generate(&caller.tenant, now);
    state.deliveries.put_secret(&secret).await?;
    tracing::info!(tenant = %caller.tenant, "webhook secret replaced");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "secret": secret.secret, "created_at": secret.created_at })),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct Rotate {
    grace_hours: Option<u32>,
}

pub async fn rotate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Rotate>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    tenant_only(&caller)?;
    let grace = rotate_body(body)?
        .map(|Json(b)| b)
        .unwrap_or_default()
        .grace_hours
        .unwrap_or(DEFAULT_GRACE_HOURS);
    if grace > MAX_GRACE_HOURS {
        return Err(ApiError::unprocessable(
            "invalid_grace",
            format!("grace_hours may be at most {MAX_GRACE_HOURS}."),
        ));
    }
    let now = state.clock.now();
    let retire_at = now + chrono::Duration::hours(i64::from(grace));
    state
        .deliveries
        .retire_secrets(&caller.tenant, retire_at)
        .await?;
    let secret = EndpointSecret::generate(&caller.tenant, now);
    state.deliveries.put_secret(&secret).await?;
    tracing::info!(tenant = %caller.tenant, grace_hours = grace, "webhook secret rotated");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "secret": secret.secret,
            "created_at": secret.created_at,
            "previous_secrets_expire_at": retire_at,
        })),
    ))
}

/// Rejects a malformed rotate body with the API's error shape (an absent body is fine).
fn rotate_body(
    body: Result<Json<Rotate>, JsonRejection>,
) -> Result<Option<Json<Rotate>>, ApiError> {
    match body {
        Ok(b) => Ok(Some(b)),
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(None),
        Err(e) => Err(ApiError::unprocessable("invalid_body", e.body_text())),
    }
}

pub async fn attempts(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview,
) -> Result<Json<Value>, ApiError> {
    let attempts = state.deliveries.attempts_for(&preview.id).await?;
    Ok(Json(
        json!({ "preview_id": preview.id, "attempts": attempts }),
    ))
}
