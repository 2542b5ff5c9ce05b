//! The API's response bodies as types: handlers return these, and the OpenAPI
//! document ([`crate::openapi`]) is generated from the same types, so the two
//! cannot drift apart.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Every error: a stable `code` to branch on and a `message` in the
/// customer's words.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "invalid_token")]
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderTokenIssued {
    /// Hand this to the page: it creates one preview (`POST /v1/previews`).
    pub order_token: String,
    /// The id the preview ordered with this token will have.
    pub preview_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Where and how to upload the photo: a presigned PUT that binds the key,
/// content type, size and expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadInstructions {
    pub url: String,
    #[schema(example = "PUT")]
    pub method: String,
    /// Send each of these with the PUT (a browser sets `content-length` itself).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPreview {
    pub id: String,
    #[schema(example = "awaiting_upload")]
    pub status: String,
    pub upload: UploadInstructions,
    /// Reads and erases this preview only; safe to keep in the page.
    pub preview_token: String,
    pub preview_token_expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonView {
    /// e.g. `no_face`, `blurry`, `too_dark` (docs/ANALYSIS.md lists them all).
    pub code: String,
    /// What went wrong and what to do, in the customer's words.
    pub message: String,
}

/// One stored format of a delivered portrait.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageLink {
    #[schema(example = "webp")]
    pub format: String,
    pub content_type: String,
    pub bytes: u64,
    /// A presigned GET, valid until `expires_at`; reading the preview again
    /// issues fresh ones.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortraitView {
    /// 1-based variation number within the style.
    pub index: usize,
    pub images: Vec<ImageLink>,
    /// The judge's overall score, 0 to 1.
    #[schema(value_type = Option<f64>)]
    pub overall: Value,
    /// Delivered although a check scored it below its bar.
    #[schema(value_type = Option<bool>)]
    pub flagged: Value,
    /// Scores by check (likeness, colour, composition, style, artifacts), 0 to 1.
    #[schema(value_type = Option<BTreeMap<String, f64>>)]
    pub scores: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StyleResultView {
    #[schema(value_type = String)]
    pub style: Value,
    /// `passed`, `best_effort` or `failed`.
    #[schema(value_type = String)]
    pub outcome: Value,
    /// Render-and-judge rounds it took.
    #[schema(value_type = u32)]
    pub attempts: Value,
    pub previews: Vec<PortraitView>,
}

/// A preview as its tenant and its page see it: never an object key or another
/// tenant's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    pub id: String,
    /// `awaiting_upload`, `analyzing`, `rendering`, `judging`, then one of
    /// `ready`, `rejected`, `failed`; later `expired` or `erased`.
    #[schema(example = "rendering")]
    pub status: String,
    #[schema(example = "person")]
    pub subject: String,
    pub styles: Vec<String>,
    pub variations: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub rejection_reasons: Vec<ReasonView>,
    /// Why the preview failed, in the customer's words.
    pub failure: Option<String>,
    /// The delivered portraits, by style; `null` until the preview is ready.
    pub results: Option<Vec<StyleResultView>>,
    /// What the photo check found (quality metrics, faces); `null` before it
    /// ran and after erasure.
    #[schema(value_type = Option<Object>)]
    pub analysis: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    pub id: String,
    #[schema(example = "erased")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewCost {
    pub preview_id: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub total_usd: f64,
    pub price_table_versions: Vec<String>,
    /// One line per metered use: stage, meter, quantity, unit price, amount.
    #[schema(value_type = Vec<Object>)]
    pub lines: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CostTotals {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = String, example = "day")]
    pub group_by: Value,
    #[schema(example = "USD")]
    pub currency: String,
    pub total_usd: f64,
    /// Totals per day, style or tenant.
    #[schema(value_type = Vec<Object>)]
    pub groups: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// `whsec_…`: verifies the `webhook-signature` header (Standard Webhooks).
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// After a rotation: until when the previous secrets still sign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secrets_expire_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempts {
    pub preview_id: String,
    /// Each attempt: webhook id, event type, attempt number, outcome, status
    /// code, time.
    #[schema(value_type = Vec<Object>)]
    pub attempts: Value,
}
