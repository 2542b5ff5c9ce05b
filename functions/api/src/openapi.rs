//! The OpenAPI 3.1 document for integrators, generated from the handlers'
//! `#[utoipa::path]` attributes and the request and response types they use
//! (`crate::views`, the webhook event types of `likeness_notify`). Served at
//! `GET /v1/openapi.json` by both stacks; `tests/openapi.rs` fails when a
//! route of the router is missing from it.

use crate::views::ErrorBody;
use axum::Json;
use likeness_notify::event::EventBody;
use utoipa::openapi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "likeness",
        description = "Order AI portraits of a person or a pet from one photo. \
            The tenant's backend holds the API key; browsers hold short-lived \
            tokens (docs/WEB.md). Every error is `{error: {code, message}}` \
            with a stable code and a message in the customer's words.",
        license(name = "Apache-2.0")
    ),
    paths(
        health,
        openapi_json,
        crate::page::styles,
        crate::tokens::create_order_token,
        crate::previews::create,
        crate::previews::show,
        crate::erase::erase,
        crate::costs::preview_cost,
        crate::costs::totals,
        crate::webhooks::create_secret,
        crate::webhooks::rotate_secret,
        crate::webhooks::attempts,
    ),
    components(schemas(ErrorBody, EventBody)),
    modifiers(&Credentials),
    tags(
        (name = "browser tokens", description = "What a page holds instead of the API key"),
        (name = "previews", description = "Order, watch, read and erase previews"),
        (name = "costs", description = "What each preview cost"),
        (name = "webhooks", description = "Signing secrets and delivery history"),
    )
)]
pub struct ApiDoc;

/// The three bearer credentials: all `Authorization: Bearer …`.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, format, what) in [
            (
                "api_key",
                "lk_…",
                "The tenant's API key. Keep it on your backend; never send it to a browser.",
            ),
            (
                "order_token",
                "lkt1.…",
                "From POST /v1/order-tokens: creates one preview, for a few minutes.",
            ),
            (
                "preview_token",
                "lkt1.…",
                "From POST /v1/previews: reads and erases that preview only.",
            ),
        ] {
            let mut scheme = Http::new(HttpAuthScheme::Bearer);
            scheme.bearer_format = Some(format.to_owned());
            scheme.description = Some(what.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// OpenAPI 3.1's `webhooks`, what likeness posts to an order's `webhook_url`:
/// the events, each signed per Standard Webhooks (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`), with the same body schema.
const EVENTS: [(&str, &str); 4] = [
    (
        "preview.ready",
        "The portraits are ready: `data.previews` has a presigned link to each.",
    ),
    (
        "preview.rejected",
        "The photo cannot be used: `data.rejection_reasons` says why and what to do.",
    ),
    (
        "preview.failed",
        "The preview failed: `data.failure` says why.",
    ),
    (
        "preview.erased",
        "The photo and everything made from it were deleted on request.",
    ),
];

/// The whole document as JSON, with `webhooks` added (utoipa has no
/// attribute for them).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    let mut webhooks = serde_json::Map::new();
    for (event, description) in EVENTS {
        webhooks.insert(
            event.to_owned(),
            serde_json::json!({
                "post": {
                    "summary": event,
                    "description": description,
                    "parameters": [
                        {"name": "webhook-id", "in": "header", "required": true,
                         "description": "The same for every attempt at one event: de-duplicate on it.",
                         "schema": {"type": "string"}},
                        {"name": "webhook-timestamp", "in": "header", "required": true,
                         "schema": {"type": "string"}},
                        {"name": "webhook-signature", "in": "header", "required": true,
                         "description": "`v1,<base64 HMAC-SHA256>` under the tenant's webhook secret.",
                         "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventBody"}}},
                    },
                    "responses": {
                        "2XX": {"description": "Received; any other answer is retried with backoff."}
                    },
                }
            }),
        );
    }
    doc["webhooks"] = serde_json::Value::Object(webhooks);
    doc
}

/// Liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "previews",
    responses((status = 200, description = "The API answers", body = String, content_type = "text/plain"))
)]
pub async fn health() -> &'static str {
    "ok"
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "previews",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(document())
}
