//! The Step Functions task functions (judge, finalize, mark-failed) with the
//! payloads in `events/`, over the embedded stack.

mod common;

use common::{PREVIEW, Stack, event, photo_png};
use lambda_runtime::Diagnostic;
use likeness_core::ports::{Blobs, Previews};
use likeness_core::tasks::RenderTask;
use likeness_core::testing::RecordingWorkflow;
use likeness_core::{Catalogue, PreviewId, Status};
use likeness_judge::{finalize, judge_task, mark_failed};
use likeness_lambdas::task;
use likeness_render::ClassicEngine;
use likeness_render::worker::RenderWorker;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn id() -> PreviewId {
    PreviewId::new(PREVIEW)
}

async fn judge(stack: &Stack, payload: Value) -> Result<Value, Diagnostic> {
    let ports = stack.judge_ports(None);
    task::invoke("judge", payload, |t| judge_task::handle(&ports, t)).await
}

async fn finalize(stack: &Stack, payload: Value) -> Result<Value, Diagnostic> {
    let ports = stack.finalize_ports();
    task::invoke("finalize", payload, |t| finalize::handle(&ports, t)).await
}

/// The judge payload fixture with the candidates the render worker really
/// makes for the render task message fixture.
async fn rendered_judge_payload(stack: &Stack) -> Value {
    stack.preview_at(Status::Rendering).await;
    stack
        .blobs
        .put(
            &format!("work/{PREVIEW}/reference.png"),
            photo_png(384),
            "image/png",
        )
        .await
        .unwrap();
    // The render worker answers the task message fixture; its candidates land
    // exactly where the judge payload fixture says.
    let catalogue = Arc::new(Catalogue::builtin());
    let worker = RenderWorker {
        queue: stack.queue.clone(),
        queue_name: "render".into(),
        workflow: Arc::new(RecordingWorkflow::default()),
        blobs: stack.blobs.clone(),
        engine: Arc::new(ClassicEngine::new((*catalogue).clone())),
        catalogue: catalogue.clone(),
        heartbeat: Duration::from_secs(30),
        long_side: 256,
        landmarks: None,
    };
    let task: RenderTask =
        serde_json::from_value(event("render-task-message.json")).expect("a render task");
    let rendered =
        serde_json::to_value(worker.render(&task).await.expect("classic render")).unwrap();
    let mut payload = event("judge.json");
    let fixture_keys: Vec<&Value> = payload["render"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["key"])
        .collect();
    let rendered_keys: Vec<&Value> = rendered["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["key"])
        .collect();
    assert_eq!(fixture_keys, rendered_keys);
    // The state machine passes the worker's output as `render`.
    payload["render"] = rendered;
    payload
}

#[tokio::test]
async fn judge_scores_the_candidates_the_render_task_made() {
    let stack = Stack::start().await;
    let payload = rendered_judge_payload(&stack).await;
    let verdict = judge(&stack, payload).await.expect("a verdict");
    let decision = verdict["decision"].as_str().unwrap();
    assert!(
        ["pass", "retry", "give_up"].contains(&decision),
        "{verdict}"
    );
    assert_eq!(verdict["judged"].as_array().unwrap().len(), 2, "{verdict}");
    if decision == "retry" {
        assert!(verdict["parameters"].is_object(), "{verdict}");
    }
    assert!(
        stack
            .blob_exists(&format!("work/{PREVIEW}/judge/oil.json"))
            .await,
        "the judge keeps its carry for the next attempt"
    );
}

#[tokio::test]
async fn the_judge_never_asks_for_an_attempt_the_state_machine_will_not_run() {
    // MaxJudgeAttempts (the state machine's) may be below the style's own
    // limit: on the state machine's last attempt it delivers what the judge
    // selected, so the judge must decide rather than ask for a retry.
    let stack = Stack::start().await;
    let mut payload = rendered_judge_payload(&stack).await;
    // Candidates nobody would pass: flat grey, no face. With attempts left the
    // judge would ask for another render.
    let grey = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(192, 256, image::Rgb([128, 128, 128]))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    for c in payload["render"]["candidates"].as_array().unwrap() {
        let key = c["key"].as_str().unwrap();
        stack
            .blobs
            .put(key, grey.clone(), "image/png")
            .await
            .unwrap();
    }
    payload["attempt"] = json!(1);
    payload["max_attempts"] = json!(1);
    let verdict = judge(&stack, payload).await.expect("a verdict");
    // Flat grey is never delivered either, so the state machine's give-up
    // path ends the style; a retry it would not run is what must not happen.
    assert_eq!(verdict["decision"], "give_up", "{verdict}");
}

#[tokio::test]
async fn a_payload_that_does_not_fit_fails_as_bad_payload() {
    let stack = Stack::start().await;
    let diagnostic = judge(&stack, json!({"preview_id": PREVIEW}))
        .await
        .unwrap_err();
    assert_eq!(diagnostic.error_type, "Task.BadPayload");
    assert!(
        diagnostic.error_message.contains("judge payload"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn a_missing_candidate_fails_with_the_error_name_the_state_machine_catches() {
    let stack = Stack::start().await;
    // Nothing was rendered: the reference is missing.
    let err = judge(&stack, event("judge.json")).await.unwrap_err();
    assert_eq!(err.error_type, "Storage.Error", "{err:?}");
}

#[tokio::test]
async fn finalize_delivers_the_selected_candidate_and_marks_the_preview_ready() {
    let stack = Stack::start().await;
    stack.preview_at(Status::Rendering).await;
    let candidate = format!("work/{PREVIEW}/candidates/oil/1-0.png");
    stack
        .blobs
        .put(&candidate, photo_png(256), "image/png")
        .await
        .unwrap();
    let summary = finalize(&stack, event("finalize.json"))
        .await
        .expect("finalized");
    assert_eq!(summary["status"], "ready");
    let previews = &summary["styles"][0]["previews"];
    let webp = previews[0]["webp"].as_str().unwrap();
    assert_eq!(webp, format!("previews/acme/{PREVIEW}/oil-1.webp"));
    assert!(stack.blob_exists(webp).await);
    assert!(!stack.blob_exists(&candidate).await, "work/ is cleaned up");
    let stored = stack.records.get(&id()).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Ready);

    // Step Functions may run the task again (a Lambda retry): same answer.
    let again = finalize(&stack, event("finalize.json"))
        .await
        .expect("finalized again");
    assert_eq!(again["status"], "ready");
}

#[tokio::test]
async fn mark_failed_records_the_timeout_in_the_customers_words() {
    let stack = Stack::start().await;
    stack.preview_at(Status::Rendering).await;
    let leftover = format!("work/{PREVIEW}/reference.png");
    stack
        .blobs
        .put(&leftover, photo_png(64), "image/png")
        .await
        .unwrap();
    let ports = stack.mark_failed_ports();
    let out = task::invoke("mark-failed", event("mark-failed.json"), |t| {
        mark_failed::handle(&ports, t)
    })
    .await
    .expect("marked failed");
    assert_eq!(out, json!({"status": "failed", "error": "States.Timeout"}));
    let stored = stack.records.get(&id()).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Failed);
    assert!(
        stored.failure.as_deref().unwrap().contains("too busy"),
        "{:?}",
        stored.failure
    );
    assert!(!stack.blob_exists(&leftover).await);
}
