//! The api function: the API Gateway HTTP API fixture through lambda_http's
//! adapter (what `lambda_http::run` does with each invocation) into the router.

mod common;

use common::{API_KEY, PREVIEW, Stack, TENANT, event, lambda_event};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use likeness_api::{ApiConfig, ApiState, auth};
use likeness_core::ports::{ApiKeyRecord, ApiKeys, KeyScope, Previews, RandomIds, SystemClock};
use likeness_core::{Catalogue, PreviewId, Status, TenantId};
use serde_json::Value;
use std::sync::Arc;

fn state(stack: &Stack) -> ApiState {
    ApiState {
        previews: stack.records.clone(),
        keys: stack.records.clone(),
        blobs: stack.blobs.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        catalogue: Arc::new(Catalogue::builtin()),
        config: ApiConfig::default(),
        deliveries: stack.deliveries.clone(),
        costs: stack.costs.clone(),
        tokens: Arc::new(likeness_api::tokens::Tokens::new(stack.records.clone())),
        announce: None,
    }
}

async fn invoke(stack: &Stack, fixture: Value) -> Value {
    let request: LambdaRequest = serde_json::from_value(fixture).expect("an API Gateway request");
    let mut adapter = Adapter::from(likeness_api::router(state(stack)));
    std::future::poll_fn(|cx| adapter.poll_ready(cx))
        .await
        .expect("router ready");
    let response = adapter
        .call(lambda_event(request))
        .await
        .expect("the router never errors");
    serde_json::to_value(response).expect("a serialisable Lambda response")
}

#[tokio::test]
async fn the_create_preview_request_returns_a_presigned_upload() {
    let stack = Stack::start().await;
    stack
        .records
        .put_key(&ApiKeyRecord {
            hash: auth::hash_key(API_KEY),
            tenant: TenantId::new(TENANT),
            scope: KeyScope::Tenant,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();

    let response = invoke(&stack, event("api-create-preview.json")).await;
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(response["isBase64Encoded"], false);
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body");
    assert_eq!(body["status"], "awaiting_upload");
    assert_eq!(body["upload"]["method"], "PUT");
    assert_eq!(body["upload"]["headers"]["content-length"], "279922");
    let id = PreviewId::new(body["id"].as_str().expect("an id"));
    assert_ne!(
        id.as_str(),
        PREVIEW,
        "ids are issued, never taken from the request"
    );
    let url = body["upload"]["url"].as_str().unwrap();
    assert!(
        url.contains(&format!("uploads/{TENANT}/{id}/photo")),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let stored = stack.records.get(&id).await.unwrap().expect("the order");
    assert_eq!(stored.status, Status::AwaitingUpload);
}

#[tokio::test]
async fn the_same_request_without_a_known_key_is_unauthorized() {
    let stack = Stack::start().await;
    let response = invoke(&stack, event("api-create-preview.json")).await;
    assert_eq!(response["statusCode"], 401, "{response}");
}
