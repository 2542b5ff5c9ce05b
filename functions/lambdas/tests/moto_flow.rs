//! One upload through the AWS side of likeness against `moto_server`
//! (started and stopped here, as shared/aws's tests do): the api function
//! issues a presigned PUT, the photo goes to moto S3, S3 puts its notification
//! on moto SQS, the analyze handler takes that real message and starts the
//! execution on moto Step Functions (its ASL interpreter, running
//! `infra/statemachine/preview.asl.json`), a render worker with the classic
//! engine receives the task token through the real SQS message, heartbeats and
//! succeeds, and the execution reaches finalize and notify.
//!
//! What moto cannot run, and how this test drives it instead:
//! - moto's `lambda:invoke` task needs a Docker daemon to run a function (or
//!   returns canned results, which would fake the judge). The definition is
//!   deployed with each `lambda:invoke` state turned into an
//!   `sqs:sendMessage.waitForTaskToken` state carrying the same `Payload`; this
//!   test receives those messages, runs the real judge/finalize/mark-failed/
//!   notify handlers in-process, and answers with the result wrapped as
//!   `{"Payload": ...}`, which is what `lambda:invoke` returns to the
//!   state's `ResultSelector`. Everything else in the definition is unchanged.
//! - the judge runs without the identity model (people are judged by structure
//!   only), so the test does not depend on downloaded weights.

#[path = "../../../shared/aws/tests/moto/mod.rs"]
mod moto;

mod common;

use aws_lambda_events::event::sqs::SqsEvent;
use common::{API_KEY, TENANT, event, lambda_event};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use lambda_runtime::Diagnostic;
use likeness_analyze::handler::{Disposition, disposition, handle_message};
use likeness_api::{ApiConfig, ApiState, auth};
use likeness_aws::{DynamoRecords, S3Blobs, S3Endpoint, SqsQueue, StepFunctionsWorkflow};
use likeness_core::ledger::{CostLedger, Deliveries};
use likeness_core::ports::{
    ApiKeyRecord, ApiKeys, Blobs, KeyScope, Previews, Queue, QueueMessage, RandomIds, SystemClock,
    Workflow,
};
use likeness_core::{Catalogue, PortError, PreviewId, Status, TenantId};
use likeness_judge::{
    FinalizePorts, JudgePorts, MarkFailedPorts, finalize, judge_task, mark_failed,
};
use likeness_lambdas::{AwsStack, task};
use likeness_notify::{NotifyPorts, notify_task};
use likeness_render::worker::RenderWorker;
use likeness_render::{Candidate, ClassicEngine, Engine, RenderError, RenderRequest};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BUCKET: &str = "likeness-uploads";
use moto::ACCOUNT;
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:likeness-";
const ROLE: &str = "arn:aws:iam::123456789012:role/likeness-sfn";

struct Infra {
    uploads_queue: String,
    render_queue: String,
    lambda_queue: String,
    webhooks_queue: String,
    state_machine: String,
}

/// `lambda:invoke` states become SQS callback states on `queue_url` with the
/// same payload (see the module comment); every other state is left alone.
fn callbacks_for_lambdas(states: &mut serde_json::Map<String, Value>, queue_url: &str) {
    for state in states.values_mut() {
        if let Some(inner) = state
            .pointer_mut("/ItemProcessor/States")
            .and_then(Value::as_object_mut)
        {
            callbacks_for_lambdas(inner, queue_url);
        }
        if state["Resource"] != "arn:aws:states:::lambda:invoke" {
            continue;
        }
        let function = state["Parameters"]["FunctionName"].clone();
        let payload = state["Parameters"]["Payload"].clone();
        state["Resource"] = json!("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        state["Parameters"] = json!({
            "QueueUrl": queue_url,
            "MessageBody": {
                "TaskToken.$": "$$.Task.Token",
                "function": function,
                "Payload": payload,
            }
        });
    }
}

async fn infra(moto: &moto::Moto) -> Infra {
    let sdk = moto.sdk_config();
    let uploads_queue = moto.create_queue("uploads").await;
    let render_queue = moto.create_queue("render").await;
    let lambda_queue = moto.create_queue("lambda-invocations").await;
    let webhooks_queue = moto.create_queue("webhooks").await;
    moto.create_table("likeness").await;
    moto.create_bucket(BUCKET).await;
    moto.notify_uploads(BUCKET, "uploads").await;

    let mut definition: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_path("infra/statemachine/preview.asl.json"))
            .expect("the state machine definition"),
    )
    .unwrap();
    callbacks_for_lambdas(definition["States"].as_object_mut().unwrap(), &lambda_queue);
    // SAM's DefinitionSubstitutions, as the template makes them.
    let mut text = definition.to_string();
    for (name, value) in [
        ("RenderQueueUrl", render_queue.clone()),
        ("JudgeFunctionArn", format!("{FUNCTION_ARN}judge")),
        ("FinalizeFunctionArn", format!("{FUNCTION_ARN}finalize")),
        (
            "MarkFailedFunctionArn",
            format!("{FUNCTION_ARN}mark-failed"),
        ),
        ("NotifyFunctionArn", format!("{FUNCTION_ARN}notify")),
        ("MaxConcurrency", "2".into()),
        ("MaxJudgeAttempts", "2".into()),
    ] {
        text = text.replace(&format!("${{{name}}}"), &value);
    }
    assert!(!text.contains("${"), "a substitution is missing: {text}");
    let state_machine = aws_sdk_sfn::Client::new(&sdk)
        .create_state_machine()
        .name("likeness-preview")
        .definition(text)
        .role_arn(ROLE)
        .send()
        .await
        .expect("create state machine")
        .state_machine_arn;
    Infra {
        uploads_queue,
        render_queue,
        lambda_queue,
        webhooks_queue,
        state_machine,
    }
}

/// Counts the heartbeats that Step Functions accepted.
struct CountingWorkflow {
    inner: StepFunctionsWorkflow,
    heartbeats: AtomicUsize,
}

#[async_trait::async_trait]
impl Workflow for CountingWorkflow {
    async fn start_execution(
        &self,
        name: &str,
        input: Value,
    ) -> Result<likeness_core::ports::StartOutcome, PortError> {
        self.inner.start_execution(name, input).await
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), PortError> {
        self.inner.send_task_success(token, output).await
    }
    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), PortError> {
        self.inner.send_task_failure(token, error, cause).await
    }
    async fn send_task_heartbeat(&self, token: &str) -> Result<(), PortError> {
        self.inner.send_task_heartbeat(token).await?;
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The classic engine, held to at least `min` per task so that the worker's
/// heartbeats run during the render.
struct AtLeast {
    inner: ClassicEngine,
    min: Duration,
}

impl Engine for AtLeast {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn render(&self, request: &RenderRequest) -> Result<Vec<Candidate>, RenderError> {
        let started = Instant::now();
        let out = self.inner.render(request);
        std::thread::sleep(self.min.saturating_sub(started.elapsed()));
        out
    }
}

/// Runs the real function handlers for the `lambda:invoke` states (module
/// comment), over the ports `AwsStack` gives each function when deployed.
struct Functions {
    judge: JudgePorts,
    finalize: FinalizePorts,
    mark_failed: MarkFailedPorts,
    notify: NotifyPorts,
    invoked: std::sync::Mutex<Vec<String>>,
}

impl Functions {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Diagnostic> {
        let name = function
            .strip_prefix(FUNCTION_ARN)
            .unwrap_or_else(|| panic!("unknown function {function}"));
        self.invoked.lock().unwrap().push(name.to_owned());
        match name {
            "judge" => task::invoke(name, payload, |t| judge_task::handle(&self.judge, t)).await,
            "finalize" => {
                task::invoke(name, payload, |t| finalize::handle(&self.finalize, t)).await
            }
            "mark-failed" => {
                task::invoke(name, payload, |t| mark_failed::handle(&self.mark_failed, t)).await
            }
            "notify" => task::invoke(name, payload, |t| notify_task::handle(&self.notify, t)).await,
            other => panic!("no function {other}"),
        }
    }

    async fn serve(
        &self,
        queue: &SqsQueue,
        url: &str,
        sfn: &StepFunctionsWorkflow,
        stop: CancellationToken,
    ) {
        while !stop.is_cancelled() {
            let messages = tokio::select! {
                _ = stop.cancelled() => return,
                r = queue.receive(url, 10, Duration::from_secs(120), Duration::from_secs(1)) => r.expect("receive invocations"),
            };
            for message in messages {
                let body: Value = serde_json::from_str(&message.body).unwrap();
                let token = body["TaskToken"].as_str().unwrap();
                let function = body["function"].as_str().unwrap();
                match self.invoke(function, body["Payload"].clone()).await {
                    Ok(result) => sfn
                        .send_task_success(token, json!({"Payload": result, "StatusCode": 200}))
                        .await
                        .expect("answer the invocation"),
                    Err(e) => sfn
                        .send_task_failure(token, &e.error_type, &e.error_message)
                        .await
                        .expect("fail the invocation"),
                }
                queue.delete(url, &message.receipt_handle).await.unwrap();
            }
        }
    }
}

/// The SQS event the Lambda event source would build from received messages.
fn sqs_event(messages: &[QueueMessage], queue_arn: &str) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": moto::REGION,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

async fn create_order(state: ApiState) -> (PreviewId, Value) {
    let request: LambdaRequest = serde_json::from_value(event("api-create-preview.json")).unwrap();
    let mut adapter = Adapter::from(likeness_api::router(state));
    std::future::poll_fn(|cx| adapter.poll_ready(cx))
        .await
        .unwrap();
    let response =
        serde_json::to_value(adapter.call(lambda_event(request)).await.unwrap()).unwrap();
    assert_eq!(response["statusCode"], 201, "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (
        PreviewId::new(body["id"].as_str().unwrap()),
        body["upload"].clone(),
    )
}

async fn execution_status(sfn: &aws_sdk_sfn::Client, arn: &str) -> (String, Option<Value>) {
    let out = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .expect("describe execution");
    (
        out.status.as_str().to_owned(),
        out.output.map(|o| serde_json::from_str(&o).unwrap()),
    )
}

async fn states_entered(sfn: &aws_sdk_sfn::Client, arn: &str) -> Vec<String> {
    let history = sfn
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .send()
        .await
        .expect("execution history");
    history
        .events
        .iter()
        .filter_map(|e| e.state_entered_event_details.as_ref())
        .map(|d| d.name.clone())
        .collect()
}

#[tokio::test]
async fn an_upload_goes_from_a_presigned_put_to_a_finalized_preview() {
    let moto = moto::Moto::start();
    moto.execute_state_machines().await;
    let infra = infra(&moto).await;
    let sdk = moto.sdk_config();
    let records = Arc::new(DynamoRecords::from_sdk_config(&sdk, "likeness"));
    let blobs = Arc::new(S3Blobs::for_endpoint(
        &S3Endpoint {
            url: moto.url.clone(),
            access_key: "test".into(),
            secret_key: "test".into(),
            region: moto::REGION.into(),
        },
        BUCKET,
    ));
    let queue = Arc::new(SqsQueue::from_sdk_config(&sdk));
    let sfn = StepFunctionsWorkflow::from_sdk_config(&sdk, &infra.state_machine);
    let answers = StepFunctionsWorkflow::from_sdk_config(&sdk, &infra.state_machine);
    let sfn_client = aws_sdk_sfn::Client::new(&sdk);

    // 1. The api function takes the order and presigns the upload.
    records
        .put_key(&ApiKeyRecord {
            hash: auth::hash_key(API_KEY),
            tenant: TenantId::new(TENANT),
            scope: KeyScope::Tenant,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let api = ApiState {
        previews: records.clone(),
        keys: records.clone(),
        blobs: blobs.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        catalogue: Arc::new(Catalogue::builtin()),
        config: ApiConfig::default(),
        deliveries: records.clone(),
        costs: records.clone(),
    };
    let (id, upload) = create_order(api).await;

    // 2. The browser PUTs the photo with exactly the presigned headers.
    let mut put = reqwest::Client::new()
        .put(upload["url"].as_str().unwrap())
        .body(common::photo());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let response = put.send().await.expect("presigned PUT");
    assert!(response.status().is_success(), "{}", response.status());

    // 3. S3's notification arrives on the uploads queue (after S3's test event).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut messages = Vec::new();
    while !messages
        .iter()
        .any(|m: &QueueMessage| m.body.contains("ObjectCreated"))
    {
        assert!(
            Instant::now() < deadline,
            "no ObjectCreated notification from moto S3"
        );
        messages.extend(
            queue
                .receive(
                    &infra.uploads_queue,
                    10,
                    Duration::from_secs(60),
                    Duration::from_secs(1),
                )
                .await
                .unwrap(),
        );
    }
    let created: Value = serde_json::from_str(
        &messages
            .iter()
            .find(|m| m.body.contains("ObjectCreated"))
            .unwrap()
            .body,
    )
    .unwrap();
    let record = &created["Records"][0];
    assert_eq!(record["s3"]["object"]["size"], 279_922);
    // moto writes eventTime as `2026-11-26T13:56:39.123Z`; core parses it below.
    assert!(
        record["eventTime"].as_str().unwrap().ends_with('Z'),
        "{record}"
    );

    // 4. The analyze handler gets them as the Lambda SQS event source batches them.
    let stack = AwsStack {
        sdk: sdk.clone(),
        records: records.clone(),
        blobs: blobs.clone(),
        clock: Arc::new(SystemClock),
    };
    let analyze = stack.analyze_ports_with(Arc::new(sfn), Some(&infra.webhooks_queue));
    let uploads_arn = format!("arn:aws:sqs:{}:{ACCOUNT}:uploads", moto::REGION);
    let response = task::batch(sqs_event(&messages, &uploads_arn), |id, body| {
        let analyze = &analyze;
        async move {
            let result = handle_message(analyze, &body).await;
            disposition(&result, &id) == Disposition::Redeliver
        }
    })
    .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let preview = records.get(&id).await.unwrap().unwrap();
    assert_eq!(
        preview.status,
        Status::Rendering,
        "{:?}",
        preview.rejection_reasons
    );
    let execution =
        infra.state_machine.replace(":stateMachine:", ":execution:") + ":" + id.as_str();
    assert_eq!(execution_status(&sfn_client, &execution).await.0, "RUNNING");

    // 5. A render worker (classic engine) and the in-process functions serve
    //    the execution until it ends.
    let counting = Arc::new(CountingWorkflow {
        inner: StepFunctionsWorkflow::from_sdk_config(&sdk, ""),
        heartbeats: AtomicUsize::new(0),
    });
    let catalogue = Arc::new(Catalogue::builtin());
    let worker = Arc::new(RenderWorker {
        queue: queue.clone(),
        queue_name: infra.render_queue.clone(),
        workflow: counting.clone(),
        blobs: blobs.clone(),
        engine: Arc::new(AtLeast {
            inner: ClassicEngine::new((*catalogue).clone()),
            min: Duration::from_millis(2500),
        }),
        catalogue,
        // After moto has registered the token (it queues the message first).
        heartbeat: Duration::from_millis(800),
        long_side: 384,
        landmarks: None,
    });
    let functions = Functions {
        judge: stack.judge_ports(None),
        finalize: stack.finalize_ports(),
        mark_failed: stack.mark_failed_ports(),
        notify: stack.notify_ports_with(&infra.webhooks_queue),
        invoked: Default::default(),
    };
    let stop = CancellationToken::new();
    let rendering = tokio::spawn(likeness_lambdas::render_worker::run(
        worker,
        1,
        stop.clone(),
        None,
    ));
    let serving = functions.serve(&queue, &infra.lambda_queue, &answers, stop.clone());
    let waiting = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, output) = execution_status(&sfn_client, &execution).await;
            if status != "RUNNING" {
                stop.cancel();
                return (status, output);
            }
            assert!(
                Instant::now() < deadline,
                "the execution still runs after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let ((status, output), ()) = tokio::join!(waiting, serving);
    rendering.await.unwrap();

    let entered = states_entered(&sfn_client, &execution).await;
    assert_eq!(
        status, "SUCCEEDED",
        "states: {entered:?}, output: {output:?}"
    );
    for state in ["Render", "Judge", "Finalize", "Notify", "Done"] {
        assert!(
            entered.iter().any(|s| s == state),
            "{state} not in {entered:?}"
        );
    }
    let invoked = functions.invoked.lock().unwrap().clone();
    assert!(invoked.starts_with(&["judge".to_owned()]), "{invoked:?}");
    assert!(
        invoked.ends_with(&["finalize".to_owned(), "notify".to_owned()]),
        "{invoked:?}"
    );
    assert!(
        counting.heartbeats.load(Ordering::SeqCst) >= 2,
        "the worker heartbeats while it renders"
    );

    // The preview is ready, delivered under previews/, and its work/ is gone.
    let ready = records.get(&id).await.unwrap().unwrap();
    assert_eq!(ready.status, Status::Ready);
    let delivered = blobs
        .list(&format!("previews/{TENANT}/{id}/"))
        .await
        .unwrap();
    assert!(
        delivered.iter().any(|k| k.ends_with(".webp")),
        "{delivered:?}"
    );
    assert!(blobs.list(&format!("work/{id}/")).await.unwrap().is_empty());
    assert!(matches!(
        blobs.get(&ready.upload.key).await,
        Err(PortError::NotFound(_))
    ));
    // Notify stored the preview.ready event in the table and queued its delivery.
    let events = records.events_for(&id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "preview.ready");
    let jobs = queue
        .receive(
            &infra.webhooks_queue,
            10,
            Duration::from_secs(30),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].body.contains(&events[0].webhook_id));
    // Every stage that ran was metered into the cost ledger in the table.
    let lines = records.lines_for(&id).await.unwrap();
    let stages: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.stage.as_str()).collect();
    for stage in [
        "analyze", "render", "judge", "finalize", "workflow", "notify",
    ] {
        assert!(stages.contains(stage), "{stage} not metered: {stages:?}");
    }
}
