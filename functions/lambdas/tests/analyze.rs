//! The analyze function with the SQS fixture: the upload notification is
//! claimed, analysed and started; the cut-short message is reported in
//! `batchItemFailures` on its own.

mod common;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::{PREVIEW, Stack, event, photo};
use likeness_analyze::handler::{AnalyzePorts, Disposition, disposition, handle_message};
use likeness_core::ledger::CostLedger;
use likeness_core::metering::Meter;
use likeness_core::ports::{Blobs, Previews, SystemClock};
use likeness_core::testing::RecordingWorkflow;
use likeness_core::{PreviewId, Status};
use likeness_lambdas::task;
use likeness_vision::AnalysisConfig;
use serde_json::Value;
use std::sync::Arc;

fn ports(
    stack: &Stack,
    blobs: Arc<dyn Blobs>,
    workflow: Arc<RecordingWorkflow>,
    meter: Option<Arc<dyn Meter>>,
) -> AnalyzePorts {
    AnalyzePorts {
        previews: stack.records.clone(),
        blobs,
        workflow,
        config: AnalysisConfig::default(),
        clock: Arc::new(SystemClock),
        meter,
        announce: None,
    }
}

/// The analyze Lambda's batch handling (`src/bin/analyze.rs`).
async fn analyze(ports: &AnalyzePorts, event: SqsEvent) -> SqsBatchResponse {
    task::batch(event, |id, body| async move {
        let result = handle_message(ports, &body).await;
        disposition(&result, &id) == Disposition::Redeliver
    })
    .await
}

fn fixture() -> SqsEvent {
    serde_json::from_value(event("analyze-sqs-s3-upload.json")).expect("an SQS event")
}

#[tokio::test]
async fn the_good_upload_starts_its_execution_and_only_the_bad_message_fails() {
    let stack = Stack::start().await;
    let preview = stack.preview_at(Status::AwaitingUpload).await;
    stack
        .blobs
        .put(&preview.upload.key, photo(), "image/jpeg")
        .await
        .unwrap();
    let workflow = Arc::new(RecordingWorkflow::default());
    let ports = ports(
        &stack,
        stack.blobs.clone(),
        workflow.clone(),
        Some(stack.meter()),
    );

    let response = analyze(&ports, fixture()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["c7d6e5f4-a3b2-4c1d-9e8f-7a6b5c4d3e2f"]);
    // The shape Lambda reads when the event source reports batch item failures.
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(
        wire["batchItemFailures"][0]["itemIdentifier"],
        "c7d6e5f4-a3b2-4c1d-9e8f-7a6b5c4d3e2f"
    );

    let id = PreviewId::new(PREVIEW);
    let stored = stack.records.get(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        Status::Rendering,
        "{:?}",
        stored.rejection_reasons
    );
    let started = workflow.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].0, PREVIEW);
    assert_eq!(started[0].1["styles"], serde_json::json!(["oil"]));
    assert!(
        stack
            .blob_exists(&format!("work/{PREVIEW}/reference.png"))
            .await
    );
    assert!(
        !stack.blob_exists(&preview.upload.key).await,
        "the raw upload is deleted once analysed"
    );

    // SQS delivers the batch again (at least once): nothing new happens.
    let again = analyze(&ports, fixture()).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(workflow.started.lock().unwrap().len(), 1);

    // The analysis was metered once (the redelivery is the same run).
    let lines = stack.costs.lines_for(&id).await.unwrap();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l.stage == "analyze" && l.seq == 1),
        "{lines:?}"
    );
    let meters: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.meter.as_str()).collect();
    assert_eq!(meters.len(), lines.len(), "each meter once: {lines:?}");
    assert!(lines.iter().any(|l| l.usd > 0.0), "{lines:?}");
}

#[tokio::test]
async fn an_unavailable_store_reports_the_message_for_another_delivery() {
    let stack = Stack::start().await;
    // No order was stored and the bucket is unreachable: reading the object fails.
    let mut sqs = fixture();
    sqs.records.truncate(1);
    let broken = likeness_aws::S3Blobs::for_endpoint(
        &likeness_aws::S3Endpoint {
            url: "http://127.0.0.1:9".into(),
            access_key: "x".into(),
            secret_key: "y".into(),
            region: "us-east-1".into(),
        },
        "likeness",
    );
    let _ = stack.preview_at(Status::AwaitingUpload).await;
    let workflow = Arc::new(RecordingWorkflow::default());
    let ports = ports(&stack, Arc::new(broken), workflow.clone(), None);
    let response = analyze(&ports, sqs).await;
    let failed: Vec<Value> = response
        .batch_item_failures
        .iter()
        .map(|f| Value::from(f.item_identifier.clone()))
        .collect();
    assert_eq!(failed, ["3f8e4d2a-9b1c-4e7f-a6d5-1c2b3a4d5e6f"]);
    assert!(workflow.started.lock().unwrap().is_empty());
}
