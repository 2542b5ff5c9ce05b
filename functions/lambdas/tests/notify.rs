//! The notify function with the `Notify`/`NotifyFailed` payloads: the event is
//! stored and its first delivery queued once, however often the task runs.

mod common;

use common::{Stack, TENANT, WEBHOOKS_QUEUE, event, lambda_event};
use likeness_core::Status;
use likeness_core::ledger::Deliveries;
use likeness_core::ports::{Previews, Queue, SystemClock};
use likeness_core::preview::PreviewPatch;
use likeness_lambdas::notify::{Announcer, handle};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn announcer(stack: &Stack) -> Announcer {
    Announcer::new(
        stack.records.clone(),
        stack.costs.clone(),
        stack.blobs.clone(),
        stack.deliveries.clone(),
        stack.queue.clone(),
        Arc::new(SystemClock),
        WEBHOOKS_QUEUE,
    )
}

async fn queued(stack: &Stack) -> Vec<String> {
    stack
        .queue
        .receive(WEBHOOKS_QUEUE, 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn a_ready_preview_is_announced_once() {
    let stack = Stack::start().await;
    let judging = stack.preview_at(Status::Judging).await;
    let summary = event("notify-ready.json")["summary"]["styles"].clone();
    stack
        .records
        .transition(
            &judging.id,
            Status::Judging,
            Status::Ready,
            PreviewPatch {
                results: Some(summary),
                ..PreviewPatch::default()
            },
        )
        .await
        .unwrap();
    let announcer = announcer(&stack);

    let out = handle(&announcer, None, lambda_event(event("notify-ready.json")))
        .await
        .expect("announced");
    let webhook_id = out["webhook_id"].as_str().expect("a webhook id").to_owned();
    let again = handle(&announcer, None, lambda_event(event("notify-ready.json")))
        .await
        .expect("announced again");
    assert_eq!(again["webhook_id"], webhook_id.as_str());

    let stored = stack
        .deliveries
        .event(&webhook_id)
        .await
        .unwrap()
        .expect("the stored event");
    assert_eq!(stored.event_type, "preview.ready");
    assert_eq!(stored.url, "https://hooks.example.com/likeness");
    let body: serde_json::Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(body["type"], "preview.ready");
    // No attempt was made yet, so the second run queued the first attempt again
    // (an enqueue lost between the two runs must not lose the webhook); both
    // carry the same webhook-id, which receivers de-duplicate on.
    let jobs = queued(&stack).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for job in &jobs {
        let job: serde_json::Value = serde_json::from_str(job).unwrap();
        assert_eq!(job["webhook_id"], webhook_id.as_str());
        assert_eq!(job["attempt"], 1);
    }
}

#[tokio::test]
async fn a_failed_preview_is_announced_as_failed() {
    let stack = Stack::start().await;
    stack.preview_at(Status::Failed).await;
    let out = handle(
        &announcer(&stack),
        None,
        lambda_event(event("notify-failed.json")),
    )
    .await
    .expect("announced");
    let webhook_id = out["webhook_id"].as_str().expect("a webhook id");
    let stored = stack.deliveries.event(webhook_id).await.unwrap().unwrap();
    assert_eq!(stored.event_type, "preview.failed");
    assert_eq!(stored.tenant.as_str(), TENANT);
}

#[tokio::test]
async fn another_tenants_payload_is_refused() {
    let stack = Stack::start().await;
    stack.preview_at(Status::Failed).await;
    let mut payload = event("notify-failed.json");
    payload["tenant"] = json!("globex");
    let err = handle(&announcer(&stack), None, lambda_event(payload))
        .await
        .unwrap_err();
    assert_eq!(err.error, "Notify.WrongTenant");
    assert!(queued(&stack).await.is_empty());
}
