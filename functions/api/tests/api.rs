//! The router over the embedded SQLite records, with an object store that only
//! presigns (uploads themselves are tested end to end against the real server).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use likeness_api::{ApiConfig, ApiState, auth, router};
use likeness_core::ports::{KeyScope, SystemClock};
use likeness_core::{PortError, TenantId};
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;

struct Fixture {
    _dir: tempfile::TempDir,
    state: ApiState,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = common::state(&dir, None);
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

/// What a page does: its backend gets an order token with the API key, the
/// page orders with the token and then reads with the preview token only.
async fn order_with_token(fx: &Fixture, key: &str, limits: Option<Value>) -> (String, Value) {
    let (status, issued) = fx.call("POST", "/v1/order-tokens", Some(key), limits).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["order_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lkt1."));
    (token, issued)
}

#[tokio::test]
async fn an_order_token_orders_one_preview_and_its_preview_token_reads_only_that_one() {
    let fx = Fixture::new();
    let key = fx.key("acme").await;
    let (order_token, issued) = order_with_token(&fx, &key, None).await;
    let (status, body) = fx
        .call("POST", "/v1/previews", Some(&order_token), Some(order()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        id, issued["preview_id"],
        "the token reserved the preview's id"
    );
    let preview_token = body["preview_token"].as_str().unwrap().to_owned();
    assert!(body["preview_token_expires_at"].is_string());

    // Single use, even for an order that would otherwise pass.
    let (status, again) = fx
        .call("POST", "/v1/previews", Some(&order_token), Some(order()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "order_token_used");

    // The preview token reads its preview, and nothing else.
    let (status, shown) = fx
        .call(
            "GET",
            &format!("/v1/previews/{id}"),
            Some(&preview_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["status"], "awaiting_upload");
    let (_, other) = fx
        .call("POST", "/v1/previews", Some(&key), Some(order()))
        .await;
    let other_id = other["id"].as_str().unwrap();
    let (status, _) = fx
        .call(
            "GET",
            &format!("/v1/previews/{other_id}"),
            Some(&preview_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (method, uri, body) in [
        ("POST", "/v1/order-tokens".to_owned(), None),
        ("GET", "/v1/costs".to_owned(), None),
        ("GET", format!("/v1/previews/{id}/cost"), None),
        ("GET", format!("/v1/previews/{id}/webhooks"), None),
        ("POST", "/v1/webhooks/secret".to_owned(), None),
    ] {
        for token in [&order_token, &preview_token] {
            let (status, refused) = fx.call(method, &uri, Some(token), body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {refused}");
        }
    }
    // Each token is good for its own purpose only.
    let (status, _) = fx
        .call("POST", "/v1/previews", Some(&preview_token), Some(order()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = fx
        .call(
            "GET",
            &format!("/v1/previews/{id}"),
            Some(&order_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A token with one character changed is refused.
    let mut tampered = preview_token.clone().into_bytes();
    let at = tampered.len() - 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = fx
        .call("GET", &format!("/v1/previews/{id}"), Some(&tampered), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_token");
}

#[tokio::test]
async fn an_order_token_never_allows_more_than_the_tenant_asked_for() {
    let fx = Fixture::new();
    let key = fx.key("acme").await;
    let (token, _) = order_with_token(
        &fx,
        &key,
        Some(json!({"max_styles": 1, "max_variations": 2, "ttl_secs": 120})),
    )
    .await;
    let (status, body) = fx
        .call("POST", "/v1/previews", Some(&token), Some(order()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "too_many_styles");
    let mut one_style = order();
    one_style["styles"] = json!(["oil"]);
    one_style["variations"] = json!(3);
    let (_, body) = fx
        .call(
            "POST",
            "/v1/previews",
            Some(&token),
            Some(one_style.clone()),
        )
        .await;
    assert_eq!(body["error"]["code"], "invalid_variations");
    one_style.as_object_mut().unwrap().remove("variations");
    let (status, body) = fx
        .call("POST", "/v1/previews", Some(&token), Some(one_style))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, shown) = fx
        .call(
            "GET",
            &format!("/v1/previews/{}", body["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["variations"], 2, "the default is capped by the token");

    for bad in [
        json!({"ttl_secs": 0}),
        json!({"ttl_secs": 86400}),
        json!({"max_styles": 0}),
        json!({"styles": 3}),
    ] {
        let (status, body) = fx
            .call("POST", "/v1/order-tokens", Some(&key), Some(bad.clone()))
            .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
}

#[tokio::test]
async fn erasing_deletes_the_photo_and_everything_made_from_it_and_can_be_repeated() {
    use likeness_core::keys;
    let fx = Fixture::new();
    let key = fx.key("acme").await;
    let (token, _) = order_with_token(&fx, &key, None).await;
    let (_, body) = fx
        .call("POST", "/v1/previews", Some(&token), Some(order()))
        .await;
    let id = likeness_core::PreviewId::new(body["id"].as_str().unwrap());
    let preview_token = body["preview_token"].as_str().unwrap().to_owned();
    let (_, other) = fx
        .call("POST", "/v1/previews", Some(&key), Some(order()))
        .await;
    let other = likeness_core::PreviewId::new(other["id"].as_str().unwrap());
    let tenant = TenantId::new("acme");
    let objects = |id: &likeness_core::PreviewId| {
        [
            keys::upload(&tenant, id),
            format!("{}candidates/oil/0.png", keys::work_prefix(id)),
            format!("{}oil/1.webp", keys::delivered_prefix(&tenant, id)),
        ]
    };
    for k in objects(&id).iter().chain(objects(&other).iter()) {
        fx.state
            .blobs
            .put(k, vec![1, 2, 3], "image/png")
            .await
            .unwrap();
    }

    for _ in 0..2 {
        let (status, body) = fx
            .call(
                "DELETE",
                &format!("/v1/previews/{id}"),
                Some(&preview_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"id": id, "status": "erased"}));
    }
    for k in objects(&id) {
        assert!(
            matches!(fx.state.blobs.get(&k).await, Err(PortError::NotFound(_))),
            "{k} survived the erasure"
        );
    }
    for k in objects(&other) {
        assert!(
            fx.state.blobs.get(&k).await.is_ok(),
            "{k} of another preview was deleted"
        );
    }
    let (status, shown) = fx
        .call(
            "GET",
            &format!("/v1/previews/{id}"),
            Some(&preview_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], "erased");
    assert_eq!(shown["results"], Value::Null);
    assert_eq!(shown["analysis"], Value::Null);
    // The tenant's backend may erase with its key too; another tenant may not.
    let stranger = fx.key("globex").await;
    let (status, _) = fx
        .call(
            "DELETE",
            &format!("/v1/previews/{other}"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fx
        .call(
            "DELETE",
            &format!("/v1/previews/{other}"),
            Some(&preview_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fx
        .call("DELETE", &format!("/v1/previews/{other}"), Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn browsers_on_the_configured_origins_only_get_cors_answers() {
    let mut fx = Fixture::new();
    fx.state.config.frontend_origins = vec!["https://shop.example".to_owned()];
    let preflight = |origin: &'static str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v1/previews")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let allowed = router(fx.state.clone())
        .oneshot(preflight("https://shop.example"))
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    for method in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let refused = router(fx.state.clone())
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
