//! The deployed stack, locally: `infra/template.yaml` stood up in moto with
//! IAM enforced (`tests/stack/iam_moto.py`, `tests/stack/deploy.py`), and the
//! parts of AWS moto cannot run played by this harness with the template's own
//! settings:
//! - **Lambda**: each function is its shipped binary (`target/.../analyze`,
//!   ...) started with the template's environment and its role's credentials
//!   (assumed through STS), behind a Lambda Runtime API served here.
//! - **SQS event sources**: the queues the template maps to functions are
//!   polled with the function's role, in the template's batch sizes, with
//!   partial batch failures honoured.
//! - **Step Functions' `lambda:invoke`**: deploy.py turns those states into SQS
//!   callbacks on a harness queue (and checks the state machine role's right
//!   to invoke); the harness invokes the function and answers the token.
//! - **API Gateway**: HTTP API payload v2 events to the api function.
//! - **ECS**: the render worker binary with the task role and the task
//!   definition's environment.
// Each test uses a different part of the harness.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Credentials of one principal: the deployer, or a role assumed through STS.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Function {
    pub binary: Option<String>,
    pub name: String,
    #[serde(default)]
    pub arn: Option<String>,
    pub role: String,
    pub env: HashMap<String, String>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub memory_mb: Option<u64>,
    pub credentials: Credentials,
    #[serde(default)]
    pub layers: Vec<String>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct EventSource {
    pub function: String,
    pub queue_arn: String,
    pub queue_url: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

/// What deploy.py created, and what it left to the harness.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Deployed {
    pub stack: String,
    pub region: String,
    pub account: String,
    pub created: HashMap<String, String>,
    pub functions: HashMap<String, Function>,
    pub event_sources: Vec<EventSource>,
    pub lambda_invocations_queue_url: String,
    pub adaptations: Value,
    pub skipped: Vec<Value>,
    pub outputs: HashMap<String, Value>,
    pub deployer: Credentials,
}

/// moto_server with IAM enforced as AWS evaluates it, and the template deployed.
pub struct Stack {
    moto: Child,
    pub url: String,
    pub deployed: Deployed,
    pub denials: PathBuf,
    pub logs: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("IAM denials: {:?}", self.denials());
        }
        if std::env::var_os("LIKENESS_STACK_KEEP_LOGS").is_some() {
            let kept = std::mem::replace(&mut self.logs, tempfile::tempdir().unwrap());
            eprintln!("stack logs kept in {}", kept.keep().display());
        }
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

/// The origin the stack is deployed for (`FrontendOrigin`).
pub const FRONTEND_ORIGIN: &str = "http://127.0.0.1:9";

impl Stack {
    pub fn deploy() -> Stack {
        Stack::deploy_with(&[])
    }

    /// Deploys with template parameters beyond the ones `sam deploy` requires.
    pub fn deploy_with(parameters: &[&str]) -> Stack {
        let logs = tempfile::tempdir().expect("a log directory");
        eprintln!(
            "stack logs (moto, each function, IAM denials): {}",
            logs.path().display()
        );
        let denials = logs.path().join("iam-denials.jsonl");
        let port = free_port();
        let python = std::env::var("LIKENESS_PYTHON").unwrap_or_else(|_| "python3".into());
        let moto = Command::new(&python)
            .arg(repo_path("tests/stack/iam_moto.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The deployer is created with these three (deploy.py); every
            // later request is authenticated and authorised.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("LIKENESS_IAM_DENIALS", &denials)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.path().join("moto.log")).unwrap())
            .spawn()
            .expect("python3 with moto (scripts/test puts ~/.cache/likeness/venv on PATH)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(&python)
            .arg(repo_path("tests/stack/deploy.py"))
            .arg(&url)
            .args([
                // What `sam deploy` requires, as a user would pass it.
                &format!("FrontendOrigin={FRONTEND_ORIGIN}"),
                "RenderImage=123456789012.dkr.ecr.eu-west-1.amazonaws.com/likeness-render:test",
                "RenderVpc=vpc-0123456789abcdef0",
                "RenderSubnets=subnet-0123456789abcdef0",
            ])
            .args(parameters)
            .output()
            .expect("running deploy.py");
        assert!(
            out.status.success(),
            "deploying the template failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let deployed: Deployed = serde_json::from_slice(&out.stdout).expect("deploy.py's JSON");
        Stack {
            moto,
            url,
            deployed,
            denials,
            logs,
        }
    }

    /// Every request IAM refused so far: principal, action, resource.
    pub fn denials(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.denials)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Fails the test at once, naming each request IAM refused, if any was.
    pub fn assert_no_denials(&self) {
        let denials = self.denials();
        assert!(
            denials.is_empty(),
            "IAM refused these requests (principal, action, resource):\n{}",
            denials
                .iter()
                .map(|d| format!("  {} {} {}", d["principal"], d["action"], d["resource"]))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    pub fn function(&self, logical: &str) -> &Function {
        self.deployed
            .functions
            .get(logical)
            .unwrap_or_else(|| panic!("the template has no {logical}"))
    }

    pub fn created(&self, logical: &str) -> &str {
        &self.deployed.created[logical]
    }

    pub fn sdk_config(&self, credentials: &Credentials) -> aws_config::SdkConfig {
        use aws_config::{BehaviorVersion, Region};
        use aws_sdk_s3::config::SharedCredentialsProvider;
        let credentials = aws_sdk_s3::config::Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "likeness-stack-test",
        );
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(self.deployed.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// The operator's own access (what CloudFormation and the console would use).
    pub fn deployer(&self) -> aws_config::SdkConfig {
        self.sdk_config(&self.deployed.deployer)
    }

    /// Where a path of the deployed machine lives here: a function's layers
    /// at `/opt` (the identity models layer is what scripts/package-models
    /// builds: the model cache, linked), the instance's volumes under
    /// `/var/lib/likeness`, both inside this stack's directory.
    pub fn local_path(&self, value: &str) -> String {
        let root = self.logs.path();
        if let Some(rest) = value.strip_prefix("/opt/") {
            let opt = root.join("opt");
            if !opt.exists() {
                std::fs::create_dir_all(&opt).unwrap();
                let models = likeness_identity::models_dir().expect("a model cache");
                std::os::unix::fs::symlink(models, opt.join("models")).unwrap();
            }
            return opt.join(rest).to_string_lossy().into_owned();
        }
        if let Some(rest) = value.strip_prefix("/var/lib/likeness/") {
            return root
                .join("instance/var/lib/likeness")
                .join(rest)
                .to_string_lossy()
                .into_owned();
        }
        value.to_owned()
    }

    /// The environment a process of `function` gets: the template's (paths
    /// of the deployed machine mapped by [`Stack::local_path`]), its role's
    /// credentials, the region and the endpoint (moto).
    pub fn process_env(&self, function: &Function) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = function
            .env
            .iter()
            .map(|(k, v)| (k.clone(), self.local_path(v)))
            .collect();
        let c = &function.credentials;
        env.extend([
            ("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone()),
            (
                "AWS_SESSION_TOKEN".into(),
                c.session_token.clone().unwrap_or_default(),
            ),
            ("AWS_REGION".into(), self.deployed.region.clone()),
            ("AWS_ENDPOINT_URL".into(), self.url.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ]);
        env
    }
}

// ------------------------------------------------------------- Lambda

struct Invocation {
    id: String,
    payload: Value,
    reply: oneshot::Sender<Result<Value, Value>>,
}

struct RuntimeState {
    function_arn: String,
    timeout: Duration,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    init_error: Mutex<Option<String>>,
}

/// One function: its binary, running against a Lambda Runtime API served here.
pub struct Lambda {
    pub logical: String,
    pub function: Function,
    child: Child,
    pub log: PathBuf,
    send: mpsc::UnboundedSender<Invocation>,
    state: Arc<RuntimeState>,
    ids: AtomicU64,
    stop: CancellationToken,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last 40 lines of a process's log, for failure messages.
fn log_tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn binary_path(name: &str) -> PathBuf {
    // Integration tests live in target/<profile>/deps; the binaries beside it.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo build -p likeness-lambdas --bins)",
        path.display()
    );
    path
}

impl Lambda {
    /// Starts `logical`'s binary with the template's environment plus `extra`.
    pub async fn start(stack: &Stack, logical: &str, extra: &[(&str, &str)]) -> Lambda {
        let function = stack.function(logical).clone();
        let (send, receive) = mpsc::unbounded_channel();
        let state = Arc::new(RuntimeState {
            function_arn: function.arn.clone().unwrap_or_default(),
            timeout: Duration::from_secs(function.timeout_seconds.unwrap_or(3)),
            next: tokio::sync::Mutex::new(receive),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let serving = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(serving.cancelled_owned())
                .await
                .unwrap();
        });
        let log = stack.logs.path().join(format!("{logical}.log"));
        let binary = function
            .binary
            .clone()
            .unwrap_or_else(|| panic!("{logical} names no binary"));
        let mut command = Command::new(binary_path(&binary));
        command
            .env_clear()
            .envs(stack.process_env(&function))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                function.memory_mb.unwrap_or(128).to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", function.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap());
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command.spawn().expect("starting a function binary");
        Lambda {
            logical: logical.to_owned(),
            function,
            child,
            log,
            send,
            state,
            ids: AtomicU64::new(0),
            stop,
        }
    }

    /// Invokes the function once, as Lambda's Invoke API does (synchronously).
    /// `Err` carries the runtime's error body (errorType, errorMessage).
    pub async fn invoke(&self, payload: Value) -> Result<Value, Value> {
        let id = format!(
            "{}-{}",
            self.logical,
            self.ids.fetch_add(1, Ordering::SeqCst)
        );
        let (reply, answer) = oneshot::channel();
        self.send
            .send(Invocation { id, payload, reply })
            .expect("the runtime API is serving");
        // A binary that exits early never asks for its next event.
        let limit = self.state.timeout + Duration::from_secs(60);
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => panic!("{} dropped its invocation", self.logical),
            Err(_) => panic!(
                "{} did not answer within {limit:?}; init error: {:?}; log:\n{}",
                self.logical,
                self.state.init_error.lock().unwrap(),
                self.log_tail()
            ),
        }
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

async fn next(State(state): State<Arc<RuntimeState>>) -> impl IntoResponse {
    let invocation = state.next.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + state.timeout;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        invocation.id.parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        state.function_arn.parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0"
            .parse()
            .unwrap(),
    );
    state
        .in_flight
        .lock()
        .unwrap()
        .insert(invocation.id.clone(), invocation.reply);
    (StatusCode::OK, headers, invocation.payload.to_string())
}

fn finish(state: &RuntimeState, id: &str, result: Result<Value, Value>) -> StatusCode {
    match state.in_flight.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| json!(String::from_utf8_lossy(body)))
}

async fn response(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Ok(json_or_text(&body)))
}

async fn error(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Err(json_or_text(&body)))
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    *state.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

// ------------------------------------------------------ event sources

/// Lambda's SQS event source for one mapping: receive with the function's
/// role, invoke with the batch, delete what the function did not report failed.
pub async fn poll_event_source(
    stack: &Stack,
    source: &EventSource,
    lambda: Arc<Lambda>,
    stop: CancellationToken,
) {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config(&lambda.function.credentials));
    while !stop.is_cancelled() {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            r = sqs
                .receive_message()
                .queue_url(&source.queue_url)
                .max_number_of_messages(source.batch_size)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send() => r,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => panic!(
                "{}'s role could not receive from its event source: {}",
                lambda.logical,
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ),
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": source.queue_arn,
                    "awsRegion": stack.deployed.region,
                })
            })
            .collect();
        let failed: Vec<String> = match lambda.invoke(json!({ "Records": records })).await {
            Ok(response) if source.report_batch_item_failures => response["batchItemFailures"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            Ok(_) => Vec::new(),
            // A failed invocation returns the whole batch to the queue.
            Err(_) => messages
                .iter()
                .filter_map(|m| m.message_id().map(str::to_owned))
                .collect(),
        };
        for m in &messages {
            if failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                continue;
            }
            sqs.delete_message()
                .queue_url(&source.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}'s role could not delete from its event source: {}",
                        lambda.logical,
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    )
                });
        }
    }
}

/// Called before each invocation the state machine makes, with the function
/// and its payload: lets a test change the world the function will see.
pub type BeforeInvoke = Arc<
    dyn Fn(String, Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Step Functions' side of the adapted `lambda:invoke` states: invoke the
/// function named in the message and answer its task token with the result
/// wrapped as `lambda:invoke` returns it.
pub async fn serve_state_machine_invocations(
    stack: &Stack,
    lambdas: HashMap<String, Arc<Lambda>>,
    invoked: Arc<Mutex<Vec<String>>>,
    before: Option<BeforeInvoke>,
    stop: CancellationToken,
) {
    let sdk = stack.deployer();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let url = &stack.deployed.lambda_invocations_queue_url;
    while !stop.is_cancelled() {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            r = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send() => r.expect("receive invocations"),
        };
        let mut calls = Vec::new();
        for m in received.messages.unwrap_or_default() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let arn = body["function"].as_str().unwrap().to_owned();
            let lambda = lambdas
                .values()
                .find(|l| l.function.arn.as_deref() == Some(&arn))
                .unwrap_or_else(|| panic!("no function deployed as {arn}"))
                .clone();
            invoked.lock().unwrap().push(lambda.logical.clone());
            let (sfn, sqs) = (sfn.clone(), sqs.clone());
            let receipt = m.receipt_handle().unwrap().to_owned();
            let url = url.clone();
            let before = before.clone();
            calls.push(tokio::spawn(async move {
                if let Some(before) = before {
                    before(lambda.logical.clone(), body["Payload"].clone()).await;
                }
                let token = body["TaskToken"].as_str().unwrap();
                match lambda.invoke(body["Payload"].clone()).await {
                    Ok(result) => {
                        sfn.send_task_success()
                            .task_token(token)
                            .output(json!({"Payload": result, "StatusCode": 200}).to_string())
                            .send()
                            .await
                            .expect("answer the invocation");
                    }
                    Err(e) => {
                        sfn.send_task_failure()
                            .task_token(token)
                            .error(e["errorType"].as_str().unwrap_or("Unhandled"))
                            .cause(e["errorMessage"].as_str().unwrap_or_default())
                            .send()
                            .await
                            .expect("fail the invocation");
                    }
                }
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .unwrap();
            }));
        }
        for call in calls {
            call.await.unwrap();
        }
    }
}

/// API Gateway (HTTP API, payload format 2.0) in front of the api function.
pub async fn http_api(
    api: &Lambda,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("api.likeness.test"));
    header_map.insert("x-forwarded-proto".into(), json!("https"));
    header_map.insert("x-forwarded-for".into(), json!("203.0.113.24"));
    for (k, v) in headers {
        header_map.insert(k.to_lowercase(), json!(v));
    }
    if body.is_some() {
        header_map.insert("content-type".into(), json!("application/json"));
    }
    let now = chrono::Utc::now();
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "api.likeness.test",
            "domainPrefix": "api",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.24", "userAgent": "likeness-stack-test"},
            "requestId": format!("r{}", now.timestamp_micros()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false,
    });
    let response = api
        .invoke(event)
        .await
        .unwrap_or_else(|e| panic!("the api function failed: {e}\n{}", api.log_tail()));
    let status = response["statusCode"].as_u64().unwrap() as u16;
    let text = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"] == true {
        json!(text)
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| json!(text))
    };
    (status, body)
}

/// A long-running container process (the render worker), with its task role.
pub struct Container {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Container {
    pub fn start(stack: &Stack, logical: &str, extra: &[(&str, &str)]) -> Container {
        let function = stack.function(logical);
        let log = stack.logs.path().join(format!("{logical}.log"));
        let mut command = Command::new(binary_path(function.binary.as_deref().unwrap()));
        command
            .env_clear()
            .envs(stack.process_env(function))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap());
        for (k, v) in extra {
            command.env(k, v);
        }
        Container {
            child: command.spawn().expect("starting the render worker"),
            log,
        }
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("the worker's status")
    }
}

/// A webhook receiver on loopback: every POST it gets, answered 204.
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let store = received.clone();
        let app = Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push((
                        headers,
                        serde_json::from_slice(&body).unwrap_or(Value::Null),
                    ));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let stop = CancellationToken::new();
        let serving = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(serving.cancelled_owned())
                .await
                .unwrap();
        });
        Receiver {
            url,
            received,
            stop,
        }
    }

    /// Waits for an event of `kind` about `preview`; fails at once if IAM
    /// refuses anything meanwhile.
    pub async fn event(&self, stack: &Stack, kind: &str, preview: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            stack.assert_no_denials();
            if let Some((_, body)) = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find(|(_, b)| b["type"] == kind && b.to_string().contains(preview))
            {
                return body.clone();
            }
            if Instant::now() > deadline {
                let got: Vec<Value> = self
                    .received
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(_, b)| b["type"].clone())
                    .collect();
                panic!("no {kind} webhook for {preview} within {within:?}; received {got:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
