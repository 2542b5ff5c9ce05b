//! `POST /v1/previews` orders a preview and returns a presigned upload;
//! `GET /v1/previews/{id}` reports what is known so far. An order comes with
//! the API key or an order token; status takes the key or the preview token.

use crate::auth::{KEY_OR_PREVIEW_TOKEN, OWNER_ONLY, Orderer, TenantPreview};
use crate::config::ACCEPTED_CONTENT_TYPES;
use crate::tokens;
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use likeness_core::preview::UploadSpec;
use likeness_core::{Consent, Preview, Status, StyleId, SubjectKind, keys};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct CreatePreview {
    subject: Option<String>,
    #[serde(default)]
    styles: Vec<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    #[serde(default)]
    variations: Option<u32>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    consent: Option<Consent>,
}

struct ValidOrder {
    subject: SubjectKind,
    styles: Vec<StyleId>,
    content_type: String,
    content_length: u64,
    variations: u32,
    webhook_url: Option<String>,
    consent: Consent,
}

fn validate(
    order: CreatePreview,
    state: &ApiState,
    orderer: &Orderer,
) -> Result<ValidOrder, ApiError> {
    let config = &state.config;
    // An order token may allow less than the API does, never more.
    let max_styles = orderer
        .max_styles
        .map_or(config.max_styles, |m| m.min(config.max_styles));
    let max_variations = orderer
        .max_variations
        .map_or(config.max_variations, |m| m.min(config.max_variations));
    let consent = order.consent.filter(|c| c.rights_to_photo).ok_or_else(|| {
        ApiError::unprocessable(
            "consent_required",
            "Confirm that you have the right to use this photo: send consent.rights_to_photo = true.",
        )
    })?;
    let subject = order
        .subject
        .as_deref()
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_subject",
                "subject is required: person, couple or pet.",
            )
        })?
        .parse::<SubjectKind>()
        .map_err(|e| ApiError::unprocessable("invalid_subject", e))?;
    if order.styles.is_empty() {
        return Err(ApiError::unprocessable(
            "no_styles",
            "Choose at least one style.",
        ));
    }
    if order.styles.len() > max_styles {
        return Err(ApiError::unprocessable(
            "too_many_styles",
            format!("Choose at most {max_styles} styles."),
        ));
    }
    let mut seen = HashSet::new();
    let mut styles = Vec::new();
    for name in order.styles {
        let id = StyleId::new(name);
        if state.catalogue.get(&id).is_none() {
            return Err(ApiError::unprocessable(
                "unknown_style",
                format!("There is no style `{id}`."),
            ));
        }
        if seen.insert(id.clone()) {
            styles.push(id);
        }
    }
    let content_type = order.content_type.unwrap_or_default().to_ascii_lowercase();
    if !ACCEPTED_CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(ApiError::unprocessable(
            "unsupported_content_type",
            "Upload a JPEG, PNG or WebP photo (content_type image/jpeg, image/png or image/webp).",
        ));
    }
    let content_length = order.content_length.unwrap_or(0);
    if content_length == 0 {
        return Err(ApiError::unprocessable(
            "invalid_content_length",
            "content_length must be the photo's size in bytes.",
        ));
    }
    if content_length > config.max_upload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "The photo may be at most {} bytes.",
                config.max_upload_bytes
            ),
        ));
    }
    let variations = order
        .variations
        .unwrap_or(config.default_variations.min(max_variations));
    if variations == 0 || variations > max_variations {
        return Err(ApiError::unprocessable(
            "invalid_variations",
            format!("variations must be between 1 and {max_variations}."),
        ));
    }
    if let Some(url) = &order.webhook_url
        && let Some(problem) = crate::webhook_url::problem(url, &config.webhook_policy())
    {
        return Err(ApiError::unprocessable("invalid_webhook_url", problem));
    }
    Ok(ValidOrder {
        subject,
        styles,
        content_type,
        content_length,
        variations,
        webhook_url: order.webhook_url,
        consent,
    })
}

pub async fn create(
    State(state): State<ApiState>,
    orderer: Orderer,
    body: Result<Json<CreatePreview>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(order) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "The request body may be at most {} bytes.",
                crate::MAX_BODY_BYTES
            ),
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.body_text()),
    })?;
    let order = validate(order, &state, &orderer)?;
    if let Some(id) = &orderer.reserved
        && state.previews.get(id).await?.is_some()
    {
        return Err(used_order_token());
    }
    crate::limits::admit(&state, &orderer.tenant, place(&state, &orderer, order)).await
}

fn used_order_token() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "order_token_used",
        "This order link has already been used: start a new order.",
    )
}

/// Store an admitted order and presign its upload.
async fn place(
    state: &ApiState,
    orderer: &Orderer,
    order: ValidOrder,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = orderer
        .reserved
        .clone()
        .unwrap_or_else(|| state.ids.preview_id());
    let now = state.clock.now();
    let key = keys::upload(&orderer.tenant, &id);
    let ttl = Duration::from_secs(state.config.upload_url_ttl_secs);
    let presigned = state
        .blobs
        .presign_put(&key, &order.content_type, order.content_length, ttl)
        .await?;
    let preview = Preview {
        id: id.clone(),
        tenant: orderer.tenant.clone(),
        status: Status::AwaitingUpload,
        subject: order.subject,
        styles: order.styles,
        variations: order.variations,
        upload: UploadSpec {
            key,
            content_type: order.content_type,
            content_length: order.content_length,
            expires_at: presigned.expires_at,
        },
        webhook_url: order.webhook_url,
        consent: order.consent,
        created_at: now,
        updated_at: now,
        version: 1,
        analysis: None,
        rejection_reasons: vec![],
        failure: None,
        results: None,
        expires_at: now + chrono::Duration::days(state.config.retention_days),
    };
    match state.previews.create(&preview).await {
        // Two orders racing with one order token: the second finds the id taken.
        Err(likeness_core::PortError::AlreadyExists(_)) if orderer.reserved.is_some() => {
            return Err(used_order_token());
        }
        other => other?,
    }
    let preview_token = tokens::issue_preview_token(state, &orderer.tenant, &id).await?;
    tracing::info!(preview_id = %id, tenant = %orderer.tenant, "preview ordered");
    let headers: BTreeMap<_, _> = presigned.headers.into_iter().collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "status": Status::AwaitingUpload,
            "upload": {
                "url": presigned.url,
                "method": presigned.method,
                "headers": headers,
                "expires_at": presigned.expires_at,
            },
            "preview_token": preview_token.token,
            "preview_token_expires_at": preview_token.expires_at,
        })),
    ))
}

pub async fn show(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview<OWNER_ONLY, KEY_OR_PREVIEW_TOKEN>,
) -> Result<Json<Value>, ApiError> {
    let results = delivered(&state, &preview).await?;
    Ok(Json(describe(&preview, results)))
}

/// The customer's view of a preview: never an internal key or another tenant's data.
pub fn describe(preview: &Preview, results: Value) -> Value {
    json!({
        "id": preview.id,
        "status": preview.status,
        "subject": preview.subject,
        "styles": preview.styles,
        "variations": preview.variations,
        "created_at": preview.created_at,
        "updated_at": preview.updated_at,
        "expires_at": preview.expires_at,
        "rejection_reasons": preview.rejection_reasons,
        "failure": preview.failure,
        "results": results,
        "analysis": preview.analysis,
    })
}

/// The formats each delivered portrait is stored in: (field in the record, format, type).
const FORMATS: [(&str, &str, &str); 2] = [
    ("webp", "webp", "image/webp"),
    ("jpeg", "jpeg", "image/jpeg"),
];

/// A ready preview's portraits, each format with a presigned GET (valid for
/// `download_url_ttl_secs`), its size and format; `null` until the preview is
/// ready. The record's object keys stay inside: the key only appears within the
/// signed URL. Reads the results as JSON, so it does not care whether the record
/// holds them as a JSON value or a typed struct that serialises the same way.
async fn delivered(state: &ApiState, preview: &Preview) -> Result<Value, ApiError> {
    if preview.status != Status::Ready {
        return Ok(Value::Null);
    }
    let results = serde_json::to_value(&preview.results).unwrap_or(Value::Null);
    let ttl = Duration::from_secs(state.config.download_url_ttl_secs);
    let mut styles = Vec::new();
    for style in results.as_array().into_iter().flatten() {
        let mut portraits = Vec::new();
        for (n, portrait) in style["previews"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut images = Vec::new();
            for (field, format, content_type) in FORMATS {
                let Some(key) = portrait[field].as_str() else {
                    continue;
                };
                let get = state.blobs.presign_get(key, ttl).await?;
                let bytes = state.blobs.size(key).await?;
                images.push(json!({
                    "format": format,
                    "content_type": content_type,
                    "bytes": bytes,
                    "url": get.url,
                    "expires_at": get.expires_at,
                }));
            }
            portraits.push(json!({
                "index": n + 1,
                "images": images,
                "overall": portrait["overall"],
                "flagged": portrait["flagged"],
                "scores": portrait["scores"],
            }));
        }
        styles.push(json!({
            "style": style["style"],
            "outcome": style["outcome"],
            "attempts": style["attempts"],
            "previews": portraits,
        }));
    }
    Ok(Value::Array(styles))
}
