//! Test doubles: an in-memory queue with the `Queue` port's shape, and a
//! scripted render worker that answers through the `Workflow` port.

#![allow(dead_code)]

use likeness_core::ports::{Queue, Workflow};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use likeness_core::testing::MemQueue;

/// One scripted answer to a render message.
#[derive(Clone, Debug)]
pub enum Action {
    SuccessEcho,
    HeartbeatSuccess,
    Fail(String, String),
    Silent,
    /// Holds the message this long, then answers like `SuccessEcho`: to the
    /// state machine the same as a message that waited in the queue for a worker.
    LateSuccess(Duration),
}

impl Action {
    pub fn from_json(v: &Value) -> Self {
        match v["action"].as_str().unwrap_or_default() {
            "success_echo" => Action::SuccessEcho,
            "heartbeat_success" => Action::HeartbeatSuccess,
            "fail" => Action::Fail(
                v["error"].as_str().unwrap_or_default().to_string(),
                v["cause"].as_str().unwrap_or_default().to_string(),
            ),
            "silent" => Action::Silent,
            // The conformance runner runs 20x faster than moto; so does the wait.
            "late_success" => Action::LateSuccess(Duration::from_secs_f64(
                v["seconds"].as_f64().unwrap_or_default() / 20.0,
            )),
            other => panic!("unknown worker action {other:?}"),
        }
    }
}

#[derive(Default)]
pub struct WorkerLog {
    pub messages: Vec<Value>,
    pub tokens: Vec<String>,
    pub problems: Vec<String>,
}

/// Serves `queue` until dropped/aborted, answering messages with `actions` in order.
pub fn spawn_worker(
    queue: Arc<MemQueue>,
    name: &str,
    workflow: Arc<dyn Workflow>,
    actions: Vec<Action>,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<WorkerLog>>) {
    let log = Arc::new(Mutex::new(WorkerLog::default()));
    let name = name.to_string();
    let l = log.clone();
    let handle = tokio::spawn(async move {
        let mut actions: VecDeque<Action> = actions.into();
        loop {
            let got = queue
                .receive(&name, 1, Duration::from_secs(30), Duration::from_secs(5))
                .await
                .unwrap();
            for m in got {
                let mut body: Value = serde_json::from_str(&m.body).unwrap();
                let token = body["TaskToken"].as_str().unwrap().to_string();
                body.as_object_mut().unwrap().remove("TaskToken");
                {
                    let mut lg = l.lock().unwrap();
                    lg.messages.push(body.clone());
                    lg.tokens.push(token.clone());
                }
                let Some(action) = actions.pop_front() else {
                    l.lock()
                        .unwrap()
                        .problems
                        .push(format!("unexpected message {body}"));
                    continue;
                };
                let mut echo = body.clone();
                echo["rendered"] = json!(true);
                match action {
                    Action::Silent => {}
                    Action::HeartbeatSuccess => {
                        workflow.send_task_heartbeat(&token).await.unwrap();
                        workflow.send_task_success(&token, echo).await.unwrap();
                    }
                    Action::SuccessEcho => workflow.send_task_success(&token, echo).await.unwrap(),
                    Action::LateSuccess(wait) => {
                        tokio::time::sleep(wait).await;
                        workflow.send_task_success(&token, echo).await.unwrap();
                    }
                    Action::Fail(e, c) => workflow.send_task_failure(&token, &e, &c).await.unwrap(),
                }
            }
        }
    });
    (handle, log)
}
