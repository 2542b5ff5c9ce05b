//! The OpenAPI document: every route the router has is in it, everything in
//! it answers, and a maintained validator accepts it as OpenAPI 3.1.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use likeness_api::{openapi, router};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use tower::ServiceExt;

mod common;

/// The page's own files: served beside the API, not part of it.
const PAGE_FILES: [&str; 5] = ["/", "/app.js", "/app.css", "/favicon.svg", "/styles/{file}"];

/// Every `(method, path)` the router is built with, read from the router's
/// source: each `.route("path", get(..).post(..))` call.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/lib.rs");
    let mut routes = BTreeSet::new();
    for call in source.split(".route(").skip(1) {
        let path = call.split('"').nth(1).expect("a path literal");
        let handlers = &call[..call.find("\n        .").unwrap_or(call.len())];
        for method in ["get", "post", "put", "patch", "delete"] {
            if handlers.contains(&format!("{method}(")) {
                routes.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    assert!(
        routes.len() > 10,
        "the router's routes were not found: {routes:?}"
    );
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[test]
fn every_api_route_is_documented() {
    let doc = openapi::document();
    let documented = documented(&doc);
    let missing: Vec<_> = routes_in_source()
        .into_iter()
        .filter(|(_, path)| !PAGE_FILES.contains(&path.as_str()))
        .filter(|route| !documented.contains(route))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    for event in [
        "preview.ready",
        "preview.rejected",
        "preview.failed",
        "preview.erased",
    ] {
        assert!(doc["webhooks"][event]["post"].is_object(), "{event}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    for scheme in ["api_key", "order_token", "preview_token"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
}

#[tokio::test]
async fn every_documented_route_exists_and_the_document_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(&dir, None);
    for (method, path) in documented(&openapi::document()) {
        let uri = path.replace("{id}", "pv_00000000000000000000000000000000");
        let response = router(state.clone())
            .oneshot(
                Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        // Unauthenticated calls are refused, but by the route, not for want of one.
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&response.status())
                || response
                    .headers()
                    .get("content-type")
                    .is_some_and(|t| t == "application/json"),
            "{method} {uri}: {}",
            response.status()
        );
    }
    let served = router(state)
        .oneshot(
            Request::get("/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(served.into_body(), 1 << 22)
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(served, openapi::document());
    assert_eq!(served["openapi"], "3.1.0");
}

#[test]
fn a_maintained_validator_accepts_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&openapi::document()).unwrap(),
    )
    .unwrap();
    let output = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1.0"])
        .arg(&file)
        .output()
        .expect("python3 must be on PATH (scripts/test puts the test venv first)");
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
