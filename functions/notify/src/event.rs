//! The events customers receive: `preview.ready`, `preview.rejected`,
//! `preview.failed` and `preview.erased`, as `{type, timestamp, data}` (docs/WEBHOOKS.md has the schema).

use chrono::{DateTime, SecondsFormat, Utc};
use likeness_core::cost::{CostLine, total_usd};
use likeness_core::ledger::WebhookEvent;
use likeness_core::ports::Blobs;
use likeness_core::qa::Scores;
use likeness_core::tasks::DeliveredStyle;
use likeness_core::{PortError, Preview, Status, StyleId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Ready,
    Rejected,
    Failed,
    Erased,
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Ready => "preview.ready",
            EventKind::Rejected => "preview.rejected",
            EventKind::Failed => "preview.failed",
            EventKind::Erased => "preview.erased",
        }
    }

    /// The event a preview in `status` announces, if any.
    pub fn for_status(status: Status) -> Option<Self> {
        match status {
            Status::Ready => Some(EventKind::Ready),
            Status::Rejected => Some(EventKind::Rejected),
            Status::Failed => Some(EventKind::Failed),
            Status::Erased => Some(EventKind::Erased),
            _ => None,
        }
    }
}

/// One delivered portrait as the pipeline recorded it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Portrait {
    pub style: StyleId,
    /// 1-based variation number within the style.
    pub index: u32,
    /// Object key under `previews/{tenant}/{id}/`.
    pub key: String,
    /// QA scores by name (likeness, colour, composition, style, artifacts), 0..1.
    pub scores: BTreeMap<String, f64>,
}

impl Portrait {
    /// The delivered portraits of a ready preview, from the results finalize
    /// recorded.
    pub fn from_results(results: Option<&[DeliveredStyle]>) -> Vec<Portrait> {
        results
            .into_iter()
            .flatten()
            .flat_map(|style| {
                style
                    .previews
                    .iter()
                    .enumerate()
                    .map(|(n, image)| Portrait {
                        style: style.style.clone(),
                        index: n as u32 + 1,
                        key: image.webp.clone(),
                        scores: image.scores.map(score_map).unwrap_or_default(),
                    })
            })
            .collect()
    }
}

/// The scores by name, as the webhook's `scores` object carries them, to
/// three decimals (an `f32` widened to `f64` would show its binary noise).
fn score_map(s: Scores) -> BTreeMap<String, f64> {
    [
        ("likeness", s.likeness),
        ("colour", s.colour),
        ("composition", s.composition),
        ("style", s.style),
        ("artifacts", s.artifacts),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), (f64::from(v) * 1000.0).round() / 1000.0))
    .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("preview {id} is {status}: no webhook event announces that")]
    NotFinal { id: String, status: Status },
    #[error("presigning a preview URL: {0}")]
    Presign(#[from] PortError),
    #[error("serialising the event: {0}")]
    Json(#[from] serde_json::Error),
}

/// The `webhook-id` of a preview's event: derived, not random, so a stage that
/// runs twice announces the same event and receivers de-duplicate it.
pub fn webhook_id(preview: &Preview, kind: EventKind) -> String {
    let digest = Sha256::digest(format!("{}.{}", preview.id, kind.as_str()));
    format!("msg_{}", &hex::encode(digest)[..32])
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The body of every event: `preview.ready`, `preview.rejected`,
/// `preview.failed` and `preview.erased` (the API's OpenAPI document lists it
/// under `webhooks`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventBody {
    #[serde(rename = "type")]
    #[schema(example = "preview.ready")]
    pub event_type: String,
    /// RFC 3339, milliseconds, UTC.
    pub timestamp: String,
    pub data: EventData,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventData {
    pub preview_id: String,
    #[schema(example = "ready")]
    pub status: String,
    #[schema(example = "person")]
    pub subject: String,
    pub styles: Vec<String>,
    /// `preview.ready` only: each delivered portrait with a presigned link.
    pub previews: Vec<EventPortrait>,
    /// `preview.rejected` only: each reason, in the customer's words.
    pub rejection_reasons: Vec<EventReason>,
    /// `preview.failed` only: why, in the customer's words.
    pub failure: Option<String>,
    pub cost: EventCost,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventPortrait {
    pub style: String,
    pub index: u32,
    pub url: String,
    pub expires_at: String,
    /// Scores by check, 0 to 1.
    pub scores: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventReason {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventCost {
    pub usd: f64,
    pub price_table_versions: Vec<String>,
}

/// Build the event for a final preview, or `None` when it has no webhook URL.
/// Portrait URLs are presigned GETs valid for `url_ttl`.
pub async fn build(
    preview: &Preview,
    portraits: &[Portrait],
    cost: &[CostLine],
    blobs: &dyn Blobs,
    url_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Option<WebhookEvent>, EventError> {
    let kind = EventKind::for_status(preview.status).ok_or_else(|| EventError::NotFinal {
        id: preview.id.to_string(),
        status: preview.status,
    })?;
    let Some(url) = preview.webhook_url.clone() else {
        return Ok(None);
    };
    let mut previews = Vec::with_capacity(portraits.len());
    if kind == EventKind::Ready {
        for p in portraits {
            let get = blobs.presign_get(&p.key, url_ttl).await?;
            previews.push(EventPortrait {
                style: p.style.to_string(),
                index: p.index,
                url: get.url,
                expires_at: rfc3339(get.expires_at),
                scores: p.scores.clone(),
            });
        }
    }
    let versions: std::collections::BTreeSet<&str> = cost
        .iter()
        .map(|l| l.price_table_version.as_str())
        .collect();
    let body = EventBody {
        event_type: kind.as_str().to_owned(),
        timestamp: rfc3339(now),
        data: EventData {
            preview_id: preview.id.to_string(),
            status: preview.status.as_str().to_owned(),
            subject: preview.subject.to_string(),
            styles: preview.styles.iter().map(ToString::to_string).collect(),
            previews,
            rejection_reasons: preview
                .rejection_reasons
                .iter()
                .map(|r| EventReason {
                    code: r.code.to_string(),
                    message: r.message.clone(),
                })
                .collect(),
            failure: preview.failure.clone(),
            cost: EventCost {
                usd: total_usd(cost),
                price_table_versions: versions.into_iter().map(str::to_owned).collect(),
            },
        },
    };
    Ok(Some(WebhookEvent {
        webhook_id: webhook_id(preview, kind),
        preview_id: preview.id.clone(),
        tenant: preview.tenant.clone(),
        event_type: kind.as_str().to_owned(),
        url,
        body: serde_json::to_string(&body)?,
        created_at: now,
    }))
}
