//! A loopback receiver and an embedded stack for delivery tests.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use likeness_core::ledger::{Deliveries, DeliveryAttempt, EndpointSecret};
use likeness_core::ports::SystemClock;
use likeness_core::preview::UploadSpec;
use likeness_core::{Consent, Preview, PreviewId, Status, StyleId, SubjectKind, TenantId};
use likeness_embedded::{QueueOptions, SqliteDeliveries, SqliteQueue};
use likeness_notify::{Notifier, NotifyConfig, TargetPolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Answers 500 to the first `fail_first` requests, then 204; `redirect` answers 302.
pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Captured>>>,
}

#[derive(Clone)]
struct ReceiverState {
    fail_first: usize,
    redirect: bool,
    count: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Captured>>>,
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.seen.lock().unwrap().push(Captured {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    if state.redirect && uri.path() == "/hook" {
        return (StatusCode::FOUND, [("location", "/elsewhere")]).into_response();
    }
    if n < state.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl Receiver {
    pub async fn start(fail_first: usize, redirect: bool) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            fail_first,
            redirect,
            count: Arc::new(AtomicUsize::new(0)),
            seen: seen.clone(),
        };
        let app = Router::new().fallback(receive).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/hook"),
            seen,
        }
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub deliveries: Arc<SqliteDeliveries>,
    pub queue: Arc<SqliteQueue>,
    pub notifier: Notifier,
}

/// Loopback targets allowed explicitly, plain http, and the schedule run
/// 100 000 times faster (27.5 h in about a second).
pub fn local_config() -> NotifyConfig {
    NotifyConfig {
        time_scale: 1e-5,
        policy: TargetPolicy {
            allow_private_targets: true,
            require_https: false,
        },
        ..NotifyConfig::production()
    }
}

impl Stack {
    pub async fn new(config: NotifyConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("likeness.sqlite");
        let deliveries = Arc::new(SqliteDeliveries::open(&db).unwrap());
        let queue = Arc::new(
            SqliteQueue::open(&dir.path().join("queue.sqlite"), Arc::new(SystemClock)).unwrap(),
        );
        queue
            .declare(
                &config.queue,
                QueueOptions {
                    max_receives: Some(20),
                    dead_letter: Some(config.dead_letter_queue.clone()),
                },
            )
            .await
            .unwrap();
        let notifier = Notifier::new(
            deliveries.clone(),
            queue.clone(),
            Arc::new(SystemClock),
            config,
        );
        Self {
            dir,
            deliveries,
            queue,
            notifier,
        }
    }

    pub async fn add_secret(&self, tenant: &str) -> String {
        let secret = EndpointSecret::generate(&TenantId::new(tenant), Utc::now());
        self.deliveries.put_secret(&secret).await.unwrap();
        secret.secret
    }

    pub async fn attempts(&self, preview: &PreviewId) -> Vec<DeliveryAttempt> {
        self.deliveries.attempts_for(preview).await.unwrap()
    }

    /// Run the worker until `done` holds or `limit` passes.
    pub async fn drive<F, Fut>(&self, limit: Duration, done: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        while !done().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker did not finish within {limit:?}"
            );
            if self.notifier.run_once(Duration::ZERO).await.unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

pub fn ready_preview(n: char, url: &str) -> Preview {
    let now = Utc::now();
    Preview {
        id: PreviewId::new(format!("pv_{}", n.to_string().repeat(32))),
        tenant: TenantId::new("acme"),
        status: Status::Ready,
        subject: SubjectKind::Person,
        styles: vec![StyleId::new("oil"), StyleId::new("watercolor")],
        variations: 1,
        upload: UploadSpec {
            key: "uploads/acme/x/photo".into(),
            content_type: "image/jpeg".into(),
            content_length: 1,
            expires_at: now,
        },
        webhook_url: Some(url.to_owned()),
        consent: Consent {
            rights_to_photo: true,
        },
        created_at: now,
        updated_at: now,
        version: 5,
        analysis: None,
        rejection_reasons: vec![],
        failure: None,
        results: None,
        expires_at: now + chrono::Duration::days(7),
    }
}
