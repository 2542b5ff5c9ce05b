//! A ready preview's portraits through `GET /v1/previews/{id}`: presigned GETs
//! with their expiry, size and format, and no object key outside a signed URL.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use likeness_api::{ApiConfig, ApiState, auth, router};
use likeness_core::ports::{Blobs, KeyScope, Previews, RandomIds, SystemClock};
use likeness_core::testing::MemoryBlobs;
use likeness_core::{Catalogue, Preview, TenantId};
use likeness_embedded::{SqliteCosts, SqliteDeliveries, SqliteRecords};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

async fn get(state: &ApiState, uri: &str, key: &str) -> (StatusCode, Value) {
    let request = Request::get(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every string in `v` that is not a `url` field's value.
fn strings_outside_urls<'a>(v: &'a Value, field: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) if field != "url" => out.push((field.to_owned(), s)),
        Value::Array(items) => items
            .iter()
            .for_each(|i| strings_outside_urls(i, field, out)),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, i)| strings_outside_urls(i, k, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_ready_preview_lists_presigned_urls_with_expiry_size_and_format_and_no_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let records = Arc::new(SqliteRecords::open(&db, Arc::new(SystemClock)).unwrap());
    let store = Arc::new(MemoryBlobs::default());
    let state = ApiState {
        previews: records.clone(),
        keys: records.clone(),
        blobs: store.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        catalogue: Arc::new(Catalogue::builtin()),
        config: ApiConfig::default(),
        deliveries: Arc::new(SqliteDeliveries::open(&db).unwrap()),
        costs: Arc::new(SqliteCosts::open(&db).unwrap()),
        tokens: Arc::new(likeness_api::tokens::Tokens::new(records.clone())),
        announce: None,
    };
    let key = auth::issue_key(
        &*records,
        &SystemClock,
        &TenantId::new("acme"),
        KeyScope::Tenant,
    )
    .await
    .unwrap();
    let other = auth::issue_key(
        &*records,
        &SystemClock,
        &TenantId::new("rival"),
        KeyScope::Tenant,
    )
    .await
    .unwrap();

    // A preview as finalize leaves it: results name the delivered objects by key.
    let id = "pv_0123456789abcdef0123456789abcdef";
    let keys = [
        (format!("previews/acme/{id}/oil-1.webp"), 48_213),
        (format!("previews/acme/{id}/oil-1.jpg"), 91_877),
        (format!("previews/acme/{id}/oil-2.webp"), 50_100),
        (format!("previews/acme/{id}/oil-2.jpg"), 95_002),
    ];
    for (k, len) in &keys {
        store.put(k, vec![0; *len], "image/webp").await.unwrap();
    }
    let now = chrono::Utc::now();
    let portrait = |n: usize| {
        json!({
            "webp": keys[2 * n].0, "jpeg": keys[2 * n + 1].0, "seed": 7 + n,
            "overall": 0.8, "flagged": false, "below": [], "scores": null
        })
    };
    let preview: Preview = serde_json::from_value(json!({
        "id": id, "tenant": "acme", "status": "ready", "subject": "person",
        "styles": ["oil"], "variations": 2,
        "upload": {"key": format!("uploads/acme/{id}/photo"), "content_type": "image/jpeg",
                   "content_length": 1000, "expires_at": now},
        "webhook_url": null, "consent": {"rights_to_photo": true},
        "created_at": now, "updated_at": now, "version": 6,
        "analysis": null, "rejection_reasons": [], "failure": null,
        "results": [{"style": "oil", "outcome": "passed", "attempts": 1, "note": "",
                     "previews": [portrait(0), portrait(1)]}],
        "expires_at": now + chrono::Duration::days(7)
    }))
    .expect("a ready preview record");
    records.create(&preview).await.unwrap();

    let (status, body) = get(&state, &format!("/v1/previews/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    let styles = body["results"].as_array().unwrap();
    assert_eq!(styles.len(), 1);
    assert_eq!(styles[0]["style"], "oil");
    let portraits = styles[0]["previews"].as_array().unwrap();
    assert_eq!(portraits.len(), 2);
    let ttl = ApiConfig::default().download_url_ttl_secs as i64;
    for (n, portrait) in portraits.iter().enumerate() {
        assert_eq!(portrait["index"], n + 1);
        let images = portrait["images"].as_array().unwrap();
        let formats: Vec<&str> = images
            .iter()
            .map(|i| i["format"].as_str().unwrap())
            .collect();
        assert_eq!(formats, ["webp", "jpeg"]);
        for (i, image) in images.iter().enumerate() {
            let (object, len) = &keys[2 * n + i];
            assert_eq!(image["bytes"], *len as u64);
            assert_eq!(
                image["content_type"],
                if i == 0 { "image/webp" } else { "image/jpeg" }
            );
            let url = image["url"].as_str().unwrap();
            assert!(
                url.contains(object) && url.contains("X-Amz-Signature"),
                "{url}"
            );
            // Short-lived, and the expiry is stated.
            let expires: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(image["expires_at"].clone()).unwrap();
            let left = (expires - chrono::Utc::now()).num_seconds();
            assert!(left > 0 && left <= ttl, "expires in {left} s");
            assert!(ttl <= 3600, "download URLs are short-lived");
        }
    }
    // No object key (and no bucket layout) anywhere but inside a signed URL.
    let mut strings = Vec::new();
    strings_outside_urls(&body, "", &mut strings);
    for (field, s) in strings {
        for prefix in ["previews/", "uploads/", "work/"] {
            assert!(!s.contains(prefix), "field {field} leaks a key: {s}");
        }
    }
    // Another tenant gets nothing presigned.
    let (status, _) = get(&state, &format!("/v1/previews/{id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
