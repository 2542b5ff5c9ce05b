//! The likeness HTTP API as an `axum::Router`. The same router is served by
//! `axum::serve` on one machine and by `lambda_http` in AWS.

pub mod auth;
pub mod config;
mod costs;
mod erase;
mod error;
pub mod limits;
pub mod openapi;
pub mod page;
mod previews;
pub mod server;
pub mod tokens;
pub mod views;
pub mod webhook_url;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post};
use likeness_core::Catalogue;
use likeness_core::ledger::{CostLedger, Deliveries};
use likeness_core::ports::Announce;
use likeness_core::ports::{ApiKeys, Blobs, Clock, Ids, Previews};
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::ApiConfig;
pub use error::ApiError;
pub use server::{ServerLimits, serve};

/// Request bodies are small JSON documents (an order is well under 4 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a request handler may touch, as ports.
#[derive(Clone)]
pub struct ApiState {
    pub previews: Arc<dyn Previews>,
    pub keys: Arc<dyn ApiKeys>,
    pub blobs: Arc<dyn Blobs>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
    pub catalogue: Arc<Catalogue>,
    pub config: ApiConfig,
    pub deliveries: Arc<dyn Deliveries>,
    pub costs: Arc<dyn CostLedger>,
    pub tokens: Arc<tokens::Tokens>,
    /// Where `preview.erased` is announced; `None` sends no webhook.
    pub announce: Option<Arc<dyn Announce>>,
}

pub fn router(state: ApiState) -> Router {
    let cors = cors(&state.config);
    Router::new()
        .route("/healthz", get(openapi::health))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/", get(page::index))
        .route("/app.js", get(page::app_js))
        .route("/app.css", get(page::app_css))
        .route("/favicon.svg", get(page::favicon))
        .route("/styles/{file}", get(page::thumbnail))
        .route("/v1/styles", get(page::styles))
        .route("/v1/previews", post(previews::create))
        .route("/v1/order-tokens", post(tokens::create_order_token))
        .route(
            "/v1/previews/{id}",
            get(previews::show).delete(erase::erase),
        )
        .route("/v1/previews/{id}/cost", get(costs::preview_cost))
        .route("/v1/previews/{id}/webhooks", get(webhooks::attempts))
        .route("/v1/costs", get(costs::totals))
        .route("/v1/webhooks/secret", post(webhooks::create_secret))
        .route("/v1/webhooks/secret/rotate", post(webhooks::rotate_secret))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors)
        .with_state(state)
}

/// Browsers on the configured origins may call the routes a page uses, with
/// the `Authorization` header its tokens travel in; no other origin may. On
/// AWS, API Gateway answers with the same rules from the template
/// (`HttpApi.CorsConfiguration`, from the same `FrontendOrigin`).
fn cors(config: &ApiConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .frontend_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3000))
}
