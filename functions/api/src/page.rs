//! The customer's order page (`web/`), built into the binary and served by the
//! API router: `/`, `/app.js`, `/app.css`, `/favicon.svg`, `/styles/{id}.jpg`, and the public
//! style list `GET /v1/styles` the page builds its picker from.
//!
//! The page never sees an API key. On one machine the server plays the
//! storefront's backend: `GET /` carries a fresh one-order token in a `<meta>`
//! tag when `ApiConfig::storefront_tenant` is set. Elsewhere the tenant's own
//! site links to the page with `#order_token=...`.

use crate::ApiState;
use crate::tokens::OrderLimits;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const INDEX_HTML: &str = include_str!("../../../web/index.html");
pub const APP_JS: &str = include_str!("../../../web/app.js");
/// Also the look of `likeness generate`'s contact sheet.
pub const APP_CSS: &str = include_str!("../../../web/app.css");
pub const FAVICON_SVG: &str = include_str!("../../../web/favicon.svg");

/// One thumbnail per catalogue style, rendered by likeness itself
/// (`scripts/style-thumbnails`, provenance in `web/styles/PROVENANCE.md`).
pub const THUMBNAILS: &[(&str, &[u8])] = &[
    (
        "watercolor",
        include_bytes!("../../../web/styles/watercolor.jpg"),
    ),
    ("oil", include_bytes!("../../../web/styles/oil.jpg")),
    (
        "line_art",
        include_bytes!("../../../web/styles/line_art.jpg"),
    ),
    ("pencil", include_bytes!("../../../web/styles/pencil.jpg")),
    (
        "charcoal",
        include_bytes!("../../../web/styles/charcoal.jpg"),
    ),
    ("pop_art", include_bytes!("../../../web/styles/pop_art.jpg")),
    ("pastel", include_bytes!("../../../web/styles/pastel.jpg")),
    (
        "ink_wash",
        include_bytes!("../../../web/styles/ink_wash.jpg"),
    ),
    (
        "watercolor_oil",
        include_bytes!("../../../web/styles/watercolor_oil.jpg"),
    ),
    (
        "pencil_watercolor",
        include_bytes!("../../../web/styles/pencil_watercolor.jpg"),
    ),
];

/// The placeholders `web/index.html` carries for what the server fills in.
const TOKEN_SLOT: &str = "<!--likeness:order-token-->";
const WORDS_SLOT: &str = "<!--likeness:score-words-->";

/// Scores in words: for each score, bands from the best down, the first whose
/// lower bound the value reaches names it. The page and the `generate` contact
/// sheet both read this table, so a score reads the same everywhere.
pub const SCORE_WORDS: &[(&str, &[(f64, &str)])] = &[
    (
        "overall",
        &[
            (0.85, "Excellent"),
            (0.7, "Very good"),
            (0.55, "Good"),
            (0.0, "Fair"),
        ],
    ),
    (
        "likeness",
        &[
            (0.8, "Strong likeness"),
            (0.6, "Clear likeness"),
            (0.4, "Some likeness"),
            (0.0, "Weak likeness"),
        ],
    ),
    (
        "colour",
        &[
            (0.8, "True to the photo's colours"),
            (0.6, "Close to the photo's colours"),
            (0.0, "Colours changed"),
        ],
    ),
    (
        "composition",
        &[
            (0.8, "Well framed"),
            (0.6, "Framed fairly well"),
            (0.0, "Framing is off"),
        ],
    ),
    (
        "style",
        &[
            (0.8, "Fully in style"),
            (0.6, "Mostly in style"),
            (0.0, "Loosely in style"),
        ],
    ),
    ("artifacts", &[(1.0, "No flaws found"), (0.0, "Has flaws")]),
];

/// The words for `value` of the score `kind`; `None` for a score the table
/// does not know (a newer judge's), which a reader then leaves out.
pub fn score_word(kind: &str, value: f64) -> Option<&'static str> {
    let (_, bands) = SCORE_WORDS.iter().find(|(k, _)| *k == kind)?;
    bands
        .iter()
        .find(|(min, _)| value >= *min)
        .or(bands.last())
        .map(|(_, word)| *word)
}

/// The table as the JSON the page reads: `{"likeness": [[0.8, "Strong likeness"], ...]}`.
pub fn score_words_json() -> Value {
    SCORE_WORDS
        .iter()
        .map(|(kind, bands)| {
            let bands: Vec<Value> = bands.iter().map(|(min, word)| json!([min, word])).collect();
            (kind.to_string(), Value::Array(bands))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A style as the picker shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StyleCard {
    id: String,
    name: String,
    description: String,
    thumbnail_url: String,
}

/// `GET /v1/styles`: the catalogue as a customer sees it. Public: it holds
/// nothing a storefront does not show anyway.
#[utoipa::path(
    get,
    path = "/v1/styles",
    tag = "previews",
    responses((status = 200, description = "Every style that can be ordered", body = Vec<StyleCard>))
)]
pub async fn styles(State(state): State<ApiState>) -> Response {
    let cards: Vec<StyleCard> = state
        .catalogue
        .styles
        .iter()
        .map(|s| StyleCard {
            id: s.id.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            thumbnail_url: format!("/styles/{}.jpg", s.id),
        })
        .collect();
    let mut response = Json(cards).into_response();
    set(&mut response, header::CACHE_CONTROL, "public, max-age=300");
    response
}

/// `GET /styles/{id}.jpg`.
pub async fn thumbnail(Path(file): Path<String>) -> Response {
    let Some(id) = file.strip_suffix(".jpg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match THUMBNAILS.iter().find(|(name, _)| *name == id) {
        Some((_, bytes)) => {
            let mut response = bytes.into_response();
            set(&mut response, header::CONTENT_TYPE, "image/jpeg");
            set(
                &mut response,
                header::CACHE_CONTROL,
                "public, max-age=86400",
            );
            set(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn app_js(headers: HeaderMap) -> Response {
    asset(&headers, APP_JS, "text/javascript; charset=utf-8")
}

pub async fn app_css(headers: HeaderMap) -> Response {
    asset(&headers, APP_CSS, "text/css; charset=utf-8")
}

pub async fn favicon(headers: HeaderMap) -> Response {
    asset(&headers, FAVICON_SVG, "image/svg+xml")
}

/// A script or style sheet: revalidated on every load (the binary may have
/// been upgraded) and answered 304 when the browser holds this version.
fn asset(headers: &HeaderMap, body: &'static str, content_type: &'static str) -> Response {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    set(&mut response, header::CONTENT_TYPE, content_type);
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    set(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// `GET /`: the page, with this visit's order token when the server acts as
/// the storefront. Never cached: a token orders once.
pub async fn index(State(state): State<ApiState>) -> Response {
    let token = match order_token(&state).await {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let meta = token
        .map(|t| {
            format!(
                "<meta name=\"likeness-order-token\" content=\"{}\">",
                attribute(&t)
            )
        })
        .unwrap_or_default();
    // `<` cannot occur inside the JSON words, so it cannot close the script early.
    let words = format!(
        "<script type=\"application/json\" id=\"score-words\">{}</script>",
        score_words_json().to_string().replace('<', "\\u003c")
    );
    let html = INDEX_HTML
        .replacen(TOKEN_SLOT, &meta, 1)
        .replacen(WORDS_SLOT, &words, 1);
    let mut response = axum::response::Html(html).into_response();
    set(&mut response, header::CACHE_CONTROL, "no-store");
    set(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut response, header::REFERRER_POLICY, "no-referrer");
    set(&mut response, header::X_FRAME_OPTIONS, "DENY");
    let csp = content_security_policy(objects_origin(&state).await.as_deref());
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// Scripts and styles from this origin only, no inline code; images and
/// requests also to the object store the presigned URLs point at.
pub fn content_security_policy(objects_origin: Option<&str>) -> String {
    let objects = objects_origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; \
         img-src 'self'{objects} blob:; connect-src 'self'{objects}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The origin (`scheme://host[:port]`) of the URLs the object store presigns:
/// asked of the store itself, so the policy follows wherever it lives.
async fn objects_origin(state: &ApiState) -> Option<String> {
    let probe = state
        .blobs
        .presign_get("previews/origin-probe", Duration::from_secs(60))
        .await
        .ok()?;
    let url = url::Url::parse(&probe.url).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// A fresh one-order token for the storefront tenant, when this server is
/// the storefront's backend; `None` elsewhere (the shop's link brings one).
async fn order_token(state: &ApiState) -> Result<Option<String>, crate::ApiError> {
    let Some(tenant) = &state.config.storefront_tenant else {
        return Ok(None);
    };
    let issued = crate::tokens::issue_order_token(state, tenant, OrderLimits::default()).await?;
    tracing::info!(preview_id = %issued.preview_id, %tenant, "order page served with an order token");
    Ok(Some(issued.token))
}

fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

fn set(response: &mut Response, name: header::HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use likeness_core::Catalogue;

    #[test]
    fn every_catalogue_style_has_a_thumbnail_and_every_thumbnail_a_style() {
        let catalogue = Catalogue::builtin();
        let ids: Vec<String> = catalogue.ids().map(|s| s.to_string()).collect();
        let thumbs: Vec<String> = THUMBNAILS.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(ids, thumbs);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/styles");
        for (id, bytes) in THUMBNAILS {
            // A JPEG, small enough for a picker on a phone connection.
            assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff], "{id}.jpg is not a JPEG");
            assert!(bytes.len() < 40_000, "{id}.jpg is {} bytes", bytes.len());
            assert!(dir.join(format!("{id}.jpg")).is_file());
        }
        let on_disk = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".jpg"))
            .count();
        assert_eq!(
            on_disk,
            THUMBNAILS.len(),
            "a thumbnail in web/styles is not served"
        );
    }

    #[test]
    fn scores_read_as_words_at_the_band_edges() {
        assert_eq!(score_word("likeness", 0.95), Some("Strong likeness"));
        assert_eq!(score_word("likeness", 0.8), Some("Strong likeness"));
        assert_eq!(score_word("likeness", 0.79), Some("Clear likeness"));
        assert_eq!(score_word("likeness", 0.0), Some("Weak likeness"));
        assert_eq!(score_word("likeness", -0.1), Some("Weak likeness"));
        assert_eq!(score_word("artifacts", 1.0), Some("No flaws found"));
        assert_eq!(score_word("artifacts", 0.0), Some("Has flaws"));
        assert_eq!(score_word("overall", 0.6), Some("Good"));
        assert_eq!(score_word("sharpness", 0.6), None);
        let words = score_words_json();
        assert_eq!(words["likeness"][0], json!([0.8, "Strong likeness"]));
    }

    #[test]
    fn the_page_has_the_slots_the_server_fills_and_no_inline_code() {
        assert!(INDEX_HTML.contains(TOKEN_SLOT));
        assert!(INDEX_HTML.contains(WORDS_SLOT));
        // The policy forbids inline scripts, styles and handlers: the page must not need them.
        assert!(!INDEX_HTML.contains("<script>"));
        assert!(!INDEX_HTML.contains("<style"));
        assert!(!INDEX_HTML.contains(" style="));
        assert!(!INDEX_HTML.contains(" onclick="));
    }

    #[test]
    fn the_policy_names_the_object_store_for_images_and_requests_only() {
        let csp = content_security_policy(Some("http://127.0.0.1:8081"));
        assert!(csp.contains("img-src 'self' http://127.0.0.1:8081 blob:"));
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:8081;"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!content_security_policy(None).contains("http"));
    }
}
