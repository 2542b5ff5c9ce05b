//! Webhook signing secrets and the delivery record, for the tenant's own use.
//!
//! `POST /v1/webhooks/secret` replaces every secret at once (old ones stop
//! signing now); `POST /v1/webhooks/secret/rotate` adds a new one while the old
//! keep signing for a grace period, so receivers can switch without a gap.
//! `GET /v1/previews/{id}/webhooks` lists the delivery attempts for a preview.

use crate::auth::{Caller, TenantPreview};
use crate::views::{DeliveryAttempts, ErrorBody, WebhookSecret};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use likeness_core::ledger::EndpointSecret;
use likeness_core::ports::KeyScope;
use serde::Deserialize;

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

#[utoipa::path(
    post,
    path = "/v1/webhooks/secret",
    tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 201, description = "The new signing secret; older ones stop signing now", body = WebhookSecret),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "A browser token or a finance key", body = ErrorBody),
    )
)]
pub async fn create_secret(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<(StatusCode, Json<WebhookSecret>), ApiError> {
    tenant_only(&caller)?;
    let now = state.clock.now();
    state.deliveries.retire_secrets(&caller.tenant, now).await?;
    let secret = EndpointSecret::generate(&caller.tenant, now);
    state.deliveries.put_secret(&secret).await?;
    tracing::info!(tenant = %caller.tenant, "webhook secret replaced");
    Ok((
        StatusCode::CREATED,
        Json(WebhookSecret {
            secret: secret.secret,
            created_at: secret.created_at,
            previous_secrets_expire_at: None,
        }),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Rotate {
    /// Hours the previous secrets keep signing (default 24, at most 168).
    grace_hours: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/secret/rotate",
    tag = "webhooks",
    security(("api_key" = [])),
    request_body(content = Option<Rotate>),
    responses(
        (status = 201, description = "A new secret; the old ones sign until `previous_secrets_expire_at`", body = WebhookSecret),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "A browser token or a finance key", body = ErrorBody),
        (status = 422, description = "grace_hours out of range", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Rotate>, JsonRejection>,
) -> Result<(StatusCode, Json<WebhookSecret>), ApiError> {
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
        Json(WebhookSecret {
            secret: secret.secret,
            created_at: secret.created_at,
            previous_secrets_expire_at: Some(retire_at),
        }),
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

#[utoipa::path(
    get,
    path = "/v1/previews/{id}/webhooks",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The preview id, `pv_…`")),
    responses(
        (status = 200, description = "Every delivery attempt of the preview's events", body = DeliveryAttempts),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "A browser token or a finance key", body = ErrorBody),
        (status = 404, description = "No such preview for this key", body = ErrorBody),
    )
)]
pub async fn attempts(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview,
) -> Result<Json<DeliveryAttempts>, ApiError> {
    let attempts = state.deliveries.attempts_for(&preview.id).await?;
    Ok(Json(DeliveryAttempts {
        preview_id: preview.id.to_string(),
        attempts: serde_json::to_value(&attempts).unwrap_or_default(),
    }))
}
