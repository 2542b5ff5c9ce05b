//! The SQLite adapters for real: files on disk, concurrent writers, restarts.

use chrono::{TimeZone, Utc};
use likeness_core::ports::{
    ApiKeyRecord, ApiKeys, KeyScope, ManualClock, Previews, Queue, SystemClock,
};
use likeness_core::preview::{PreviewPatch, UploadSpec};
use likeness_core::{
    Consent, PortError, Preview, PreviewId, Status, StyleId, SubjectKind, TenantId,
};
use likeness_embedded::{QueueOptions, SqliteQueue, SqliteRecords};
use std::sync::Arc;
use std::time::Duration;

fn preview(id: &str, tenant: &str) -> Preview {
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
    Preview {
        id: PreviewId::new(id),
        tenant: TenantId::new(tenant),
        status: Status::AwaitingUpload,
        subject: SubjectKind::Person,
        styles: vec![StyleId::new("watercolor")],
        variations: 3,
        upload: UploadSpec {
            key: format!("uploads/{tenant}/{id}/photo"),
            content_type: "image/jpeg".into(),
            content_length: 1000,
            expires_at: at,
        },
        webhook_url: None,
        consent: Consent {
            rights_to_photo: true,
        },
        created_at: at,
        updated_at: at,
        version: 1,
        analysis: None,
        rejection_reasons: vec![],
        failure: None,
        results: None,
        expires_at: at,
    }
}

fn id(n: u32) -> String {
    format!("pv_{n:032x}")
}

#[tokio::test]
async fn creating_twice_reports_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    records.create(&preview(&id(1), "acme")).await.unwrap();
    let again = records.create(&preview(&id(1), "acme")).await;
    assert!(
        matches!(again, Err(PortError::AlreadyExists(_))),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_transitions_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let records = SqliteRecords::open(&path, Arc::new(SystemClock)).unwrap();
    records.create(&preview(&id(2), "acme")).await.unwrap();
    // Two independent connections, as two processes would have.
    let other = SqliteRecords::open(&path, Arc::new(SystemClock)).unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = if n % 2 == 0 {
            records.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .transition(
                    &PreviewId::new(id(2)),
                    Status::AwaitingUpload,
                    Status::Analyzing,
                    PreviewPatch::default(),
                )
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(p) => {
                wins += 1;
                assert_eq!(p.version, 2);
            }
            Err(PortError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    let stored = records.get(&PreviewId::new(id(2))).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Analyzing);
    assert_eq!(stored.version, 2);
}

#[tokio::test]
async fn an_illegal_transition_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    records.create(&preview(&id(3), "acme")).await.unwrap();
    let pid = PreviewId::new(id(3));
    let skip = records
        .transition(
            &pid,
            Status::AwaitingUpload,
            Status::Ready,
            PreviewPatch::default(),
        )
        .await;
    assert!(matches!(skip, Err(PortError::Invalid(_))), "{skip:?}");
    let wrong_from = records
        .transition(
            &pid,
            Status::Analyzing,
            Status::Rendering,
            PreviewPatch::default(),
        )
        .await;
    assert!(
        matches!(wrong_from, Err(PortError::Conflict(_))),
        "{wrong_from:?}"
    );
    let stored = records.get(&pid).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (Status::AwaitingUpload, 1));
}

#[tokio::test]
async fn a_tenant_lists_only_its_own_previews() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    records.create(&preview(&id(4), "acme")).await.unwrap();
    records.create(&preview(&id(5), "globex")).await.unwrap();
    let listed = records
        .list_by_tenant(&TenantId::new("acme"), 10)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![id(4)]
    );
}

#[tokio::test]
async fn api_keys_are_found_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let records =
        SqliteRecords::open(&dir.path().join("db.sqlite"), Arc::new(SystemClock)).unwrap();
    let record = ApiKeyRecord {
        hash: "ab".repeat(32),
        tenant: TenantId::new("acme"),
        scope: KeyScope::Finance,
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    };
    records.put_key(&record).await.unwrap();
    assert_eq!(records.find_key(&record.hash).await.unwrap(), Some(record));
    assert_eq!(records.find_key(&"cd".repeat(32)).await.unwrap(), None);
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    ))
}

#[tokio::test]
async fn an_undeleted_message_comes_back_after_its_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap();
    queue
        .declare("work", QueueOptions::default())
        .await
        .unwrap();
    queue.send("work", "hello", Duration::ZERO).await.unwrap();
    let first = queue
        .receive("work", 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    assert!(
        queue
            .receive("work", 10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(chrono::Duration::seconds(31));
    let again = queue
        .receive("work", 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt_handle, first[0].receipt_handle);
    // The stale receipt no longer owns the message.
    queue
        .delete("work", &first[0].receipt_handle)
        .await
        .unwrap();
    assert_eq!(queue.depth("work").await.unwrap(), 1);
    queue
        .delete("work", &again[0].receipt_handle)
        .await
        .unwrap();
    assert_eq!(queue.depth("work").await.unwrap(), 0);
}

#[tokio::test]
async fn delayed_messages_stay_hidden_until_due() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap();
    queue
        .declare("work", QueueOptions::default())
        .await
        .unwrap();
    queue
        .send("work", "later", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        queue
            .receive("work", 1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    clock.advance(chrono::Duration::seconds(5));
    assert_eq!(
        queue
            .receive("work", 1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn after_max_receives_the_message_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap();
    let options = QueueOptions {
        max_receives: Some(3),
        dead_letter: Some("work-dlq".into()),
    };
    queue.declare("work", options).await.unwrap();
    queue.send("work", "poison", Duration::ZERO).await.unwrap();
    for n in 1..=3 {
        let got = queue
            .receive("work", 1, Duration::from_secs(1), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got[0].receive_count, n);
        clock.advance(chrono::Duration::seconds(2));
    }
    assert!(
        queue
            .receive("work", 1, Duration::from_secs(1), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = queue
        .receive("work-dlq", 1, Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

#[tokio::test]
async fn sending_to_an_undeclared_queue_fails() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock()).unwrap();
    assert!(matches!(
        queue.send("nope", "x", Duration::ZERO).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), Arc::new(SystemClock)).unwrap();
    queue
        .declare("work", QueueOptions::default())
        .await
        .unwrap();
    let sender = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sender.send("work", "late", Duration::ZERO).await.unwrap();
    });
    let got = queue
        .receive("work", 1, Duration::from_secs(30), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn messages_and_records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    {
        let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap();
        queue
            .declare("work", QueueOptions::default())
            .await
            .unwrap();
        queue.send("work", "durable", Duration::ZERO).await.unwrap();
        let records = SqliteRecords::open(&dir.path().join("db.sqlite"), clock.clone()).unwrap();
        records.create(&preview(&id(6), "acme")).await.unwrap();
        records
            .transition(
                &PreviewId::new(id(6)),
                Status::AwaitingUpload,
                Status::Analyzing,
                PreviewPatch::default(),
            )
            .await
            .unwrap();
    }
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap();
    let got = queue
        .receive("work", 1, Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got[0].body, "durable");
    let records = SqliteRecords::open(&dir.path().join("db.sqlite"), clock).unwrap();
    assert_eq!(
        records
            .get(&PreviewId::new(id(6)))
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Analyzing
    );
}

#[tokio::test]
async fn released_claims_are_delivered_again_at_once_with_their_receive_count() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("q.sqlite");
    let options = QueueOptions {
        max_receives: Some(2),
        dead_letter: Some("work-dlq".into()),
    };
    let stale = {
        // A process takes two messages for five minutes and dies; a third is delayed.
        let queue = SqliteQueue::open(&path, clock.clone()).unwrap();
        queue.declare("work", options.clone()).await.unwrap();
        queue.send("work", "a", Duration::ZERO).await.unwrap();
        queue.send("work", "b", Duration::ZERO).await.unwrap();
        queue
            .send("work", "later", Duration::from_secs(60))
            .await
            .unwrap();
        let taken = queue
            .receive("work", 10, Duration::from_secs(300), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(taken.len(), 2);
        taken
    };
    let queue = SqliteQueue::open(&path, clock.clone()).unwrap();
    let held: Vec<_> = queue.in_flight().await.unwrap();
    assert_eq!(held.len(), 2);
    assert!(
        held.iter()
            .all(|m| m.queue == "work" && m.receive_count == 1)
    );
    // Sent after the dead process took its two: the released ones still go first.
    queue.send("work", "c", Duration::ZERO).await.unwrap();
    assert_eq!(queue.release_claimed().await.unwrap(), 2);
    assert!(queue.in_flight().await.unwrap().is_empty());
    let again = queue
        .receive("work", 2, Duration::from_secs(300), Duration::ZERO)
        .await
        .unwrap();
    let bodies: Vec<_> = again.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a", "b"], "released first, in the order sent");
    assert_eq!(queue.receive_count(&again[0].id).await.unwrap(), Some(2));
    let c = queue
        .receive("work", 10, Duration::from_secs(300), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(c.len(), 1, "the delayed message stays delayed");
    queue.delete("work", &c[0].receipt_handle).await.unwrap();
    assert_eq!(queue.receive_count(&c[0].id).await.unwrap(), None);
    assert!(again.iter().all(|m| m.receive_count == 2));
    // The dead process's receipts own nothing any more.
    for m in &stale {
        queue.delete("work", &m.receipt_handle).await.unwrap();
    }
    assert_eq!(queue.depth("work").await.unwrap(), 3);
    // A message that has now been taken twice goes to the dead-letter queue the
    // next time it is released, instead of crashing every process for ever.
    assert_eq!(queue.release_claimed().await.unwrap(), 2);
    assert!(
        queue
            .receive("work", 10, Duration::from_secs(300), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(queue.depth("work-dlq").await.unwrap(), 2);
}
