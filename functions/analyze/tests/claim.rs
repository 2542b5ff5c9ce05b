mod common;

use chrono::Utc;
use common::{MemoryBlobs, ordered};
use likeness_analyze::{UploadOutcome, handle_upload_notification};
use likeness_core::ports::{Blobs, Previews, SystemClock};
use likeness_core::s3_event::{S3EventNotification, S3EventRecord};
use likeness_core::{PreviewId, Status, TenantId, keys};
use likeness_embedded::SqliteRecords;
use std::sync::Arc;

fn notification(key: &str, size: u64) -> String {
    let record = S3EventRecord::object_created_put(
        "us-east-1",
        "likeness-uploads",
        key,
        size,
        "etag",
        "01",
        Utc::now(),
    );
    serde_json::to_string(&S3EventNotification {
        records: vec![record],
        event: None,
    })
    .unwrap()
}

async fn stack() -> (tempfile::TempDir, SqliteRecords, MemoryBlobs) {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    (dir, records, MemoryBlobs::default())
}

#[tokio::test]
async fn a_duplicated_event_claims_the_upload_once() {
    let (_dir, records, blobs) = stack().await;
    let preview = ordered("acme", 1, 100);
    records.create(&preview).await.unwrap();
    let body = notification(&preview.upload.key, 100);
    let first = handle_upload_notification(&body, &records, &blobs)
        .await
        .unwrap();
    assert_eq!(first, vec![UploadOutcome::Claimed(preview.id.clone())]);
    let second = handle_upload_notification(&body, &records, &blobs)
        .await
        .unwrap();
    assert_eq!(
        second,
        vec![UploadOutcome::AlreadyClaimed(
            preview.id.clone(),
            Status::Analyzing
        )]
    );
    let stored = records.get(&preview.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (Status::Analyzing, 2));
}

#[tokio::test]
async fn an_upload_nobody_ordered_is_deleted() {
    let (_dir, records, blobs) = stack().await;
    let stray = keys::upload(
        &TenantId::new("acme"),
        &PreviewId::new(format!("pv_{:032x}", 9)),
    );
    blobs
        .put(&stray, vec![1, 2, 3], "image/jpeg")
        .await
        .unwrap();
    let outcome = handle_upload_notification(&notification(&stray, 3), &records, &blobs)
        .await
        .unwrap();
    assert_eq!(outcome, vec![UploadOutcome::Discarded(stray.clone())]);
    assert!(blobs.list("uploads/").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_upload_of_another_size_than_ordered_is_rejected() {
    let (_dir, records, blobs) = stack().await;
    let preview = ordered("acme", 2, 100);
    records.create(&preview).await.unwrap();
    blobs
        .put(&preview.upload.key, vec![0; 99], "image/jpeg")
        .await
        .unwrap();
    let outcome =
        handle_upload_notification(&notification(&preview.upload.key, 99), &records, &blobs)
            .await
            .unwrap();
    assert_eq!(outcome, vec![UploadOutcome::Mismatched(preview.id.clone())]);
    let stored = records.get(&preview.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Rejected);
    assert_eq!(stored.rejection_reasons[0].code.as_str(), "upload_mismatch");
    assert!(blobs.list("uploads/").await.unwrap().is_empty());
}

#[tokio::test]
async fn garbage_is_not_retried() {
    let (_dir, records, blobs) = stack().await;
    let err = handle_upload_notification("{nope", &records, &blobs)
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
    assert_eq!(
        handle_upload_notification(test_event, &records, &blobs)
            .await
            .unwrap(),
        vec![UploadOutcome::Ignored]
    );
}

#[tokio::test]
async fn an_upload_after_analysis_is_deleted_on_arrival() {
    let (_dir, records, blobs) = stack().await;
    // A second PUT through the same presigned URL once the preview is judging,
    // ready or rejected: the photo would otherwise stay under uploads/ for good.
    let walks: [&[Status]; 3] = [
        &[Status::Analyzing, Status::Rendering, Status::Judging],
        &[
            Status::Analyzing,
            Status::Rendering,
            Status::Judging,
            Status::Ready,
        ],
        &[Status::Analyzing, Status::Rejected],
    ];
    for (n, walk) in walks.into_iter().enumerate() {
        let preview = ordered("acme", 10 + n as u32, 100);
        records.create(&preview).await.unwrap();
        let mut at = Status::AwaitingUpload;
        for &next in walk {
            records
                .transition(&preview.id, at, next, Default::default())
                .await
                .unwrap();
            at = next;
        }
        blobs
            .put(&preview.upload.key, vec![0; 100], "image/jpeg")
            .await
            .unwrap();
        let outcome =
            handle_upload_notification(&notification(&preview.upload.key, 100), &records, &blobs)
                .await
                .unwrap();
        assert_eq!(outcome, vec![UploadOutcome::Late(preview.id.clone(), at)]);
        assert!(
            blobs.list("uploads/").await.unwrap().is_empty(),
            "the late upload is gone ({at})"
        );
        let stored = records.get(&preview.id).await.unwrap().unwrap();
        assert_eq!(stored.status, at, "the preview is not touched");
    }
}
