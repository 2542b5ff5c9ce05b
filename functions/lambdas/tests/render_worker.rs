//! The render worker's loop with the task message fixture: heartbeats while the
//! engine works, success with the candidates, and on shutdown the in-flight
//! task failed back to the workflow (so Step Functions retries it elsewhere)
//! while nothing more is taken from the queue.

mod common;

use common::{Stack, event, photo_png};
use likeness_core::Catalogue;
use likeness_core::ports::{Blobs, Queue};
use likeness_core::testing::RecordingWorkflow;
use likeness_lambdas::render_worker::{TaskProtection, WorkerSettings, run};
use likeness_render::worker::RenderWorker;
use likeness_render::{Candidate, ClassicEngine, Engine, RenderError, RenderRequest};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PREVIEW: &str = common::PREVIEW;

/// The classic engine, slowed down so the worker's heartbeat and shutdown paths
/// run while it works; it tells the test when it has started.
struct SlowEngine {
    inner: ClassicEngine,
    delay: Duration,
    started: std::sync::Mutex<Option<mpsc::Sender<()>>>,
}

impl Engine for SlowEngine {
    fn name(&self) -> &str {
        "classic"
    }
    fn render(&self, request: &RenderRequest) -> Result<Vec<Candidate>, RenderError> {
        if let Some(tx) = self.started.lock().unwrap().take() {
            let _ = tx.send(());
        }
        std::thread::sleep(self.delay);
        self.inner.render(request)
    }
}

struct Fixture {
    stack: Stack,
    workflow: Arc<RecordingWorkflow>,
    worker: Arc<RenderWorker>,
    started: mpsc::Receiver<()>,
    token: String,
}

async fn fixture(delay: Duration) -> Fixture {
    let stack = Stack::start().await;
    stack
        .blobs
        .put(
            &format!("work/{PREVIEW}/reference.png"),
            photo_png(256),
            "image/png",
        )
        .await
        .unwrap();
    let message = event("render-task-message.json");
    stack
        .queue
        .send("render", &message.to_string(), Duration::ZERO)
        .await
        .unwrap();
    let (tx, started) = mpsc::channel();
    let catalogue = Arc::new(Catalogue::builtin());
    let workflow = Arc::new(RecordingWorkflow::default());
    let worker = Arc::new(RenderWorker {
        queue: stack.queue.clone(),
        queue_name: "render".into(),
        workflow: workflow.clone(),
        blobs: stack.blobs.clone(),
        engine: Arc::new(SlowEngine {
            inner: ClassicEngine::new((*catalogue).clone()),
            delay,
            started: std::sync::Mutex::new(Some(tx)),
        }),
        catalogue,
        heartbeat: Duration::from_millis(100),
        long_side: 128,
        landmarks: None,
    });
    Fixture {
        stack,
        workflow,
        worker,
        started,
        token: message["TaskToken"].as_str().unwrap().to_owned(),
    }
}

async fn wait_started(started: &mpsc::Receiver<()>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while started.try_recv().is_err() {
        assert!(Instant::now() < deadline, "the engine never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_task_is_heartbeaten_rendered_and_answered() {
    let fx = fixture(Duration::from_millis(450)).await;
    let stop = CancellationToken::new();
    // Two loops: the render outlasts the first visibility timeout (4 heartbeats,
    // 400 ms), so without the worker extending it the second loop would take
    // the same message and render it again.
    let running = tokio::spawn(run(fx.worker.clone(), 2, stop.clone(), None));
    let deadline = Instant::now() + Duration::from_secs(60);
    while fx.workflow.successes.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no answer within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.unwrap();

    let successes = fx.workflow.successes.lock().unwrap().clone();
    assert_eq!(successes.len(), 1);
    assert_eq!(successes[0].0, fx.token);
    let candidates = successes[0].1["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    for c in candidates {
        assert!(fx.stack.blob_exists(c["key"].as_str().unwrap()).await);
    }
    let heartbeats = fx.workflow.heartbeats.lock().unwrap().len();
    assert!(
        heartbeats >= 2,
        "{heartbeats} heartbeats in a 450 ms render"
    );
    assert!(fx.workflow.failures.lock().unwrap().is_empty());
    assert_eq!(fx.stack.queue.depth("render").await.unwrap(), 0);
}

#[tokio::test]
async fn shutdown_fails_the_in_flight_task_back_and_takes_no_more() {
    // The engine would take 5 s; the drain must not wait for it.
    let fx = fixture(Duration::from_secs(5)).await;
    // A second task waits on the queue: a draining worker must leave it there.
    fx.stack
        .queue
        .send(
            "render",
            &event("render-task-message.json").to_string(),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let running = tokio::spawn(run(fx.worker.clone(), 1, stop.clone(), None));
    wait_started(&fx.started).await;

    let signalled = Instant::now();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(3), running)
        .await
        .expect("the worker drains promptly, not after the render")
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(3));

    let failures = fx.workflow.failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (token, error, _) = &failures[0];
    assert_eq!(token, &fx.token);
    // Not a States.* name: the Render state's States.TaskFailed retry matches it.
    assert_eq!(error, "Render.Interrupted");
    assert!(fx.workflow.successes.lock().unwrap().is_empty());
    // The failed-back message is deleted (Step Functions sends a new one on
    // retry); the waiting one was never taken.
    let waiting = fx
        .stack
        .queue
        .receive("render", 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].receive_count, 1);
}

#[test]
fn heartbeats_come_three_times_per_heartbeat_timeout() {
    let settings = WorkerSettings {
        queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/render".into(),
        heartbeat_seconds: 60,
        workers: 1,
        long_side: 1024,
    };
    assert_eq!(settings.heartbeat_interval(), Duration::from_secs(20));
    let short = WorkerSettings {
        heartbeat_seconds: 1,
        ..settings
    };
    assert_eq!(short.heartbeat_interval(), Duration::from_secs(1));
}

/// A stand-in for the ECS agent's task-protection endpoint on loopback: it
/// records every state it is asked to set.
async fn fake_ecs_agent() -> (String, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use axum::routing::put;
    let seen: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/task-protection/v1/state",
        put(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body.clone());
                axum::Json(serde_json::json!({"protection": {
                    "ProtectionEnabled": body["ProtectionEnabled"],
                    "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/render/0"
                }}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (uri, seen)
}

#[tokio::test]
async fn the_task_is_protected_from_scale_in_while_it_renders_and_released_when_idle() {
    let fx = fixture(Duration::from_millis(300)).await;
    let (agent, seen) = fake_ecs_agent().await;
    let protection = Arc::new(TaskProtection::new(&agent));
    let stop = CancellationToken::new();
    let running = tokio::spawn(run(fx.worker.clone(), 1, stop.clone(), Some(protection)));
    wait_started(&fx.started).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [serde_json::json!({"ProtectionEnabled": true, "ExpiresInMinutes": 60})],
        "protected before the engine starts"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while fx.workflow.successes.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no answer within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "protection never cleared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    running.await.unwrap();
    assert_eq!(
        seen.lock().unwrap()[1],
        serde_json::json!({"ProtectionEnabled": false}),
        "idle again: the task may be scaled in"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}
