//! The two compositions serve the same handlers: the fixtures in `events/` go
//! through the AWS wiring (each function's ports from `AwsStack`, over moto's
//! DynamoDB and S3, invoked the way the Lambda runtime invokes them) and
//! through the one-machine wiring (the ports `EmbeddedStack` gives the same
//! stages, invoked through the in-process functions the ASL runner calls), on
//! one still clock. Every task's output and every cost line must be equal.

#[path = "../../../shared/aws/tests/moto/mod.rs"]
mod moto;

mod common;

use chrono::{TimeZone, Utc};
use common::{PREVIEW, event, order, photo, photo_png};
use likeness::pipeline::{StageFunctions, function_arn};
use likeness::stack::EmbeddedStack;
use likeness_analyze::handler::{AnalyzePorts, handle_message};
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::cost::CostLine;
use likeness_core::ledger::CostLedger;
use likeness_core::ports::{Blobs, Clock, ManualClock, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::tasks::{FinalizeTask, JudgeTask, StyleOutcome, StyleResult, Verdict};
use likeness_core::testing::RecordingWorkflow;
use likeness_core::{Catalogue, Preview, PreviewId, Status, keys};
use likeness_judge::{DeliveryConfig, finalize, judge_task, mark_failed};
use likeness_lambdas::{AwsStack, task};
use likeness_notify::notify_task;
use likeness_vision::AnalysisConfig;
use likeness_workflow::tasks::{LAMBDA_INVOKE, TaskContext, TaskHandlers};
use serde_json::{Value, json};
use std::sync::Arc;

const FAILING: &str = "pv_0194a6c3e1f27b3e9a4f5d6c7b8a9f02";

/// One side: how to store state, run the analyze handler and invoke a task.
#[async_trait::async_trait]
trait Composition {
    fn previews(&self) -> &dyn Previews;
    fn blobs(&self) -> &dyn Blobs;
    fn ledger(&self) -> &dyn CostLedger;
    async fn analyze(&self, body: &str);
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, (String, String)>;
}

struct Aws {
    stack: AwsStack,
    workflow: Arc<RecordingWorkflow>,
    webhooks_queue: String,
    _moto: moto::Moto,
}

#[async_trait::async_trait]
impl Composition for Aws {
    fn previews(&self) -> &dyn Previews {
        &*self.stack.records
    }
    fn blobs(&self) -> &dyn Blobs {
        &*self.stack.blobs
    }
    fn ledger(&self) -> &dyn CostLedger {
        &*self.stack.records
    }
    async fn analyze(&self, body: &str) {
        let ports = self
            .stack
            .analyze_ports_with(self.workflow.clone(), Some(&self.webhooks_queue));
        handle_message(&ports, body).await.expect("analysed");
    }
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, (String, String)> {
        let s = &self.stack;
        let out = match function {
            "judge" => {
                let ports = s.judge_ports(None);
                task::invoke(function, payload, |t| judge_task::handle(&ports, t)).await
            }
            "finalize" => {
                let ports = s.finalize_ports();
                task::invoke(function, payload, |t| finalize::handle(&ports, t)).await
            }
            "mark-failed" => {
                let ports = s.mark_failed_ports();
                task::invoke(function, payload, |t| mark_failed::handle(&ports, t)).await
            }
            "notify" => {
                let ports = s.notify_ports_with(&self.webhooks_queue);
                task::invoke(function, payload, |t| notify_task::handle(&ports, t)).await
            }
            other => panic!("no function {other}"),
        };
        out.map_err(|d| (d.error_type, d.error_message))
    }
}

struct OneMachine {
    stack: Arc<EmbeddedStack>,
    analyze: AnalyzePorts,
    functions: likeness_workflow::InProcessHandlers,
    _dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Composition for OneMachine {
    fn previews(&self) -> &dyn Previews {
        &*self.stack.records
    }
    fn blobs(&self) -> &dyn Blobs {
        &*self.stack.blobs
    }
    fn ledger(&self) -> &dyn CostLedger {
        &*self.stack.costs
    }
    async fn analyze(&self, body: &str) {
        handle_message(&self.analyze, body).await.expect("analysed");
    }
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, (String, String)> {
        let ctx = TaskContext {
            execution: PREVIEW.into(),
            state: function.into(),
            token: None,
        };
        let parameters = json!({"FunctionName": function_arn(function), "Payload": payload});
        self.functions
            .invoke(LAMBDA_INVOKE, parameters, &ctx)
            .await
            .map(|out| out["Payload"].clone())
            .map_err(|e| (e.error, e.cause))
    }
}

fn still_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 13, 56, 40).unwrap(),
    ))
}

async fn aws(clock: Arc<dyn Clock>) -> Aws {
    let moto = moto::Moto::start();
    let records = Arc::new(moto.create_table("likeness").await);
    moto.create_bucket("likeness").await;
    let webhooks_queue = moto.create_queue("webhooks").await;
    let blobs = Arc::new(S3Blobs::for_endpoint(
        &S3Endpoint {
            url: moto.url.clone(),
            access_key: "test".into(),
            secret_key: "test".into(),
            region: moto::REGION.into(),
        },
        "likeness",
    ));
    Aws {
        stack: AwsStack {
            sdk: moto.sdk_config(),
            records,
            blobs,
            clock,
        },
        workflow: Arc::new(RecordingWorkflow::default()),
        webhooks_queue,
        _moto: moto,
    }
}

async fn one_machine(clock: Arc<dyn Clock>) -> (OneMachine, Arc<RecordingWorkflow>) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Arc::new(
        EmbeddedStack::open_with_clock(dir.path(), 0, clock)
            .await
            .expect("embedded stack"),
    );
    let announcer = Arc::new(likeness::notify::announcer(&stack).await.unwrap());
    let workflow = Arc::new(RecordingWorkflow::default());
    let functions = StageFunctions {
        judge: stack.judge_ports(Arc::new(Catalogue::builtin()), None),
        finalize: stack.finalize_ports(DeliveryConfig::default()),
        mark_failed: stack.mark_failed_ports(),
        notify: stack.notify_ports(
            announcer.clone(),
            Arc::new(likeness::notify::RunnerHistory(Default::default())),
        ),
    }
    .handlers(stack.queue.clone());
    let analyze = stack.analyze_ports(workflow.clone(), AnalysisConfig::default(), announcer);
    (
        OneMachine {
            stack,
            analyze,
            functions,
            _dir: dir,
        },
        workflow,
    )
}

/// Store `preview` and walk it to `status` (the status machine allows no jumps).
async fn store_at(side: &dyn Composition, preview: Preview, status: Status) {
    side.previews().create(&preview).await.unwrap();
    let path: &[Status] = match status {
        Status::AwaitingUpload => &[],
        Status::Rendering => &[Status::Analyzing, Status::Rendering],
        other => panic!("no path to {other:?}"),
    };
    let mut from = Status::AwaitingUpload;
    for &to in path {
        side.previews()
            .transition(&preview.id, from, to, PreviewPatch::default())
            .await
            .unwrap();
        from = to;
    }
}

/// Everything a composition produced for the fixture order, in order.
async fn run(side: &dyn Composition) -> Vec<(String, Result<Value, (String, String)>)> {
    let mut outputs = Vec::new();
    // The upload arrives and is analysed (the first record of the SQS fixture).
    let sqs = event("analyze-sqs-s3-upload.json");
    let body = sqs["Records"][0]["body"].as_str().unwrap().to_owned();
    let ordered = order();
    store_at(side, ordered.clone(), Status::AwaitingUpload).await;
    side.blobs()
        .put(&ordered.upload.key, photo(), "image/jpeg")
        .await
        .unwrap();
    side.analyze(&body).await;
    let analysed = side.previews().get(&ordered.id).await.unwrap().unwrap();
    assert_eq!(
        analysed.status,
        Status::Rendering,
        "{:?}",
        analysed.rejection_reasons
    );

    // The render worker's candidates, as the judge fixture names them.
    let judge: JudgeTask = serde_json::from_value(event("judge.json")).unwrap();
    for candidate in &judge.render.candidates {
        side.blobs()
            .put(&candidate.key, photo_png(320), "image/png")
            .await
            .unwrap();
    }
    let verdict = side.invoke("judge", event("judge.json")).await;
    outputs.push(("judge".to_owned(), verdict.clone()));
    let verdict: Verdict = serde_json::from_value(verdict.expect("a verdict")).unwrap();

    // The map's item for the style, as `StylePassed`/`GiveUp` build it.
    let mut finalize_task: FinalizeTask = serde_json::from_value(event("finalize.json")).unwrap();
    finalize_task.results = vec![StyleResult {
        style: judge.style.clone(),
        index: 0,
        outcome: StyleOutcome::BestEffort,
        attempts: 1,
        verdict,
    }];
    let summary = side
        .invoke("finalize", serde_json::to_value(&finalize_task).unwrap())
        .await;
    outputs.push(("finalize".to_owned(), summary.clone()));
    let mut notify = event("notify-ready.json");
    notify["summary"] = summary.expect("a summary");
    outputs.push(("notify".to_owned(), side.invoke("notify", notify).await));

    // A second order whose render timed out.
    let mut failing = order();
    failing.id = PreviewId::new(FAILING);
    failing.upload.key = keys::upload(&failing.tenant, &failing.id);
    store_at(side, failing, Status::Rendering).await;
    let mut mark = event("mark-failed.json");
    mark["preview_id"] = json!(FAILING);
    outputs.push((
        "mark-failed".to_owned(),
        side.invoke("mark-failed", mark).await,
    ));
    let mut notify_failed = event("notify-failed.json");
    notify_failed["preview_id"] = json!(FAILING);
    outputs.push((
        "notify-failed".to_owned(),
        side.invoke("notify", notify_failed).await,
    ));
    // A payload that does not fit fails with the same error name on both.
    outputs.push((
        "bad payload".to_owned(),
        side.invoke("judge", json!({"preview_id": PREVIEW})).await,
    ));
    outputs
}

async fn cost_lines(side: &dyn Composition) -> Vec<CostLine> {
    let mut lines = Vec::new();
    for id in [PREVIEW, FAILING] {
        lines.extend(side.ledger().lines_for(&PreviewId::new(id)).await.unwrap());
    }
    lines.sort_by(|a, b| {
        (&a.preview_id, &a.stage, a.seq, &a.meter).cmp(&(&b.preview_id, &b.stage, b.seq, &b.meter))
    });
    lines
}

#[tokio::test]
async fn the_aws_and_one_machine_compositions_answer_and_meter_the_same() {
    let clock = still_clock();
    let aws = aws(clock.clone()).await;
    let (local, local_workflow) = one_machine(clock.clone()).await;

    let from_aws = run(&aws).await;
    let from_local = run(&local).await;
    for ((task, a), (_, l)) in from_aws.iter().zip(&from_local) {
        assert_eq!(a, l, "{task}: AWS and one machine differ");
    }
    assert_eq!(from_aws.len(), from_local.len());
    let (name, bad) = &from_aws[from_aws.len() - 1];
    assert_eq!(name, "bad payload");
    assert_eq!(bad.as_ref().unwrap_err().0, "Task.BadPayload");

    // Both started the same execution with the same input.
    let started_aws = aws.workflow.started.lock().unwrap().clone();
    let started_local = local_workflow.started.lock().unwrap().clone();
    assert_eq!(started_aws, started_local);
    assert_eq!(started_aws.len(), 1);

    let aws_lines = cost_lines(&aws).await;
    let local_lines = cost_lines(&local).await;
    assert!(!aws_lines.is_empty());
    let stages: std::collections::BTreeSet<&str> =
        aws_lines.iter().map(|l| l.stage.as_str()).collect();
    for stage in ["analyze", "render", "judge", "finalize", "notify"] {
        assert!(stages.contains(stage), "{stage} not metered: {stages:?}");
    }
    assert_eq!(aws_lines, local_lines, "the ledgers differ");
}
