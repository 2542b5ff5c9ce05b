//! The router over the embedded SQLite records, with an object store that only
//! presigns (uploads themselves are tested end to end against the real server).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use likeness_api::{ApiConfig, ApiState, auth, router};
use likeness_core::ports::{KeyScope, RandomIds, SystemClock};
use likeness_core::testing::MemoryBlobs;
use likeness_core::{Catalogue, PortError, TenantId};
use likeness_embedded::{SqliteCosts, SqliteDeliveries, SqliteRecords};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    state: ApiState,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite");
        let records = Arc::new(SqliteRecords::open(&db, Arc::new(SystemClock)).unwrap());
        let state = ApiState {
            previews: records.clone(),
            keys: records,
            blobs: Arc::new(MemoryBlobs::default()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            catalogue: Arc::new(Catalogue::builtin()),
            config: ApiConfig::default(),
            deliveries: Arc::new(SqliteDeliveries::open(&db).unwrap()),
            costs: Arc::new(SqliteCosts::open(&db).unwrap()),
        };
        Self { _dir: dir, state }
    }

    async fn key(&self, tenant: &str) -> String {
        auth::issue_key(
            &*self.state.keys,
            &SystemClock,
            &TenantId::new(tenant),
            KeyScope::Tenant,
        )
        .await
        .unwrap()
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(v) => {
                request = request.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = router(self.state.clone())
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn order() -> Value {
    json!({
        "subject": "person",
        "styles": ["watercolor", "oil"],
        "content_type": "image/jpeg",
        "content_length": 279922,
        "consent": {"rights_to_photo": true}
    })
}

#[tokio::test]
async fn an_order_returns_a_presigned_upload_for_the_tenants_key() {
    let fx = Fixture::new();
    let key = fx.key("acme").await;
    let (status, body) = fx
        .call("POST", "/v1/previews", Some(&key), Some(order()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "awaiting_upload");
    assert_eq!(body["upload"]["method"], "PUT");
    let id = body["id"].as_str().unwrap();
    assert!(
        body["upload"]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("uploads/acme/{id}/photo"))
    );
    assert_eq!(body["upload"]["headers"]["content-length"], "279922");
    let (status, shown) = fx
        .call("GET", &format!("/v1/previews/{id}"), Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["styles"], json!(["watercolor", "oil"]));
    assert_eq!(shown["variations"], 3);
}

#[tokio::test]
async fn no_key_or_a_wrong_key_is_unauthorized() {
    let fx = Fixture::new();
    let _ = fx.key("acme").await;
    let (status, body) = fx.call("POST", "/v1/previews", None, Some(order())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = format!("lk_{}", "0".repeat(64));
    let (status, _) = fx
        .call("POST", "/v1/previews", Some(&wrong), Some(order()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = fx
        .call("GET", "/v1/previews/pv_0", Some("garbage"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_tenants_preview_is_not_found() {
    let fx = Fixture::new();
    let a = fx.key("tenant-a").await;
    let b = fx.key("tenant-b").await;
    let (_, body) = fx
        .call("POST", "/v1/previews", Some(&a), Some(order()))
        .await;
    let id = body["id"].as_str().unwrap();
    let (status, body) = fx
        .call("GET", &format!("/v1/previews/{id}"), Some(&b), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = fx
        .call("GET", &format!("/v1/previews/{id}"), Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bad_orders_get_specific_errors() {
    let fx = Fixture::new();
    let key = fx.key("acme").await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"consent": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "consent_required",
        ),
        (
            json!({"consent": {"rights_to_photo": false}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "consent_required",
        ),
        (
            json!({"styles": ["vaporwave"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_style",
        ),
        (
            json!({"styles": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_styles",
        ),
        (
            json!({"subject": "robot"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_subject",
        ),
        (
            json!({"content_type": "image/heic"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_content_type",
        ),
        (
            json!({"content_length": 26 * 1024 * 1024}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            json!({"content_length": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_content_length",
        ),
        (
            json!({"variations": 99}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_variations",
        ),
        (
            json!({"webhook_url": "ftp://x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_webhook_url",
        ),
    ];
    for (change, status, code) in cases {
        let mut body = order();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (got, answer) = fx
            .call("POST", "/v1/previews", Some(&key), Some(body))
            .await;
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{change}"
        );
    }
    let response = router(fx.state.clone())
        .oneshot(
            Request::post("/v1/previews")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenant_names_are_checked_when_keys_are_issued() {
    let fx = Fixture::new();
    let bad = auth::issue_key(
        &*fx.state.keys,
        &SystemClock,
        &TenantId::new("../etc"),
        KeyScope::Tenant,
    )
    .await;
    assert!(matches!(bad, Err(PortError::Invalid(_))));
}

#[tokio::test]
async fn webhook_urls_are_validated_at_order_time_with_the_problem_named() {
    let mut fx = Fixture::new();
    fx.state.config.webhooks_require_https = true;
    fx.state.config.webhooks_allow_private = false;
    let key = fx.key("acme").await;
    let long = format!("https://hooks.example.com/{}", "a".repeat(32 * 1024));
    let just_over = format!("https://hooks.example.com/{}", "a".repeat(2049 - 26));
    let cases: Vec<(&str, &str)> = vec![
        ("http://", "not a valid URL"),
        ("http://[::1", "not a valid URL"),
        ("not a url", "not a valid URL"),
        (
            "https://user:secret@hooks.example.com/x",
            "user name or password",
        ),
        ("https://user@hooks.example.com/x", "user name or password"),
        (&long, "at most 2048"),
        (&just_over, "at most 2048"),
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://hooks.example.com/x", "not `ftp:`"),
        ("https://hooks.example.com:22/x", "port 22"),
        ("https://hooks.example.com:0/x", "port 0"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://[64:ff9b::7f00:1]/x", "loopback"),
        ("https://169.254.169.254/latest", "cloud metadata"),
        ("https://localhost/x", "localhost"),
        ("https://intranet/x", "not a public domain"),
        ("https://hooks.example.com/x#frag", "fragment"),
        (" https://hooks.example.com/x", "spaces"),
    ];
    for (url, words) in cases {
        let mut body = order();
        body["webhook_url"] = json!(url);
        let (status, answer) = fx
            .call("POST", "/v1/previews", Some(&key), Some(body))
            .await;
        let shown: String = url.chars().take(60).collect();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{shown}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "invalid_webhook_url", "{shown}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{shown}: {message}");
        assert!(message.len() < 300, "the message echoes no huge URL");
    }
    for url in [
        "https://hooks.example.com/likeness",
        "https://hooks.example.com:8443/likeness?t=1",
        &format!("https://hooks.example.com/{}", "a".repeat(2048 - 26)),
    ] {
        let mut body = order();
        body["webhook_url"] = json!(url);
        let (status, answer) = fx
            .call("POST", "/v1/previews", Some(&key), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {answer}");
    }
    // A 1 MB URL does not even get read: the body is over the API's limit.
    let mut body = order();
    body["webhook_url"] = json!(format!("https://hooks.example.com/{}", "a".repeat(1 << 20)));
    let (status, answer) = fx
        .call("POST", "/v1/previews", Some(&key), Some(body))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"]["code"], "too_large");
    // One machine posts to loopback receivers over http, on any port.
    fx.state.config = ApiConfig::default();
    let mut body = order();
    body["webhook_url"] = json!("http://127.0.0.1:9/hooks");
    let (status, _) = fx
        .call("POST", "/v1/previews", Some(&key), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut body = order();
    body["webhook_url"] = json!("http://");
    let (status, _) = fx
        .call("POST", "/v1/previews", Some(&key), Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
