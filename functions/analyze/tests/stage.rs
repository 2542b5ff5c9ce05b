//! The analysis stage over real photos: accepted photos leave a reference and
//! start the workflow once; rejected ones are recorded with reasons; the raw
//! upload is gone either way.

mod common;

use common::{MemoryBlobs, ordered};
use likeness_analyze::stage::{AnalyzeStage, StageOutcome};
use likeness_core::keys;
use likeness_core::ports::{Blobs, Previews, SystemClock};
use likeness_core::preview::PreviewPatch;
use likeness_core::testing::RecordingWorkflow;
use likeness_core::{RejectionCode, Status, SubjectKind};
use likeness_embedded::SqliteRecords;
use likeness_vision::AnalysisConfig;
use std::sync::Arc;

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn claimed(
    records: &SqliteRecords,
    blobs: &MemoryBlobs,
    n: u32,
    subject: SubjectKind,
    bytes: Vec<u8>,
) -> likeness_core::Preview {
    let mut preview = ordered("acme", n, bytes.len() as u64);
    preview.subject = subject;
    records.create(&preview).await.unwrap();
    blobs
        .put(&preview.upload.key, bytes, "image/jpeg")
        .await
        .unwrap();
    records
        .transition(
            &preview.id,
            Status::AwaitingUpload,
            Status::Analyzing,
            PreviewPatch::default(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_photo_starts_the_workflow_once_and_leaves_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    let blobs = MemoryBlobs::default();
    let workflow = RecordingWorkflow::default();
    let config = AnalysisConfig::default();
    let preview = claimed(&records, &blobs, 1, SubjectKind::Person, photo("obama.jpg")).await;
    let stage = AnalyzeStage {
        previews: &records,
        blobs: &blobs,
        workflow: &workflow,
        config: &config,
    };

    let outcome = stage.run(&preview.id).await.unwrap();
    assert!(matches!(outcome, StageOutcome::Started(_)), "{outcome:?}");
    let stored = records.get(&preview.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Rendering);
    assert_eq!(
        stored.analysis.as_ref().unwrap().verdict,
        likeness_vision::Verdict::Accept
    );
    let reference = blobs.get(&keys::reference(&preview.id)).await.unwrap();
    assert!(image::load_from_memory(&reference).is_ok());
    let hints: serde_json::Value =
        serde_json::from_slice(&blobs.get(&keys::hints(&preview.id)).await.unwrap()).unwrap();
    assert_eq!(hints["faces"].as_array().unwrap().len(), 1, "{hints}");
    assert!(
        blobs.list("uploads/").await.unwrap().is_empty(),
        "the raw upload is deleted"
    );

    // A redelivery finds the preview rendering and starts nothing new.
    stage.run(&preview.id).await.unwrap();
    let started = workflow.started.lock().unwrap();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].0, preview.id.as_str());
    assert_eq!(started[0].1["styles"][0], "oil");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_without_a_face_is_rejected_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    let blobs = MemoryBlobs::default();
    let workflow = RecordingWorkflow::default();
    let config = AnalysisConfig::default();
    let preview = claimed(
        &records,
        &blobs,
        2,
        SubjectKind::Person,
        photo("coffee.png"),
    )
    .await;
    let stage = AnalyzeStage {
        previews: &records,
        blobs: &blobs,
        workflow: &workflow,
        config: &config,
    };
    let outcome = stage.run(&preview.id).await.unwrap();
    let StageOutcome::Rejected(reasons) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reasons.iter().any(|r| r.code == RejectionCode::NoFace));
    let stored = records.get(&preview.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Rejected);
    assert_eq!(stored.rejection_reasons, reasons);
    assert!(workflow.started.lock().unwrap().is_empty());
    assert!(
        blobs.list("").await.unwrap().is_empty(),
        "nothing is kept of a rejected photo"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_an_image_are_rejected_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    let blobs = MemoryBlobs::default();
    let workflow = RecordingWorkflow::default();
    let config = AnalysisConfig::default();
    let preview = claimed(
        &records,
        &blobs,
        3,
        SubjectKind::Person,
        b"<html>hello</html>".to_vec(),
    )
    .await;
    let stage = AnalyzeStage {
        previews: &records,
        blobs: &blobs,
        workflow: &workflow,
        config: &config,
    };
    let StageOutcome::Rejected(reasons) = stage.run(&preview.id).await.unwrap() else {
        panic!()
    };
    assert_eq!(reasons.len(), 1);
    assert!(matches!(
        reasons[0].code,
        RejectionCode::UnsupportedFormat | RejectionCode::CorruptImage
    ));
}
