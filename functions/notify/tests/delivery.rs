//! Delivery against real receivers on loopback, with the schedule time-scaled.

mod common;

use common::{Receiver, Stack, local_config, ready_preview};
use likeness_core::ledger::{AttemptOutcome, Deliveries};
use likeness_core::testing::MemoryBlobs;
use likeness_notify::{NotifyConfig, SCHEDULE};
use std::time::Duration;

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_event_three_times() {
    let stack = Stack::new(local_config()).await;
    stack.add_secret("acme").await;
    let receiver = Receiver::start(2, false).await;
    let preview = ready_preview('a', &receiver.url);
    let id = stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap()
        .expect("the preview has a webhook URL");
    stack
        .drive(Duration::from_secs(20), || async {
            stack
                .attempts(&preview.id)
                .await
                .iter()
                .any(|a| a.outcome == AttemptOutcome::Delivered)
        })
        .await;

    let attempts = stack.attempts(&preview.id).await;
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let codes: Vec<Option<u16>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(204)]);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Retrying);
    assert_eq!(attempts[2].outcome, AttemptOutcome::Delivered);
    assert!(attempts[0].next_attempt_at.is_some() && attempts[2].next_attempt_at.is_none());

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.headers["webhook-id"], id.as_str());
        assert!(
            r.headers["webhook-signature"]
                .to_str()
                .unwrap()
                .starts_with("v1,")
        );
        assert_eq!(
            r.body, requests[0].body,
            "every attempt sends the same bytes"
        );
    }
    assert_eq!(stack.queue.depth("webhooks").await.unwrap(), 0);
    assert_eq!(stack.queue.depth("webhooks-dlq").await.unwrap(), 0);

    // Emitting the same event again neither sends nor schedules anything.
    stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap();
    assert_eq!(stack.queue.depth("webhooks").await.unwrap(), 0);

    // A replay sends it again, now, with the same webhook id.
    let replayed = stack.notifier.replay(&preview.id).await.unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].outcome, AttemptOutcome::Delivered);
    assert_eq!(receiver.requests()[3].headers["webhook-id"], id.as_str());
}

#[tokio::test]
async fn a_receiver_that_never_accepts_ends_in_the_dead_letter_queue() {
    let stack = Stack::new(local_config()).await;
    stack.add_secret("acme").await;
    let receiver = Receiver::start(usize::MAX, false).await;
    let preview = ready_preview('b', &receiver.url);
    stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap();
    stack
        .drive(Duration::from_secs(60), || async {
            stack.queue.depth("webhooks-dlq").await.unwrap() == 1
        })
        .await;

    let attempts = stack.attempts(&preview.id).await;
    assert_eq!(attempts.len(), SCHEDULE.len());
    assert!(
        attempts[..7]
            .iter()
            .all(|a| a.outcome == AttemptOutcome::Retrying)
    );
    assert_eq!(attempts[7].outcome, AttemptOutcome::DeadLettered);
    assert_eq!(receiver.requests().len(), SCHEDULE.len());
    // Each wait, scaled, was at least the schedule's: the long ones (beyond the
    // queue's 900 s cap) went through re-delays and still kept their time.
    let config = local_config();
    for pair in attempts.windows(2) {
        let waited = (pair[1].at - pair[0].at).to_std().unwrap();
        let due = config.scaled(SCHEDULE[pair[0].attempt as usize]);
        assert!(
            waited >= due,
            "attempt {} came after {waited:?}, due after {due:?}",
            pair[1].attempt
        );
    }
    assert_eq!(stack.queue.depth("webhooks").await.unwrap(), 0);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let config = NotifyConfig {
        schedule: vec![Duration::ZERO],
        ..local_config()
    };
    let stack = Stack::new(config).await;
    stack.add_secret("acme").await;
    let receiver = Receiver::start(0, true).await;
    let preview = ready_preview('c', &receiver.url);
    stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap();
    stack
        .drive(Duration::from_secs(20), || async {
            !stack.attempts(&preview.id).await.is_empty()
        })
        .await;
    let attempts = stack.attempts(&preview.id).await;
    assert_eq!(attempts[0].status_code, Some(302));
    assert_eq!(attempts[0].outcome, AttemptOutcome::DeadLettered);
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/hook"]);
}

#[tokio::test]
async fn production_configuration_refuses_a_loopback_receiver() {
    let stack = Stack::new(NotifyConfig::production()).await;
    stack.add_secret("acme").await;
    let receiver = Receiver::start(0, false).await;
    let https = receiver.url.replacen("http:", "https:", 1);
    for (n, url) in [('d', receiver.url.clone()), ('e', https)] {
        let preview = ready_preview(n, &url);
        stack
            .notifier
            .emit(&preview, &[], &[], &MemoryBlobs::default())
            .await
            .unwrap();
        stack
            .drive(Duration::from_secs(20), || async {
                !stack.attempts(&preview.id).await.is_empty()
            })
            .await;
        let attempt = &stack.attempts(&preview.id).await[0];
        assert_eq!(attempt.outcome, AttemptOutcome::DeadLettered, "{url}");
        assert!(
            attempt.error.as_deref().unwrap().starts_with("refused"),
            "{attempt:?}"
        );
    }
    assert!(
        receiver.requests().is_empty(),
        "nothing may reach the receiver"
    );
}

#[tokio::test]
async fn a_tenant_without_a_secret_is_retried_not_sent_unsigned() {
    let config = NotifyConfig {
        schedule: vec![Duration::ZERO, Duration::from_secs(5)],
        ..local_config()
    };
    let stack = Stack::new(config).await;
    let receiver = Receiver::start(0, false).await;
    let preview = ready_preview('f', &receiver.url);
    stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap();
    stack
        .drive(Duration::from_secs(20), || async {
            stack.queue.depth("webhooks-dlq").await.unwrap() == 1
        })
        .await;
    let attempts = stack.deliveries.attempts_for(&preview.id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no webhook secret")
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn waits_beyond_the_queue_cap_are_redelayed_until_due() {
    use chrono::TimeZone;
    use likeness_core::ports::{Clock, ManualClock, Queue};
    use likeness_embedded::{QueueOptions, SqliteDeliveries, SqliteQueue};
    use likeness_notify::{DeliveryJob, Handled, Notifier};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let t0 = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let queue = Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite"), clock.clone()).unwrap());
    queue
        .declare("webhooks", QueueOptions::default())
        .await
        .unwrap();
    let deliveries = Arc::new(SqliteDeliveries::open(&dir.path().join("db.sqlite")).unwrap());
    let notifier = Notifier::new(
        deliveries,
        queue.clone(),
        clock.clone(),
        NotifyConfig::production(),
    );
    let job = DeliveryJob {
        webhook_id: "msg_x".into(),
        attempt: 5,
        not_before: Some(t0 + chrono::Duration::hours(2)),
    };
    let mut body = serde_json::to_string(&job).unwrap();
    let mut hops = 0;
    loop {
        match notifier.handle(&body).await {
            Ok(Handled::Deferred) => {}
            // Due: the attempt needs the event, which this test never stored.
            Err(likeness_notify::NotifyError::BadMessage(m)) => {
                assert!(m.contains("msg_x"), "{m}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        hops += 1;
        let wait = std::time::Duration::ZERO;
        let visibility = std::time::Duration::from_secs(60);
        clock.advance(chrono::Duration::seconds(899));
        assert!(
            queue
                .receive("webhooks", 1, visibility, wait)
                .await
                .unwrap()
                .is_empty()
        );
        clock.advance(chrono::Duration::seconds(1));
        let message = queue
            .receive("webhooks", 1, visibility, wait)
            .await
            .unwrap()
            .remove(0);
        queue
            .delete("webhooks", &message.receipt_handle)
            .await
            .unwrap();
        body = message.body;
    }
    assert_eq!(hops, 8, "2 h is eight 900 s delays");
    assert_eq!(clock.now(), t0 + chrono::Duration::hours(2));
}

/// An endpoint that accepts connections and never answers.
async fn tarpit() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the test sends a handful of requests.
        for _ in 0..64 {
            match listener.accept().await {
                Ok((socket, _)) => held.push(socket),
                Err(_) => break,
            }
        }
        std::future::pending::<()>().await;
    });
    (format!("http://{addr}/hook"), task)
}

#[tokio::test]
async fn a_tenant_whose_endpoint_hangs_does_not_delay_another_tenants_webhook() {
    let config = NotifyConfig {
        schedule: vec![Duration::ZERO],
        ..local_config()
    };
    assert!(config.request_timeout >= Duration::from_secs(5));
    let stack = std::sync::Arc::new(Stack::new(config).await);
    stack.add_secret("slow").await;
    stack.add_secret("acme").await;
    let (tarpit_url, _tarpit) = tarpit().await;
    let receiver = Receiver::start(0, false).await;
    // Six of the slow tenant's events first, each hanging until the timeout.
    for n in ['1', '2', '3', '4', '5', '6'] {
        let mut preview = ready_preview(n, &tarpit_url);
        preview.tenant = likeness_core::TenantId::new("slow");
        stack
            .notifier
            .emit(&preview, &[], &[], &MemoryBlobs::default())
            .await
            .unwrap();
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let stack = stack.clone();
        tokio::spawn(async move {
            stack
                .notifier
                .serve(async {
                    let _ = stop_rx.await;
                })
                .await
        })
    };
    // Let the slow tenant's attempts get stuck in the tarpit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let preview = ready_preview('a', &receiver.url);
    let queued_at = std::time::Instant::now();
    stack
        .notifier
        .emit(&preview, &[], &[], &MemoryBlobs::default())
        .await
        .unwrap();
    let deadline = queued_at + Duration::from_secs(5);
    while receiver.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the other tenant's webhook was held up behind the tarpit"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delay = queued_at.elapsed();
    eprintln!("other tenant's webhook arrived after {delay:?}");
    assert!(
        delay < Duration::from_secs(1),
        "the other tenant's webhook took {delay:?}"
    );
    // The slow tenant's attempts are still hanging, none recorded yet.
    for n in ['1', '2', '3', '4', '5', '6'] {
        let id = likeness_core::PreviewId::new(format!("pv_{}", n.to_string().repeat(32)));
        assert!(stack.attempts(&id).await.is_empty());
    }
    stop_tx.send(()).unwrap();
    worker.abort();
}
