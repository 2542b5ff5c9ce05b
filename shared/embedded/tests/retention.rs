//! The one-machine retention sweeper deletes what the AWS lifecycle rules and
//! TTL would, on the same schedule.

use chrono::{Duration, TimeZone, Utc};
use likeness_core::ports::{Blobs, ManualClock, Previews};
use likeness_core::retention::Retention;
use likeness_core::testing::{MemoryBlobs, PreviewBuilder};
use likeness_core::{Preview, Status, keys};
use likeness_embedded::{SqliteRecords, SweepReport, Sweeper};
use std::sync::Arc;

async fn stored(records: &SqliteRecords, blobs: &MemoryBlobs, preview: &Preview) {
    records.create(preview).await.unwrap();
    for key in [
        preview.upload.key.clone(),
        keys::reference(&preview.id),
        keys::delivered(&preview.tenant, &preview.id, &preview.styles[0], 1, "webp"),
    ] {
        blobs
            .put(&key, vec![1], "application/octet-stream")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn previews_past_retention_expire_and_stale_uploads_and_work_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let records =
        Arc::new(SqliteRecords::open(&dir.path().join("db.sqlite"), clock.clone()).unwrap());
    let blobs = Arc::new(MemoryBlobs::default());
    let retention = Retention::default();
    let sweeper = Sweeper {
        records: records.clone(),
        blobs: blobs.clone(),
        clock: clock.clone(),
        retention,
    };
    let preview = |n: u32, status: Status| {
        PreviewBuilder::new("acme", &format!("pv_{n:032x}"))
            .styles(&["oil"])
            .created_at(t0)
            .expires_at(retention.expires_at(t0))
            .status(status)
            .build()
    };
    // Delivered, still within retention; stuck in analysis; ordered a day later.
    let ready = preview(1, Status::Ready);
    let stuck = preview(2, Status::Analyzing);
    let mut later = preview(3, Status::Ready);
    later.created_at = t0 + Duration::days(1);
    later.expires_at = retention.expires_at(later.created_at);
    for p in [&ready, &stuck, &later] {
        stored(&records, &blobs, p).await;
    }

    clock.advance(Duration::hours(23));
    assert_eq!(sweeper.sweep().await.unwrap(), SweepReport::default());

    // A day on, the stuck preview's photo goes (S3's `uploads/` rule).
    clock.advance(Duration::hours(1));
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            expired: 0,
            objects_deleted: 1
        }
    );
    assert!(!blobs.contains(&stuck.upload.key));
    assert!(
        blobs.contains(&ready.upload.key),
        "a final preview is left to its stages"
    );

    // Two days on, its work objects too (the `work/` backstop).
    clock.advance(Duration::days(1));
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.objects_deleted, 1);
    assert!(!blobs.contains(&keys::reference(&stuck.id)));
    assert_eq!(
        records.get(&stuck.id).await.unwrap().unwrap().status,
        Status::Analyzing,
        "only retention's end changes a status"
    );

    // Seven days on, the first two expire with everything they had; the third waits a day more.
    clock.advance(Duration::days(5));
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.expired, 2);
    for p in [&ready, &stuck] {
        assert_eq!(
            records.get(&p.id).await.unwrap().unwrap().status,
            Status::Expired
        );
        let tenant = keys::delivered_prefix(&p.tenant, &p.id);
        assert!(blobs.list(&tenant).await.unwrap().is_empty());
        assert!(
            blobs
                .list(&keys::work_prefix(&p.id))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(
        records.get(&later.id).await.unwrap().unwrap().status,
        Status::Ready
    );
    assert!(blobs.contains(&keys::delivered(
        &later.tenant,
        &later.id,
        &later.styles[0],
        1,
        "webp"
    )));

    clock.advance(Duration::days(1));
    assert_eq!(sweeper.sweep().await.unwrap().expired, 1);
    assert!(
        blobs.keys().is_empty(),
        "nothing is kept past retention: {:?}",
        blobs.keys()
    );
    // Expired previews are not looked at again.
    assert_eq!(sweeper.sweep().await.unwrap(), SweepReport::default());
}
