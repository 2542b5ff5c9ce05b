//! `POST /v1/previews` orders a preview and returns a presigned upload;
//! `GET /v1/previews/{id}` reports what is known so far. An order comes with
//! the API key or an order token; status takes the key or the preview token.

use crate::auth::{KEY_OR_PREVIEW_TOKEN, OWNER_ONLY, Orderer, TenantPreview};
use crate::config::ACCEPTED_CONTENT_TYPES;
use crate::tokens;
use crate::views::{
    CreatedPreview, ErrorBody, ImageLink, PortraitView, PreviewView, ReasonView, StyleResultView,
    UploadInstructions,
};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use likeness_core::preview::UploadSpec;
use likeness_core::{Consent, Preview, Status, StyleId, SubjectKind, keys};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use utoipa::ToSchema;

/// An order. Every field is checked with a specific error code; the photo's
/// type and size are bound into the upload URL.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePreview {
    /// `person`, `couple` or `pet`.
    #[schema(example = "person")]
    subject: Option<String>,
    /// Style ids from `GET /v1/styles`.
    #[serde(default)]
    #[schema(example = json!(["watercolor", "oil"]))]
    styles: Vec<String>,
    /// `image/jpeg`, `image/png` or `image/webp`.
    content_type: Option<String>,
    /// The photo's exact size in bytes.
    content_length: Option<u64>,
    /// Portraits per style (default 3).
    #[serde(default)]
    variations: Option<u32>,
    /// Where `preview.*` events are posted (https on AWS).
    #[serde(default)]
    webhook_url: Option<String>,
    /// Required: the customer confirms the right to use the photo.
    #[serde(default)]
    consent: Option<OrderConsent>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderConsent {
    rights_to_photo: bool,
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
    let consent = order
        .consent
        .filter(|c| c.rights_to_photo)
        .map(|c| Consent {
            rights_to_photo: c.rights_to_photo,
        })
        .ok_or_else(|| {
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

#[utoipa::path(
    post,
    path = "/v1/previews",
    tag = "previews",
    security(("api_key" = []), ("order_token" = [])),
    request_body = CreatePreview,
    responses(
        (status = 201, description = "Ordered: upload the photo to `upload.url` next", body = CreatedPreview),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No credential, or an invalid or expired one", body = ErrorBody),
        (status = 409, description = "The order token was used already", body = ErrorBody),
        (status = 413, description = "The photo or the body is too large", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid; `code` names it", body = ErrorBody),
        (status = 429, description = "A per-tenant limit; see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    orderer: Orderer,
    body: Result<Json<CreatePreview>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedPreview>), ApiError> {
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
) -> Result<(StatusCode, Json<CreatedPreview>), ApiError> {
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
    Ok((
        StatusCode::CREATED,
        Json(CreatedPreview {
            id: id.to_string(),
            status: Status::AwaitingUpload.as_str().to_owned(),
            upload: UploadInstructions {
                url: presigned.url,
                method: presigned.method,
                headers: presigned.headers.into_iter().collect(),
                expires_at: presigned.expires_at,
            },
            preview_token: preview_token.token,
            preview_token_expires_at: preview_token.expires_at,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/previews/{id}",
    tag = "previews",
    security(("api_key" = []), ("preview_token" = [])),
    params(("id" = String, Path, description = "The preview id, `pv_…`")),
    responses(
        (status = 200, description = "The preview as known now", body = PreviewView),
        (status = 401, description = "No credential, or an invalid or expired one", body = ErrorBody),
        (status = 404, description = "No such preview for this credential", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview<OWNER_ONLY, KEY_OR_PREVIEW_TOKEN>,
) -> Result<Json<PreviewView>, ApiError> {
    let results = delivered(&state, &preview).await?;
    Ok(Json(describe(&preview, results)))
}

/// The customer's view of a preview: never an internal key or another tenant's data.
pub fn describe(preview: &Preview, results: Option<Vec<StyleResultView>>) -> PreviewView {
    PreviewView {
        id: preview.id.to_string(),
        status: preview.status.as_str().to_owned(),
        subject: preview.subject.to_string(),
        styles: preview.styles.iter().map(ToString::to_string).collect(),
        variations: preview.variations,
        created_at: preview.created_at,
        updated_at: preview.updated_at,
        expires_at: preview.expires_at,
        rejection_reasons: preview
            .rejection_reasons
            .iter()
            .map(|r| ReasonView {
                code: r.code.to_string(),
                message: r.message.clone(),
            })
            .collect(),
        failure: preview.failure.clone(),
        results,
        analysis: serde_json::to_value(&preview.analysis).unwrap_or(Value::Null),
    }
}

/// The formats each delivered portrait is stored in: (field in the record, format, type).
const FORMATS: [(&str, &str, &str); 2] = [
    ("webp", "webp", "image/webp"),
    ("jpeg", "jpeg", "image/jpeg"),
];

/// A ready preview's portraits, each format with a presigned GET (valid for
/// `download_url_ttl_secs`), its size and format; `None` until the preview is
/// ready. The record's object keys stay inside: the key only appears within the
/// signed URL. Reads the results as JSON, so it does not care whether the record
/// holds them as a JSON value or a typed struct that serialises the same way.
async fn delivered(
    state: &ApiState,
    preview: &Preview,
) -> Result<Option<Vec<StyleResultView>>, ApiError> {
    if preview.status != Status::Ready {
        return Ok(None);
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
                images.push(ImageLink {
                    format: format.to_owned(),
                    content_type: content_type.to_owned(),
                    bytes: state.blobs.size(key).await?,
                    url: get.url,
                    expires_at: get.expires_at,
                });
            }
            portraits.push(PortraitView {
                index: n + 1,
                images,
                overall: portrait["overall"].clone(),
                flagged: portrait["flagged"].clone(),
                scores: portrait["scores"].clone(),
            });
        }
        styles.push(StyleResultView {
            style: style["style"].clone(),
            outcome: style["outcome"].clone(),
            attempts: style["attempts"].clone(),
            previews: portraits,
        });
    }
    Ok(Some(styles))
}
