//! The cost ledger and webhook delivery records on a real SQLite file.

use chrono::{Duration, TimeZone, Utc};
use likeness_core::cost::{PriceTable, StageUnits};
use likeness_core::ledger::{
    AttemptOutcome, CostLedger, Deliveries, DeliveryAttempt, EndpointSecret, MeteredPreview,
    StageMeter, WebhookEvent,
};
use likeness_core::ports::ManualClock;
use likeness_core::{PreviewId, StyleId, TenantId};
use likeness_embedded::{SqliteCosts, SqliteDeliveries};
use std::sync::Arc;

fn preview(n: char) -> MeteredPreview {
    MeteredPreview {
        id: PreviewId::new(format!("pv_{}", n.to_string().repeat(32))),
        tenant: TenantId::new("acme"),
        styles: vec![StyleId::new("oil"), StyleId::new("watercolor")],
    }
}

#[tokio::test]
async fn a_redelivered_stage_is_recorded_once_and_ranges_are_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(SqliteCosts::open(&dir.path().join("db.sqlite")).unwrap());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let meter = StageMeter::new(
        ledger.clone(),
        Arc::new(PriceTable::builtin()),
        clock.clone(),
    );
    let units = StageUnits {
        lambda_ms: 800,
        memory_mb: 512,
        lambda_requests: 1,
        ..Default::default()
    };
    let p = preview('a');
    let first = meter
        .record_stage(&p, "analyze", 0, None, &units)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    clock.advance(Duration::hours(1));
    let doubled = StageUnits {
        lambda_ms: 1600,
        ..units.clone()
    };
    let again = meter
        .record_stage(&p, "analyze", 0, None, &doubled)
        .await
        .unwrap();
    assert_eq!(
        again, first,
        "the redelivery returns what was stored the first time"
    );
    meter
        .record_stage(&p, "analyze", 1, None, &units)
        .await
        .unwrap();
    assert_eq!(ledger.lines_for(&p.id).await.unwrap().len(), 4);
    let in_first_hour = ledger
        .lines_between(t0, t0 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(in_first_hour.len(), 2);
    assert!(ledger.lines_for(&preview('b').id).await.unwrap().is_empty());
}

#[tokio::test]
async fn rotated_secrets_stay_live_until_their_grace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteDeliveries::open(&dir.path().join("db.sqlite")).unwrap();
    let tenant = TenantId::new("acme");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let secret = |s: &str, at| EndpointSecret {
        tenant: tenant.clone(),
        secret: s.into(),
        created_at: at,
        expires_at: None,
    };
    store.put_secret(&secret("whsec_old", t0)).await.unwrap();
    store
        .retire_secrets(&tenant, t0 + Duration::hours(24))
        .await
        .unwrap();
    store
        .put_secret(&secret("whsec_new", t0 + Duration::seconds(1)))
        .await
        .unwrap();
    let live = store
        .live_secrets(&tenant, t0 + Duration::hours(1))
        .await
        .unwrap();
    let names: Vec<_> = live.iter().map(|s| s.secret.as_str()).collect();
    assert_eq!(names, ["whsec_new", "whsec_old"]);
    let later = store
        .live_secrets(&tenant, t0 + Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert!(
        store
            .live_secrets(&TenantId::new("other"), t0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn events_keep_their_first_bytes_and_attempts_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteDeliveries::open(&dir.path().join("db.sqlite")).unwrap();
    let p = preview('c');
    let event = WebhookEvent {
        webhook_id: "msg_1".into(),
        preview_id: p.id.clone(),
        tenant: p.tenant.clone(),
        event_type: "preview.ready".into(),
        url: "https://example.com/hook".into(),
        body: "{\"a\":1}".into(),
        created_at: Utc::now(),
    };
    assert!(store.save_event(&event).await.unwrap());
    let changed = WebhookEvent {
        body: "{\"a\":2}".into(),
        ..event.clone()
    };
    assert!(!store.save_event(&changed).await.unwrap());
    assert_eq!(
        store.event("msg_1").await.unwrap().unwrap().body,
        event.body
    );
    for n in 1..=3 {
        store
            .record_attempt(&DeliveryAttempt {
                webhook_id: "msg_1".into(),
                preview_id: p.id.clone(),
                attempt: n,
                url: event.url.clone(),
                at: Utc::now(),
                status_code: Some(500),
                latency_ms: 3,
                error: None,
                outcome: AttemptOutcome::Retrying,
                next_attempt_at: None,
            })
            .await
            .unwrap();
    }
    let attempts: Vec<u32> = store
        .attempts_for(&p.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(store.events_for(&p.id).await.unwrap().len(), 1);
}
