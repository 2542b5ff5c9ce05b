//! The runner on the project's definition and on small ones: named executions,
//! callbacks and heartbeats, retries, failures into the Catch path, and
//! resumption after a restart.

mod common;

use common::{Action, MemQueue, WorkerLog, spawn_worker};
use likeness_core::PortError;
use likeness_core::ports::{Queue, StartOutcome, Workflow};
use likeness_workflow::{
    Definition, ExecutionStatus, FnLambda, InProcessHandlers, Runner, StatesError, Store,
    TimeScale, testing_substitutions,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PREVIEW: &str = include_str!("../../../infra/statemachine/preview.asl.json");
const FAST: f64 = 200.0;

fn arn(f: &str) -> String {
    format!("arn:aws:lambda:local:000000000000:function:{f}")
}

type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// Judge decides by style and attempt; every call is recorded.
fn preview_handlers(
    queue: Arc<MemQueue>,
    judge: impl Fn(&Value) -> Result<Value, StatesError> + Send + Sync + 'static,
) -> (InProcessHandlers, Calls) {
    let calls: Calls = Arc::default();
    let judge = Arc::new(judge);
    let mut h = InProcessHandlers::new().queue(queue);
    for f in ["judge", "finalize", "mark-failed", "notify"] {
        let calls = calls.clone();
        let judge = judge.clone();
        h = h.lambda(
            &arn(f),
            Arc::new(FnLambda::new(move |payload: Value| {
                calls.lock().unwrap().push((f.to_string(), payload.clone()));
                let out = match f {
                    "judge" => judge(&payload),
                    "finalize" => {
                        Ok(json!({"delivered": payload["results"].as_array().map(Vec::len)}))
                    }
                    _ => Ok(json!({})),
                };
                async move { out }
            })),
        );
    }
    (h, calls)
}

fn preview_input(styles: &[&str]) -> Value {
    json!({"preview_id": "pv_1", "tenant": "t1", "subject": "person", "styles": styles, "variations": 2})
}

fn runner(handlers: InProcessHandlers, store: Store, subs: &[(&str, &str)]) -> Runner {
    let mut values = testing_substitutions();
    for (k, v) in subs {
        values.insert(k.to_string(), v.to_string());
    }
    let def = Definition::load(PREVIEW, &values).unwrap();
    Runner::new(
        "preview",
        &def,
        Arc::new(handlers),
        store,
        TimeScale::faster(FAST),
    )
}

async fn finish(r: &Runner, name: &str) -> likeness_workflow::ExecutionRecord {
    r.wait(name, Duration::from_secs(20))
        .await
        .unwrap()
        .expect("execution finished")
}

fn names(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _)| f.clone())
        .collect()
}

#[tokio::test]
async fn preview_renders_judges_retries_with_new_parameters_and_finalizes() {
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |p| {
        Ok(
            match (p["style"].as_str().unwrap(), p["attempt"].as_i64().unwrap()) {
                ("oil", 1) => json!({"decision": "retry", "parameters": {"seed_offset": 7}}),
                _ => json!({"decision": "pass", "scores": {"likeness": 0.9}}),
            },
        )
    });
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let (_w, log) = spawn_worker(queue, "render", wf, vec![Action::SuccessEcho; 3]);
    assert_eq!(
        r.start("pv_1", preview_input(&["watercolor", "oil"]))
            .unwrap(),
        StartOutcome::Started
    );
    let rec = finish(&r, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    let out = rec.output.unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results[0]["style"], "watercolor");
    assert_eq!(results[1]["style"], "oil");
    assert_eq!(results[1]["attempts"], 2);
    assert_eq!(results[1]["outcome"], "passed");
    assert_eq!(out["finalized"]["summary"]["delivered"], 2);
    let log = log.lock().unwrap();
    let retry = log
        .messages
        .iter()
        .find(|m| m["attempt"] == 2)
        .expect("second render");
    assert_eq!(retry["parameters"], json!({"seed_offset": 7}));
    assert_eq!(retry["style"], "oil");
    let n = names(&calls);
    assert_eq!(n.iter().filter(|f| *f == "judge").count(), 3);
    assert_eq!(&n[n.len() - 2..], ["finalize", "notify"]);
    assert_eq!(
        calls.lock().unwrap().last().unwrap().1["type"],
        "preview.ready"
    );
}

#[tokio::test]
async fn a_second_start_with_the_same_name_is_a_no_op() {
    let queue = Arc::new(MemQueue::default());
    let (h, _calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let (_w, log) = spawn_worker(queue, "render", wf.clone(), vec![Action::SuccessEcho; 1]);
    assert_eq!(
        wf.start_execution("pv_1", preview_input(&["oil"]))
            .await
            .unwrap(),
        StartOutcome::Started
    );
    assert_eq!(
        wf.start_execution("pv_1", preview_input(&["oil", "watercolor"]))
            .await
            .unwrap(),
        StartOutcome::AlreadyRunning
    );
    assert_eq!(finish(&r, "pv_1").await.status, ExecutionStatus::Succeeded);
    assert_eq!(
        wf.start_execution("pv_1", json!({})).await.unwrap(),
        StartOutcome::AlreadyRunning
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(log.lock().unwrap().messages.len(), 1);
}

#[tokio::test]
async fn a_render_nobody_answers_fails_at_the_cap_and_is_not_retried() {
    // The render task has no heartbeat (queue time must not count): a task no
    // worker answers waits until TimeoutSeconds and then fails the preview.
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let (_w, log) = spawn_worker(queue, "render", wf, vec![Action::Silent]);
    r.start("pv_1", preview_input(&["oil"])).unwrap();
    let rec = finish(&r, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    let history = r.history("pv_1").unwrap();
    let timed_out = history
        .iter()
        .find(|e| e.kind == "TaskTimedOut")
        .expect("timeout event");
    assert_eq!(timed_out.detail["Error"], "States.Timeout");
    assert!(
        !history.iter().any(|e| e.kind == "StateRetryScheduled"),
        "a render that waited out the cap is not sent again"
    );
    assert_eq!(log.lock().unwrap().messages.len(), 1);
    assert_eq!(names(&calls), ["mark-failed", "notify"]);
    assert_eq!(
        calls.lock().unwrap()[0].1["error"]["Error"],
        "States.Timeout"
    );
}

#[tokio::test]
async fn failures_back_off_exponentially_then_fall_into_mark_failed_and_notify() {
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let fail = Action::Fail("GpuOOM".into(), "no memory".into());
    let (_w, _log) = spawn_worker(queue, "render", wf, vec![fail.clone(), fail.clone(), fail]);
    r.start("pv_1", preview_input(&["oil"])).unwrap();
    let rec = finish(&r, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("PreviewFailed"));
    let delays: Vec<f64> = r
        .history("pv_1")
        .unwrap()
        .iter()
        .filter(|e| e.kind == "StateRetryScheduled")
        .map(|e| e.detail["delay_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(delays, [2.0, 4.0]);
    assert_eq!(names(&calls), ["mark-failed", "notify"]);
    let c = calls.lock().unwrap();
    assert_eq!(c[0].1["error"]["Error"], "GpuOOM");
    assert_eq!(c[1].1["type"], "preview.failed");
    assert_eq!(
        r.states_entered("pv_1").unwrap(),
        [
            "Configure",
            "RenderStyles",
            "Render",
            "MarkFailed",
            "NotifyFailed",
            "Failed"
        ]
    );
}

#[tokio::test]
async fn a_judge_that_throws_fails_the_preview_and_queues_a_notification() {
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| {
        Err(StatesError::new("JudgeCrashed", "boom"))
    });
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let (_w, _log) = spawn_worker(queue, "render", wf, vec![Action::SuccessEcho; 2]);
    r.start("pv_1", preview_input(&["oil", "lineart"])).unwrap();
    let rec = finish(&r, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    let n = names(&calls);
    assert!(
        n.ends_with(&["mark-failed".to_string(), "notify".to_string()]),
        "{n:?}"
    );
    let c = calls.lock().unwrap();
    assert_eq!(
        c.iter().find(|(f, _)| f == "mark-failed").unwrap().1["error"]["Error"],
        "JudgeCrashed"
    );
}

#[tokio::test]
async fn map_respects_max_concurrency() {
    let queue = Arc::new(MemQueue::default());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls: Calls = Arc::default();
    let (i2, p2) = (in_flight.clone(), peak.clone());
    let mut h = InProcessHandlers::new().queue(queue.clone());
    h = h.lambda(
        &arn("judge"),
        Arc::new(FnLambda::new(move |_p: Value| {
            let (i, p) = (i2.clone(), p2.clone());
            async move {
                let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                i.fetch_sub(1, Ordering::SeqCst);
                Ok(json!({"decision": "pass"}))
            }
        })),
    );
    for f in ["finalize", "mark-failed", "notify"] {
        let calls = calls.clone();
        h = h.lambda(
            &arn(f),
            Arc::new(FnLambda::new(move |p: Value| {
                calls.lock().unwrap().push((f.to_string(), p));
                async { Ok(json!({})) }
            })),
        );
    }
    let r = runner(h, Store::in_memory().unwrap(), &[("MaxConcurrency", "2")]);
    let wf: Arc<dyn Workflow> = Arc::new(r.clone());
    let (_w, _log) = spawn_worker(queue, "render", wf, vec![Action::SuccessEcho; 5]);
    r.start("pv_1", preview_input(&["a", "b", "c", "d", "e"]))
        .unwrap();
    assert_eq!(finish(&r, "pv_1").await.status, ExecutionStatus::Succeeded);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_execution_resumes_after_a_restart_without_resending_the_render() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("workflow.sqlite");
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let first = runner(h.clone(), Store::open(&db).unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(first.clone());
    let (w, log) = spawn_worker(queue.clone(), "render", wf, vec![Action::Silent]);
    first.start("pv_1", preview_input(&["oil"])).unwrap();
    wait_for(&log, 1).await;
    first.halt();
    w.abort();
    let token = log.lock().unwrap().tokens[0].clone();

    // A new process on the same database: the worker's late answer is kept until the execution resumes.
    let second = runner(h, Store::open(&db).unwrap(), &[]);
    second
        .send_task_success(&token, json!({"rendered": true, "style": "oil"}))
        .await
        .unwrap();
    assert_eq!(second.recover().unwrap(), ["pv_1"]);
    let rec = finish(&second, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Succeeded, "{rec:?}");
    assert_eq!(
        rec.output.unwrap()["results"][0]["verdict"]["decision"],
        "pass"
    );
    assert_eq!(
        queue
            .receive("render", 10, Duration::from_secs(1), Duration::ZERO)
            .await
            .unwrap()
            .len(),
        0,
        "the render message was not sent twice"
    );
    assert_eq!(names(&calls), ["judge", "finalize", "notify"]);
    // Once finished, a stale answer is not an error and changes nothing.
    second.send_task_success(&token, json!({})).await.unwrap();
    assert!(matches!(
        second.send_task_heartbeat(&token).await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        second.send_task_success("nope", json!({})).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_resumed_task_still_times_out_rather_than_waiting_forever() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("workflow.sqlite");
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let first = runner(h.clone(), Store::open(&db).unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(first.clone());
    let (w, log) = spawn_worker(queue.clone(), "render", wf, vec![Action::Silent]);
    first.start("pv_1", preview_input(&["oil"])).unwrap();
    wait_for(&log, 1).await;
    first.halt();
    w.abort();

    // Nobody answers the old token: the resumed wait still ends at the task's
    // cap (not retried, no fresh message), then the Catch path.
    let second = runner(h, Store::open(&db).unwrap(), &[]);
    second.recover().unwrap();
    let wf: Arc<dyn Workflow> = Arc::new(second.clone());
    let (_w2, log2) = spawn_worker(queue, "render", wf, vec![Action::Silent]);
    let rec = finish(&second, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(log2.lock().unwrap().messages.len(), 0);
    assert_eq!(names(&calls), ["mark-failed", "notify"]);
    assert_eq!(
        calls.lock().unwrap()[0].1["error"]["Error"],
        "States.Timeout"
    );
}

#[tokio::test]
async fn a_restart_onto_a_changed_definition_fails_into_the_catch_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("workflow.sqlite");
    let queue = Arc::new(MemQueue::default());
    let (h, calls) = preview_handlers(queue.clone(), |_| Ok(json!({"decision": "pass"})));
    let first = runner(h.clone(), Store::open(&db).unwrap(), &[]);
    let wf: Arc<dyn Workflow> = Arc::new(first.clone());
    let (w, log) = spawn_worker(queue.clone(), "render", wf, vec![Action::Silent]);
    first.start("pv_1", preview_input(&["oil"])).unwrap();
    wait_for(&log, 1).await;
    first.halt();
    w.abort();

    // The new release renamed the render state the iteration was waiting in.
    let changed = PREVIEW.replace("\"Render\"", "\"Draw\"");
    let def = Definition::load(&changed, &testing_substitutions()).unwrap();
    let second = Runner::new(
        "preview",
        &def,
        Arc::new(h),
        Store::open(&db).unwrap(),
        TimeScale::faster(FAST),
    );
    second.recover().unwrap();
    let rec = finish(&second, "pv_1").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(names(&calls), ["mark-failed", "notify"]);
    assert_eq!(
        calls.lock().unwrap()[0].1["error"]["Error"],
        "Runner.ResumeFailed"
    );
}

#[tokio::test]
async fn timeout_seconds_is_a_hard_cap_despite_heartbeats() {
    let def = r#"{"StartAt": "W", "States": {
        "W": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
              "Parameters": {"QueueUrl": "https://q/1/jobs", "MessageBody": {"TaskToken.$": "$$.Task.Token"}},
              "HeartbeatSeconds": 10, "TimeoutSeconds": 30, "End": true}}}"#;
    let queue = Arc::new(MemQueue::default());
    let d = Definition::load(def, &Default::default()).unwrap();
    let r = Runner::new(
        "m",
        &d,
        Arc::new(InProcessHandlers::new().queue(queue.clone())),
        Store::in_memory().unwrap(),
        TimeScale::faster(FAST),
    );
    r.start("e", json!({})).unwrap();
    let msg = loop {
        let m = queue
            .receive("jobs", 1, Duration::from_secs(1), Duration::from_secs(2))
            .await
            .unwrap();
        if let Some(m) = m.into_iter().next() {
            break m;
        }
    };
    let token = serde_json::from_str::<Value>(&msg.body).unwrap()["TaskToken"]
        .as_str()
        .unwrap()
        .to_string();
    // Beat every 5 definition seconds (25 ms) for longer than the 30 s cap.
    for _ in 0..12 {
        if r.send_task_heartbeat(&token).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rec = finish(&r, "e").await;
    assert_eq!(rec.status, ExecutionStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("States.Timeout"));
}

#[tokio::test]
async fn waits_and_fail_paths_use_the_input() {
    let def = r#"{"StartAt": "A", "States": {
        "A": {"Type": "Wait", "SecondsPath": "$.s", "Next": "B"},
        "B": {"Type": "Wait", "TimestampPath": "$.t", "Next": "C"},
        "C": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('took {}s', $.s)"}}}"#;
    let err = Definition::load(def, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("CausePath"), "{err}");
    let def = def.replace("States.Format('took {}s', $.s)", "$.c");
    let d = Definition::load(&def, &Default::default()).unwrap();
    let r = Runner::new(
        "m",
        &d,
        Arc::new(InProcessHandlers::new()),
        Store::in_memory().unwrap(),
        TimeScale::faster(FAST),
    );
    let t = (chrono::Utc::now() + chrono::Duration::milliseconds(150)).to_rfc3339();
    let started = std::time::Instant::now();
    r.start("e", json!({"s": 20, "t": t, "e": "Custom", "c": "why"}))
        .unwrap();
    let rec = finish(&r, "e").await;
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(
        (rec.error.as_deref(), rec.cause.as_deref()),
        (Some("Custom"), Some("why"))
    );
    assert_eq!(r.states_entered("e").unwrap(), ["A", "B", "C"]);
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let (h, _calls) = preview_handlers(Arc::new(MemQueue::default()), |_| Ok(json!({})));
    let r = runner(h, Store::in_memory().unwrap(), &[]);
    let err = r.start("pv_1", preview_input(&["oil"])).unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

async fn wait_for(log: &Arc<Mutex<WorkerLog>>, n: usize) {
    for _ in 0..400 {
        if log.lock().unwrap().messages.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("worker never received {n} messages");
}
