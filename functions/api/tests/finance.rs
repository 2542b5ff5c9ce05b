//! Cost reports and webhook secrets through the router, over embedded SQLite.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use likeness_api::{ApiConfig, ApiState, auth, router};
use likeness_core::cost::{PriceTable, StageUnits};
use likeness_core::ledger::{Deliveries, MeteredPreview, StageMeter};
use likeness_core::ports::{KeyScope, RandomIds, SystemClock};
use likeness_core::testing::MemoryBlobs;
use likeness_core::{Catalogue, PreviewId, StyleId, TenantId};
use likeness_embedded::{SqliteCosts, SqliteDeliveries, SqliteRecords};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    state: ApiState,
    deliveries: Arc<SqliteDeliveries>,
    meter: StageMeter,
}

async fn send(
    state: ApiState,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"));
    let body = match body {
        Some(v) => {
            request = request.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = router(state)
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
    )
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite");
        let records = Arc::new(SqliteRecords::open(&db, Arc::new(SystemClock)).unwrap());
        let deliveries = Arc::new(SqliteDeliveries::open(&db).unwrap());
        let costs = Arc::new(SqliteCosts::open(&db).unwrap());
        let meter = StageMeter::new(
            costs.clone(),
            Arc::new(PriceTable::builtin()),
            Arc::new(SystemClock),
        );
        let state = ApiState {
            previews: records.clone(),
            keys: records.clone(),
            blobs: Arc::new(MemoryBlobs::default()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            catalogue: Arc::new(Catalogue::builtin()),
            config: ApiConfig::default(),
            deliveries: deliveries.clone(),
            costs,
            tokens: Arc::new(likeness_api::tokens::Tokens::new(records.clone())),
            announce: None,
        };
        Self {
            _dir: dir,
            state,
            deliveries,
            meter,
        }
    }

    async fn key(&self, tenant: &str, scope: KeyScope) -> String {
        auth::issue_key(
            &*self.state.keys,
            &SystemClock,
            &TenantId::new(tenant),
            scope,
        )
        .await
        .unwrap()
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, body, _) = self.call_full(method, uri, key, body).await;
        (status, body)
    }

    /// Status, JSON body and `Retry-After`.
    async fn call_full(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        send(self.state.clone(), method, uri, key, body).await
    }

    /// Order a preview through the API and meter two stages for it.
    async fn metered_preview(&self, key: &str, tenant: &str) -> PreviewId {
        let order = json!({
            "subject": "person", "styles": ["watercolor", "oil"], "content_type": "image/jpeg",
            "content_length": 1000, "consent": {"rights_to_photo": true}
        });
        let (status, body) = self.call("POST", "/v1/previews", key, Some(order)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = PreviewId::new(body["id"].as_str().unwrap());
        let preview = MeteredPreview {
            id: id.clone(),
            tenant: TenantId::new(tenant),
            styles: vec![StyleId::new("watercolor"), StyleId::new("oil")],
        };
        let glue = StageUnits {
            lambda_ms: 800,
            memory_mb: 512,
            lambda_requests: 1,
            state_transitions: 3,
            ..Default::default()
        };
        self.meter
            .record_stage(&preview, "analyze", 0, None, &glue)
            .await
            .unwrap();
        let render = StageUnits {
            gpu_seconds: 12.5,
            s3_put: 2,
            ..Default::default()
        };
        self.meter
            .record_stage(&preview, "render", 0, Some(&StyleId::new("oil")), &render)
            .await
            .unwrap();
        id
    }
}

#[tokio::test]
async fn a_preview_cost_is_its_lines_and_their_sum_for_its_tenant_only() {
    let fx = Fixture::new();
    let a = fx.key("tenant-a", KeyScope::Tenant).await;
    let b = fx.key("tenant-b", KeyScope::Tenant).await;
    let id = fx.metered_preview(&a, "tenant-a").await;
    let (status, body) = fx
        .call("GET", &format!("/v1/previews/{id}/cost"), &a, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["lines"].as_array().unwrap();
    let stages: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages.into_iter().collect::<Vec<_>>(),
        ["analyze", "render"]
    );
    let sum: f64 = lines.iter().map(|l| l["usd"].as_f64().unwrap()).sum();
    assert!((body["total_usd"].as_f64().unwrap() - sum).abs() < 1e-15);
    assert!(sum > 0.0);
    assert_eq!(
        body["price_table_versions"],
        json!([PriceTable::builtin().version])
    );
    let (status, body) = fx
        .call("GET", &format!("/v1/previews/{id}/cost"), &b, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn cost_reports_need_a_finance_key_and_group_by_style_and_tenant() {
    let fx = Fixture::new();
    let a = fx.key("tenant-a", KeyScope::Tenant).await;
    let b = fx.key("tenant-b", KeyScope::Tenant).await;
    let finance = fx.key("finance", KeyScope::Finance).await;
    fx.metered_preview(&a, "tenant-a").await;
    fx.metered_preview(&b, "tenant-b").await;
    let (status, body) = fx.call("GET", "/v1/costs?group_by=tenant", &a, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");

    let (status, body) = fx
        .call("GET", "/v1/costs?group_by=tenant", &finance, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: Vec<&str> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["tenant-a", "tenant-b"]);

    let (_, body) = fx
        .call("GET", "/v1/costs?group_by=style", &finance, None)
        .await;
    let groups = body["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["oil", "watercolor"]);
    let sum: f64 = groups.iter().map(|g| g["usd"].as_f64().unwrap()).sum();
    assert!((sum - body["total_usd"].as_f64().unwrap()).abs() < 1e-12);
    assert!(
        groups[0]["usd"].as_f64() > groups[1]["usd"].as_f64(),
        "oil carries the GPU"
    );

    let (status, body) = fx
        .call("GET", "/v1/costs?group_by=week", &finance, None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_group_by"))
    );
    let (status, body) = fx
        .call("GET", "/v1/costs?from=2099-01-01", &finance, None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_range"))
    );
    let (_, body) = fx
        .call(
            "GET",
            "/v1/costs?from=2000-01-01&to=2000-01-31",
            &finance,
            None,
        )
        .await;
    assert_eq!(body["groups"], json!([]));
}

#[tokio::test]
async fn secrets_are_created_and_rotated_with_a_grace_period() {
    let fx = Fixture::new();
    let a = fx.key("tenant-a", KeyScope::Tenant).await;
    let (status, first) = fx.call("POST", "/v1/webhooks/secret", &a, None).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["secret"].as_str().unwrap().to_owned();
    assert!(first.starts_with("whsec_"));
    let (status, rotated) = fx
        .call(
            "POST",
            "/v1/webhooks/secret/rotate",
            &a,
            Some(json!({"grace_hours": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let tenant = TenantId::new("tenant-a");
    let live: Vec<String> = fx
        .deliveries
        .live_secrets(&tenant, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.secret)
        .collect();
    assert_eq!(
        live,
        [
            rotated["secret"].as_str().unwrap().to_owned(),
            first.clone()
        ]
    );
    let later = Utc::now() + chrono::Duration::hours(3);
    assert_eq!(
        fx.deliveries
            .live_secrets(&tenant, later)
            .await
            .unwrap()
            .len(),
        1
    );

    // Replacing retires every earlier secret at once.
    let (_, replaced) = fx.call("POST", "/v1/webhooks/secret", &a, None).await;
    let live = fx
        .deliveries
        .live_secrets(&tenant, Utc::now())
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].secret, replaced["secret"].as_str().unwrap());

    let (status, body) = fx
        .call(
            "POST",
            "/v1/webhooks/secret/rotate",
            &a,
            Some(json!({"grace_hours": 1000})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_grace"))
    );
    let finance = fx.key("finance", KeyScope::Finance).await;
    let (status, _) = fx.call("POST", "/v1/webhooks/secret", &finance, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn key_scopes_a_finance_key_cannot_order_and_a_tenant_key_reads_only_its_own_costs() {
    let fx = Fixture::new();
    let a = fx.key("tenant-a", KeyScope::Tenant).await;
    let b = fx.key("tenant-b", KeyScope::Tenant).await;
    let finance = fx.key("finance", KeyScope::Finance).await;
    let id_a = fx.metered_preview(&a, "tenant-a").await;
    let id_b = fx.metered_preview(&b, "tenant-b").await;

    // A finance key orders nothing, whatever tenant it was issued under.
    let order = json!({
        "subject": "person", "styles": ["oil"], "content_type": "image/jpeg",
        "content_length": 1000, "consent": {"rights_to_photo": true}
    });
    let (status, body) = fx.call("POST", "/v1/previews", &finance, Some(order)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Finance keys")
    );
    // Nor does it read previews or their webhook deliveries: costs only.
    for path in [
        format!("/v1/previews/{id_a}"),
        format!("/v1/previews/{id_a}/webhooks"),
    ] {
        let (status, _) = fx.call("GET", &path, &finance, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // It reads any tenant's preview cost.
    for id in [&id_a, &id_b] {
        let (status, body) = fx
            .call("GET", &format!("/v1/previews/{id}/cost"), &finance, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // An ordering key reads its own tenant's costs and nobody else's.
    let (status, _) = fx
        .call("GET", &format!("/v1/previews/{id_a}/cost"), &a, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = fx
        .call("GET", &format!("/v1/previews/{id_b}/cost"), &a, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for path in [
        "/v1/costs",
        "/v1/costs?group_by=tenant",
        "/v1/costs?group_by=style",
    ] {
        let (status, _) = fx.call("GET", path, &a, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // Malformed and unknown ids are the same 404 for everyone.
    for key in [&a, &finance] {
        for id in ["nope", "pv_00000000000000000000000000000000"] {
            let (status, _) = fx
                .call("GET", &format!("/v1/previews/{id}/cost"), key, None)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        }
    }
}

#[tokio::test]
async fn tenant_limits_answer_429_with_retry_after_per_tenant() {
    use likeness_api::limits::TenantLimits;
    let mut fx = Fixture::new();
    fx.state.config.limits.default = TenantLimits {
        max_in_flight: 100,
        orders_per_minute: 3,
        gpu_seconds_per_day: 1e9,
    };
    fx.state.config.limits.tenants.insert(
        TenantId::new("big"),
        TenantLimits {
            max_in_flight: 100,
            orders_per_minute: 10,
            gpu_seconds_per_day: 1e9,
        },
    );
    let a = fx.key("tenant-a", KeyScope::Tenant).await;
    let b = fx.key("tenant-b", KeyScope::Tenant).await;
    let big = fx.key("big", KeyScope::Tenant).await;
    let order = json!({
        "subject": "person", "styles": ["oil"], "content_type": "image/jpeg",
        "content_length": 1000, "consent": {"rights_to_photo": true}
    });

    // A burst from one tenant: the first three pass, every later one is 429,
    // all at once and concurrently.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (state, key, order) = (fx.state.clone(), a.clone(), order.clone());
        burst.spawn(async move { send(state, "POST", "/v1/previews", &key, Some(order)).await });
    }
    let answers = burst.join_all().await;
    let created = answers
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3);
    for (status, body, retry_after) in answers.iter().filter(|r| r.0 != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("per minute")
        );
        let secs: u64 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
    }
    // Another tenant is not affected, and a tenant with its own limits has them.
    let (status, _) = fx
        .call("POST", "/v1/previews", &b, Some(order.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for _ in 0..10 {
        let (status, _) = fx
            .call("POST", "/v1/previews", &big, Some(order.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = fx
        .call("POST", "/v1/previews", &big, Some(order.clone()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // In flight: previews not yet final count; the limit names itself.
    fx.state.config.limits.default = TenantLimits {
        max_in_flight: 2,
        orders_per_minute: 100,
        gpu_seconds_per_day: 1e9,
    };
    let c = fx.key("tenant-c", KeyScope::Tenant).await;
    for _ in 0..2 {
        let (status, _) = fx
            .call("POST", "/v1/previews", &c, Some(order.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body, retry_after) = fx
        .call_full("POST", "/v1/previews", &c, Some(order.clone()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in progress")
    );
    assert_eq!(retry_after.as_deref(), Some("30"));

    // GPU-seconds per day: tenant-d's metered preview used 12.5 s of a 10 s allowance.
    fx.state.config.limits.default = TenantLimits {
        max_in_flight: 100,
        orders_per_minute: 100,
        gpu_seconds_per_day: 10.0,
    };
    let d = fx.key("tenant-d", KeyScope::Tenant).await;
    fx.metered_preview(&d, "tenant-d").await;
    let (status, body, retry_after) = fx
        .call_full("POST", "/v1/previews", &d, Some(order.clone()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("GPU"));
    let secs: i64 = retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&secs));
    // Tenant-b's GPU use is its own.
    let (status, _) = fx.call("POST", "/v1/previews", &b, Some(order)).await;
    assert_eq!(status, StatusCode::CREATED);
}
