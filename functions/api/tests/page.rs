//! The order page as the router serves it: the assets, the headers a browser
//! is held to, the public style list, and the storefront's order token.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use likeness_api::{ApiState, page, router};
use likeness_core::{Catalogue, TenantId};
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;
use common::state;

async fn get(
    state: &ApiState,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The content of `<meta name="likeness-order-token" content="...">`, if any.
fn order_token(html: &str) -> Option<String> {
    let start = html.find("<meta name=\"likeness-order-token\" content=\"")?;
    let rest = &html[start + "<meta name=\"likeness-order-token\" content=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[tokio::test]
async fn the_storefront_page_carries_a_fresh_order_token_that_orders_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir, Some("web"));
    let (status, headers, body) = get(&state, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    let csp = header(&headers, "content-security-policy");
    assert!(
        csp.contains("connect-src 'self' https://blobs.test;"),
        "{csp}"
    );
    assert!(
        csp.contains("img-src 'self' https://blobs.test blob:;"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let html = String::from_utf8(body).unwrap();
    assert!(!html.contains("<!--likeness:"), "a slot was left unfilled");
    assert!(html.contains("<script type=\"application/json\" id=\"score-words\">"));

    let token = order_token(&html).expect("the page has an order token");
    let (_, _, again) = get(&state, "/", &[]).await;
    let second = order_token(&String::from_utf8(again).unwrap()).unwrap();
    assert_ne!(token, second, "every load brings its own token");

    let order = json!({
        "subject": "person", "styles": ["oil"], "content_type": "image/jpeg",
        "content_length": 1000, "consent": {"rights_to_photo": true},
    });
    let post = |token: String| {
        let state = state.clone();
        let order = order.clone();
        async move {
            let response = router(state)
                .oneshot(
                    Request::post("/v1/previews")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(Body::from(order.to_string()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, created) = post(token.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let preview = state
        .previews
        .get(&likeness_core::PreviewId::new(
            created["id"].as_str().unwrap(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(preview.tenant, TenantId::new("web"));
    let (status, _) = post(token).await;
    assert_eq!(status, StatusCode::CONFLICT, "an order token orders once");
}

#[tokio::test]
async fn without_a_storefront_the_page_has_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, body) = get(&state(&dir, None), "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order_token(&String::from_utf8(body).unwrap()), None);
}

#[tokio::test]
async fn assets_have_their_types_and_are_revalidated_by_etag() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir, None);
    for (uri, content_type, body) in [
        ("/app.js", "text/javascript; charset=utf-8", page::APP_JS),
        ("/app.css", "text/css; charset=utf-8", page::APP_CSS),
        ("/favicon.svg", "image/svg+xml", page::FAVICON_SVG),
    ] {
        let (status, headers, bytes) = get(&state, uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(header(&headers, "content-type"), content_type);
        assert_eq!(header(&headers, "cache-control"), "no-cache");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert_eq!(bytes, body.as_bytes());
        let etag = header(&headers, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let (status, _, bytes) = get(&state, uri, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(bytes.is_empty());
        let (status, _, _) = get(&state, uri, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_style_list_is_public_and_every_thumbnail_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir, None);
    let (status, headers, body) = get(&state, "/v1/styles", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "cache-control"), "public, max-age=300");
    let styles: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let catalogue = Catalogue::builtin();
    assert_eq!(styles.len(), catalogue.styles.len());
    for (card, style) in styles.iter().zip(&catalogue.styles) {
        assert_eq!(card["id"], style.id.as_str());
        assert_eq!(card["name"], style.name.as_str());
        assert_eq!(card["description"], style.description.as_str());
        // Only what a shop shows: no prompts, no engine or QA parameters.
        assert_eq!(card.as_object().unwrap().len(), 4);
        let (status, headers, jpeg) =
            get(&state, card["thumbnail_url"].as_str().unwrap(), &[]).await;
        assert_eq!(status, StatusCode::OK, "{card}");
        assert_eq!(header(&headers, "content-type"), "image/jpeg");
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff]);
    }
    for missing in ["/styles/nope.jpg", "/styles/oil.png", "/styles/oil"] {
        let (status, _, _) = get(&state, missing, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
}
