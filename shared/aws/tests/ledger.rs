//! The cost ledger and webhook deliveries on DynamoRecords against moto: a
//! stage run is recorded once, lines come back per preview and per time range,
//! events are stored once by webhook id, attempts and secrets in order.

mod moto;

use chrono::{Duration, TimeZone, Utc};
use likeness_aws::DynamoRecords;
use likeness_core::cost::CostLine;
use likeness_core::ledger::{
    AttemptOutcome, CostLedger, Deliveries, DeliveryAttempt, EndpointSecret, WebhookEvent,
};
use likeness_core::{PortError, PreviewId, StyleId, TenantId};

async fn table(moto: &moto::Moto) -> DynamoRecords {
    moto.create_table("likeness").await
}

fn line(preview: &str, stage: &str, seq: u32, meter: &str, at: chrono::DateTime<Utc>) -> CostLine {
    CostLine {
        preview_id: PreviewId::new(preview),
        tenant: TenantId::new("acme"),
        stage: stage.into(),
        seq,
        meter: meter.into(),
        styles: vec![StyleId::new("oil")],
        quantity: 2.0,
        unit: "GB-s".into(),
        unit_price_usd: 0.25,
        price_table_version: "2026-11".into(),
        usd: 0.5,
        recorded_at: at,
    }
}

#[tokio::test]
async fn a_stage_run_is_recorded_once_and_read_by_preview_and_by_range() {
    let moto = moto::Moto::start();
    let ledger = table(&moto).await;
    let day = Utc.with_ymd_and_hms(2026, 11, 25, 23, 59, 0).unwrap();
    let run = [
        line("pv_a", "judge", 1, "lambda_gb_s", day),
        line("pv_a", "judge", 1, "lambda_requests", day),
    ];
    assert!(ledger.record(&run).await.unwrap());
    assert!(
        !ledger.record(&run).await.unwrap(),
        "a redelivered stage counts once"
    );
    let next_day = day + Duration::minutes(2);
    assert!(
        ledger
            .record(&[line("pv_a", "finalize", 1, "lambda_gb_s", next_day)])
            .await
            .unwrap()
    );
    assert!(
        ledger
            .record(&[line("pv_b", "judge", 1, "lambda_gb_s", next_day)])
            .await
            .unwrap()
    );

    let lines = ledger.lines_for(&PreviewId::new("pv_a")).await.unwrap();
    let names: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.stage.as_str(), l.meter.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("judge", "lambda_gb_s"),
            ("judge", "lambda_requests"),
            ("finalize", "lambda_gb_s")
        ]
    );
    assert_eq!(lines[0], run[0]);

    // Across midnight: both days' index partitions, bounded at both ends.
    let all = ledger
        .lines_between(day - Duration::hours(1), next_day + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let second_day = ledger
        .lines_between(day + Duration::seconds(1), next_day + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(second_day.len(), 2);
    assert!(second_day.iter().all(|l| l.recorded_at == next_day));

    let mixed = [
        line("pv_c", "judge", 1, "a", day),
        line("pv_c", "judge", 2, "b", day),
    ];
    assert!(matches!(
        ledger.record(&mixed).await,
        Err(PortError::Invalid(_))
    ));
}

#[tokio::test]
async fn events_attempts_and_secrets() {
    let moto = moto::Moto::start();
    let deliveries = table(&moto).await;
    let preview = PreviewId::new("pv_a");
    let tenant = TenantId::new("acme");
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let event = WebhookEvent {
        webhook_id: "msg_1".into(),
        preview_id: preview.clone(),
        tenant: tenant.clone(),
        event_type: "preview.ready".into(),
        url: "https://hooks.example.com/likeness".into(),
        body: r#"{"type":"preview.ready"}"#.into(),
        created_at: at,
    };
    assert!(deliveries.save_event(&event).await.unwrap());
    let changed = WebhookEvent {
        body: "{}".into(),
        ..event.clone()
    };
    assert!(!deliveries.save_event(&changed).await.unwrap());
    assert_eq!(
        deliveries.event("msg_1").await.unwrap(),
        Some(event.clone())
    );
    assert_eq!(deliveries.event("msg_2").await.unwrap(), None);
    assert_eq!(deliveries.events_for(&preview).await.unwrap(), [event]);

    for n in [1, 2] {
        deliveries
            .record_attempt(&DeliveryAttempt {
                webhook_id: "msg_1".into(),
                preview_id: preview.clone(),
                attempt: n,
                url: "https://hooks.example.com/likeness".into(),
                at: at + Duration::seconds(5 * i64::from(n)),
                status_code: Some(if n == 1 { 503 } else { 204 }),
                latency_ms: 40,
                error: None,
                outcome: if n == 1 {
                    AttemptOutcome::Retrying
                } else {
                    AttemptOutcome::Delivered
                },
                next_attempt_at: None,
            })
            .await
            .unwrap();
    }
    let attempts = deliveries.attempts_for(&preview).await.unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2]
    );

    let old = EndpointSecret::generate(&tenant, at);
    let new = EndpointSecret::generate(&tenant, at + Duration::hours(1));
    deliveries.put_secret(&old).await.unwrap();
    deliveries
        .retire_secrets(&tenant, at + Duration::hours(2))
        .await
        .unwrap();
    deliveries.put_secret(&new).await.unwrap();
    let live = deliveries
        .live_secrets(&tenant, at + Duration::minutes(90))
        .await
        .unwrap();
    assert_eq!(
        live.iter().map(|s| &s.secret).collect::<Vec<_>>(),
        [&new.secret, &old.secret],
        "newest first"
    );
    let later = deliveries
        .live_secrets(&tenant, at + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(later, [new]);
}
