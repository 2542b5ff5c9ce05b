//! The conformance cases of `tests/conformance/cases.json`, run in the embedded
//! runner and compared with what moto_server's Step Functions interpreter did
//! (recorded by `tests/conformance/run.sh record` in `moto-results.json`):
//! same status, output, error, sequence of states entered, and the same
//! messages on the render queue.

mod common;

use common::{Action, MemQueue, spawn_worker};
use likeness_core::ports::Workflow;
use likeness_workflow::{
    Definition, ExecutionStatus, FnLambda, InProcessHandlers, Runner, StatesError, Store, TimeScale,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(rel: &str) -> Value {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const FUNCTIONS: [(&str, &str); 4] = [
    ("JudgeFunctionArn", "judge"),
    ("FinalizeFunctionArn", "finalize"),
    ("MarkFailedFunctionArn", "mark-failed"),
    ("NotifyFunctionArn", "notify"),
];

async fn run_case(case: &Value, base: &BTreeMap<String, String>) -> Value {
    let name = case["name"].as_str().unwrap();
    let queue = Arc::new(MemQueue::default());
    let mut subs = base.clone();
    subs.insert(
        "RenderQueueUrl".into(),
        "http://sqs.local:4566/000000000000/render".into(),
    );
    // Like moto's lambda-simple backend: queued results in invocation order, then echo.
    let results: Arc<Mutex<VecDeque<Value>>> = Arc::new(Mutex::new(
        case["lambda"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into(),
    ));
    let mut handlers = InProcessHandlers::new().queue(queue.clone());
    for (key, function) in FUNCTIONS {
        let arn = format!("arn:aws:lambda:local:000000000000:function:{function}");
        subs.insert(key.into(), arn.clone());
        let results = results.clone();
        handlers = handlers.lambda(
            &arn,
            Arc::new(FnLambda::new(move |payload| {
                let next = results.lock().unwrap().pop_front();
                async move { Ok::<_, StatesError>(next.unwrap_or(payload)) }
            })),
        );
    }
    let text = std::fs::read_to_string(repo().join(case["definition"].as_str().unwrap())).unwrap();
    let definition = Definition::load(&text, &subs).unwrap();
    let runner = Runner::new(
        name,
        &definition,
        Arc::new(handlers),
        Store::in_memory().unwrap(),
        TimeScale::faster(20.0),
    );
    let actions = case["worker"]
        .as_array()
        .map(|a| a.iter().map(Action::from_json).collect())
        .unwrap_or_default();
    let workflow: Arc<dyn Workflow> = Arc::new(runner.clone());
    let (worker, log) = spawn_worker(queue, "render", workflow, actions);
    runner.start(name, case["input"].clone()).unwrap();
    let record = runner
        .wait(name, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{name}: still running after 30 s"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.abort();
    let log = log.lock().unwrap();
    json!({
        "name": name,
        "status": match record.status {
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Running => "RUNNING",
        },
        "output": record.output,
        "error": record.error,
        "cause": record.cause,
        "entered": runner.states_entered(name).unwrap(),
        "messages": log.messages,
        "worker_problems": log.problems,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_matches_moto_on_every_case() {
    let spec = read_json("tests/conformance/cases.json");
    let recorded = read_json("tests/conformance/moto-results.json");
    let base: BTreeMap<String, String> =
        serde_json::from_value(spec["substitutions"].clone()).unwrap();
    let cases = spec["cases"].as_array().unwrap();
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let want = recorded["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| {
                panic!("{name}: no moto result recorded; run tests/conformance/run.sh record")
            });
        let got = run_case(case, &base).await;
        for key in [
            "status",
            "output",
            "error",
            "cause",
            "entered",
            "messages",
            "worker_problems",
        ] {
            if want[key] != got[key] {
                mismatches.push(format!(
                    "{name}.{key}:\n   moto   {}\n   runner {}",
                    want[key], got[key]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "runner differs from moto:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(cases.len(), recorded["results"].as_array().unwrap().len());
}
