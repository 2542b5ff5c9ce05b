//! The notify function with the `Notify`/`NotifyFailed` payloads: the event is
//! stored and its first delivery queued once, however often the task runs.

mod common;

use common::{Stack, TENANT, WEBHOOKS_QUEUE, event};
use lambda_runtime::Diagnostic;
use likeness_core::Status;
use likeness_core::ledger::Deliveries;
use likeness_core::ports::{Previews, Queue};
use likeness_core::preview::PreviewPatch;
use likeness_core::tasks::NotifyTask;
use likeness_lambdas::task;
use likeness_notify::notify_task;
use serde_json::json;
use std::time::Duration;

async fn notify(
    stack: &Stack,
    payload: serde_json::Value,
) -> Result<serde_json::Value, Diagnostic> {
    let ports = stack.notify_ports();
    task::invoke("notify", payload, |t| notify_task::handle(&ports, t)).await
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
    let payload: NotifyTask = serde_json::from_value(event("notify-ready.json")).unwrap();
    let summary = payload.summary.expect("a summary").styles;
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
    let out = notify(&stack, event("notify-ready.json"))
        .await
        .expect("announced");
    let webhook_id = out["webhook_id"].as_str().expect("a webhook id").to_owned();
    let again = notify(&stack, event("notify-ready.json"))
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
    let out = notify(&stack, event("notify-failed.json"))
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
    let err = notify(&stack, payload).await.unwrap_err();
    assert_eq!(err.error_type, "Notify.WrongTenant");
    assert!(queued(&stack).await.is_empty());
}

#[tokio::test]
async fn an_unknown_event_type_is_a_bad_payload() {
    let stack = Stack::start().await;
    stack.preview_at(Status::Failed).await;
    let mut payload = event("notify-failed.json");
    payload["type"] = json!("preview.deleted");
    let err = notify(&stack, payload).await.unwrap_err();
    assert_eq!(err.error_type, "Task.BadPayload");
    assert!(queued(&stack).await.is_empty());
}
