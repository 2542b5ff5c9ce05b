//! Faults the pipeline must survive: duplicate events, a worker that dies
//! mid-task, a judge that throws, and a restart in the middle of an execution.

use likeness_core::ports::Queue;
use likeness_core::{Catalogue, Status};
use likeness_e2e::{Service, photo, quick_options};
use likeness_workflow::ExecutionStatus;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

fn order() -> serde_json::Value {
    json!({"subject": "person", "styles": ["oil"], "variations": 2, "content_type": "image/jpeg"})
}

async fn wait_for_message(service: &Service, queue: &str) {
    for _ in 0..600 {
        if service.pipeline.stack.queue.depth(queue).await.unwrap() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing arrived on {queue}");
}

/// Bring up a render worker (the service was started without one) and wait
/// for the preview to end.
async fn finish_with_a_worker(
    service: &Service,
    id: &likeness_core::PreviewId,
) -> likeness_core::Preview {
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = {
        let (render, stop) = (service.pipeline.render.clone(), stop.clone());
        tokio::spawn(async move { render.run(stop).await })
    };
    let preview = service.wait_final(id, LIMIT).await;
    stop.cancel();
    worker.await.unwrap();
    preview
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_upload_event_starts_one_execution() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick_options();
    options.render_workers = 0;
    let service = Service::start(dir.path(), options).await.unwrap();
    let id = service.submit(&photo("obama.jpg"), order()).await.unwrap();
    // The execution has started once the render task is waiting; then S3 delivers the event twice more.
    wait_for_message(&service, "render").await;
    let queue = &service.pipeline.stack.queue;
    let event = likeness_core::s3_event::S3EventRecord::object_created_put(
        "us-east-1",
        "likeness",
        &format!("uploads/acme/{id}/photo"),
        photo("obama.jpg").len() as u64,
        "etag",
        "02",
        chrono::Utc::now(),
    );
    let body = serde_json::to_string(&likeness_core::s3_event::S3EventNotification {
        records: vec![event],
        event: None,
    })
    .unwrap();
    queue.send("uploads", &body, Duration::ZERO).await.unwrap();
    queue.send("uploads", &body, Duration::ZERO).await.unwrap();
    while queue.depth("uploads").await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = service.pipeline.runner.states_entered(id.as_str()).unwrap();
    assert_eq!(
        started.iter().filter(|s| *s == "Configure").count(),
        1,
        "{started:?}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_mid_task_is_replaced_once_its_message_reappears() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick_options();
    options.render_workers = 0;
    let service = Service::start(dir.path(), options).await.unwrap();
    let id = service.submit(&photo("obama.jpg"), order()).await.unwrap();
    wait_for_message(&service, "render").await;
    // A worker takes the task as every worker does, and dies: it never extends
    // the message's visibility, answers or deletes it.
    let taken = service
        .pipeline
        .stack
        .queue
        .receive(
            "render",
            1,
            service.pipeline.render.visibility(),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    // A healthy worker takes the message when it reappears and answers the same token.
    let preview = finish_with_a_worker(&service, &id).await;
    assert_eq!(preview.status, Status::Ready, "{:?}", preview.failure);
    let history = service.pipeline.runner.history(id.as_str()).unwrap();
    let renders = history
        .iter()
        .filter(|e| e.kind == "TaskScheduled" && e.state.as_deref() == Some("Render"))
        .count();
    assert_eq!(
        renders, 1,
        "one task, one token: nothing timed out or was retried"
    );
    assert!(
        !history.iter().any(|e| e.kind == "TaskTimedOut"),
        "nothing timed out"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_that_waits_in_the_queue_for_minutes_of_heartbeats_still_succeeds() {
    // A cold fleet: no worker for longer than the worker interval and every retry
    // a heartbeat-timed task would have had (Step Functions starts a heartbeat
    // clock at the send, so queue time would count).
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick_options();
    options.render_workers = 0;
    options.heartbeat_seconds = 1;
    let service = Service::start(dir.path(), options).await.unwrap();
    let id = service.submit(&photo("obama.jpg"), order()).await.unwrap();
    wait_for_message(&service, "render").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let preview = finish_with_a_worker(&service, &id).await;
    assert_eq!(preview.status, Status::Ready, "{:?}", preview.failure);
    assert_eq!(
        service.pipeline.stack.queue.depth("render").await.unwrap(),
        0
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_that_throws_fails_the_preview_and_queues_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalogue = Catalogue::builtin();
    let oil = catalogue
        .styles
        .iter_mut()
        .find(|s| s.id.as_str() == "oil")
        .unwrap();
    oil.qa.insert(
        "colour_tolerance".into(),
        toml::Value::String("not a number".into()),
    );
    let mut options = quick_options();
    options.catalogue = Arc::new(catalogue);
    let service = Service::start(dir.path(), options).await.unwrap();
    let mut with_hook = order();
    with_hook["webhook_url"] = json!("http://127.0.0.1:9/hooks");
    let id = service
        .submit(&photo("obama.jpg"), with_hook)
        .await
        .unwrap();
    let preview = service.wait_final(&id, LIMIT).await;
    assert_eq!(preview.status, Status::Failed);
    assert!(preview.failure.is_some());
    let record = service
        .pipeline
        .runner
        .describe(id.as_str())
        .unwrap()
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let states = service.pipeline.runner.states_entered(id.as_str()).unwrap();
    assert!(
        states.contains(&"MarkFailed".to_string()) && states.contains(&"NotifyFailed".to_string()),
        "{states:?}"
    );
    let events =
        likeness_core::ledger::Deliveries::events_for(&*service.pipeline.stack.deliveries, &id)
            .await
            .unwrap();
    assert!(
        events.iter().any(|e| e.event_type == "preview.failed"),
        "a preview.failed event is queued"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_execution_resumes_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick_options();
    options.render_workers = 0;
    let first = Service::start(dir.path(), options).await.unwrap();
    let id = first.submit(&photo("obama.jpg"), order()).await.unwrap();
    wait_for_message(&first, "render").await;
    first.stop().await;

    let second = Service::start(dir.path(), quick_options()).await.unwrap();
    let preview = second.wait_final(&id, LIMIT).await;
    assert_eq!(preview.status, Status::Ready, "{:?}", preview.failure);
    assert_eq!(
        second
            .pipeline
            .runner
            .describe(id.as_str())
            .unwrap()
            .unwrap()
            .status,
        ExecutionStatus::Succeeded
    );
    second.stop().await;
}
