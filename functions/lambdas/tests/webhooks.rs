//! The webhooks function with the SQS fixture: the queued first attempt of the
//! fixture preview's `preview.ready` event is signed and delivered to the
//! tenant's endpoint; a job for an event that does not exist is dead-lettered
//! (not retried), and neither fails the batch.

mod common;

use aws_lambda_events::event::sqs::SqsEvent;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Stack, WEBHOOKS_DLQ, WEBHOOKS_QUEUE, event, lambda_event, order};
use likeness_core::Status;
use likeness_core::ledger::{AttemptOutcome, Deliveries, EndpointSecret};
use likeness_core::ports::{Announce, Previews, Queue, SystemClock};
use likeness_core::preview::PreviewPatch;
use likeness_lambdas::webhooks::handle;
use likeness_notify::{Notifier, NotifyConfig, TargetPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<HeaderMap>>>;

/// A tenant endpoint on loopback that answers 204 and keeps the headers.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(headers);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn the_queued_attempt_is_delivered_and_a_dangling_job_dead_lettered() {
    let stack = Stack::start().await;
    let (url, received) = receiver().await;
    let mut preview = order();
    preview.webhook_url = Some(url);
    let judging = stack.store_at(preview, Status::Judging).await;
    stack
        .records
        .transition(
            &judging.id,
            Status::Judging,
            Status::Ready,
            PreviewPatch {
                results: Some(
                    serde_json::from_value(event("notify-ready.json")["summary"]["styles"].clone())
                        .unwrap(),
                ),
                ..PreviewPatch::default()
            },
        )
        .await
        .unwrap();
    stack
        .deliveries
        .put_secret(&EndpointSecret::generate(
            &judging.tenant,
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
    let announcer = stack.announcer();
    let webhook_id = announcer.announce(&judging.id).await.unwrap().unwrap();
    let sqs: SqsEvent = serde_json::from_value(event("webhooks-sqs-delivery.json")).unwrap();
    assert!(
        sqs.records[0]
            .body
            .as_deref()
            .unwrap()
            .contains(&webhook_id),
        "the fixture's job is this preview's preview.ready event"
    );

    // Loopback and plain http are allowed here only; production refuses both.
    let config = NotifyConfig {
        queue: WEBHOOKS_QUEUE.into(),
        dead_letter_queue: WEBHOOKS_DLQ.into(),
        policy: TargetPolicy {
            allow_private_targets: true,
            require_https: false,
        },
        ..NotifyConfig::production()
    };
    let notifier = Notifier::new(
        stack.deliveries.clone(),
        stack.queue.clone(),
        Arc::new(SystemClock),
        config,
    );
    let response = handle(&notifier, &*stack.queue, lambda_event(sqs)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );

    let headers = received.lock().unwrap().clone();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0]["webhook-id"], webhook_id.as_str());
    assert!(
        headers[0]["webhook-signature"]
            .to_str()
            .unwrap()
            .starts_with("v1,")
    );
    let attempts = stack.deliveries.attempts_for(&judging.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Delivered);
    let dead = stack
        .queue
        .receive(WEBHOOKS_DLQ, 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .body
            .contains("msg_00000000000000000000000000000000")
    );
}
