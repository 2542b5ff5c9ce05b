//! The AWS stack as deployed: `infra/template.yaml` transformed by AWS's SAM
//! translator and created in moto with IAM enforced, every function run as
//! its shipped binary with its own role's credentials and the environment the
//! template gives it (see `deployed/mod.rs` for what plays Lambda, the event
//! sources, API Gateway and ECS). A grant the template forgets, an env var it
//! does not set or a resource it renames fails here, with the role, action and
//! resource IAM refused.
//!
//! What is not exercised by this test, and why:
//! - presigned URLs are authorised as their signer's grant, but their
//!   signature is not verified (moto cannot); the expiry is enforced;
//! - bucket and queue resource policies (TLS-only, S3 → SQS) are deployed but
//!   not evaluated (moto does not evaluate resource policies);
//! - ECS, Auto Scaling, alarms and the HTTP API's throttling and CORS are
//!   listed as skipped by deploy.py (printed below);
//! - the harness allows webhooks to its loopback receiver
//!   (`LIKENESS_WEBHOOKS_ALLOW_PRIVATE=1` on the api and webhooks functions,
//!   which the template never sets), and maps the identity models layer's
//!   `/opt/models` to the local model cache (`Stack::local_path`).

mod deployed;

use deployed::{Container, Lambda, Receiver, Stack, http_api};
use likeness_aws::DynamoRecords;
use likeness_core::TenantId;
use likeness_core::ports::{ApiKeyRecord, ApiKeys, KeyScope};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const API_KEY: &str = "lk_7a1c9e2d4b6f8a0c1e3d5f7a9b1c3e5d7f9a1b3c5e7d9f1a3b5c7e9d1f3a5b7c";
const TENANT: &str = "acme";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(deployed::repo_path("tests/fixtures/photos").join(name)).unwrap()
}

struct Running {
    lambdas: HashMap<String, Arc<Lambda>>,
    invoked: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn api(&self) -> &Lambda {
        &self.lambdas["ApiFunction"]
    }

    fn logs(&self) -> String {
        self.lambdas
            .values()
            .map(|l| format!("--- {}\n{}", l.logical, l.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Every function of the template, its event sources and the state machine's
/// invocations, served until the test ends.
async fn run_functions(stack: &Arc<Stack>, before: Option<deployed::BeforeInvoke>) -> Running {
    let mut lambdas = HashMap::new();
    for logical in stack.deployed.functions.keys() {
        if stack.deployed.functions[logical].arn.is_none() {
            continue; // the render task, started by each test
        }
        let extra = [("LIKENESS_WEBHOOKS_ALLOW_PRIVATE", "1")];
        let lambda = Lambda::start(stack, logical, &extra).await;
        lambdas.insert(logical.clone(), Arc::new(lambda));
    }
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for source in stack.deployed.event_sources.clone() {
        let (stack, lambda, stop) = (
            stack.clone(),
            lambdas[&source.function].clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            deployed::poll_event_source(&stack, &source, lambda, stop).await
        }));
    }
    let invoked = Arc::new(Mutex::new(Vec::new()));
    {
        let (stack, lambdas, invoked, stop) = (
            stack.clone(),
            lambdas.clone(),
            invoked.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            deployed::serve_state_machine_invocations(&stack, lambdas, invoked, before, stop).await
        }));
    }
    Running {
        lambdas,
        invoked,
        stop,
        tasks,
    }
}

/// The operator provisions the tenant's API key in the table (deployer access).
async fn provision_tenant(stack: &Stack) {
    let records = DynamoRecords::from_sdk_config(&stack.deployer(), stack.created("Table"));
    records
        .put_key(&ApiKeyRecord {
            hash: likeness_api::auth::hash_key(API_KEY),
            tenant: TenantId::new(TENANT),
            scope: KeyScope::Tenant,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
}

fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {API_KEY}"))
}

async fn api(running: &Running, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = bearer();
    http_api(
        running.api(),
        method,
        path,
        &[(auth.0, auth.1.as_str())],
        body.as_ref(),
    )
    .await
}

/// Orders a preview and PUTs `photo` to the presigned URL, as a browser would.
async fn order_and_upload(
    running: &Running,
    receiver: &Receiver,
    subject: &str,
    photo: &[u8],
    content_type: &str,
) -> String {
    let (status, created) = api(
        running,
        "POST",
        "/v1/previews",
        Some(json!({
            "subject": subject,
            "styles": ["oil"],
            "variations": 2,
            "content_type": content_type,
            "content_length": photo.len(),
            "webhook_url": receiver.url,
            "consent": {"rights_to_photo": true},
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let upload = &created["upload"];
    let mut put = reqwest::Client::new()
        .put(upload["url"].as_str().unwrap())
        .body(photo.to_vec());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let response = put.send().await.expect("presigned PUT");
    assert!(
        response.status().is_success(),
        "the presigned PUT was refused: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    created["id"].as_str().unwrap().to_owned()
}

async fn status_of(running: &Running, id: &str) -> Value {
    let (status, body) = api(running, "GET", &format!("/v1/previews/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn wait_for_status(
    stack: &Stack,
    running: &Running,
    id: &str,
    wanted: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        stack.assert_no_denials();
        let preview = status_of(running, id).await;
        if preview["status"] == wanted {
            return preview;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is {} after {within:?}, not {wanted}\n{}",
            preview["status"],
            running.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn keys_under(stack: &Stack, prefix: &str) -> Vec<String> {
    let s3 = aws_sdk_s3::Client::new(&stack.deployer());
    s3.list_objects_v2()
        .bucket(stack.created("Bucket"))
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_template_runs_as_deployed_with_iam_enforced() {
    // The per-tenant limits hold on AWS too, their state in the table: this
    // tenant may order three previews a minute, and the test orders three.
    let stack = Arc::new(Stack::deploy_with(&[&format!(
        "TenantLimits={}",
        json!({"tenants": {TENANT: {"max_in_flight": 20, "orders_per_minute": 3, "gpu_seconds_per_day": 3600.0}}})
    )]));
    println!(
        "not created in moto (played by the harness or not exercised):\n{}",
        stack
            .deployed
            .skipped
            .iter()
            .map(|s| format!("  {} {}: {}", s["resource"], s["type"], s["why"]))
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!("adapted: {}", stack.deployed.adaptations);
    provision_tenant(&stack).await;
    // The judge retry: the first time the judge is asked about the preview
    // named here, its candidates are replaced with a blank canvas first (a
    // render that came out wrong), so it fails them and asks for another
    // attempt; the state machine renders again and the judge passes that one.
    let spoil: Arc<Mutex<Option<String>>> = Arc::default();
    let before: deployed::BeforeInvoke = {
        let (stack, spoil) = (stack.clone(), spoil.clone());
        Arc::new(move |function: String, payload: Value| {
            let (stack, spoil) = (stack.clone(), spoil.clone());
            Box::pin(async move {
                let id = payload["preview_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let target = spoil.lock().unwrap().clone();
                if function != "JudgeFunction" || target.as_deref() != Some(id.as_str()) {
                    return;
                }
                *spoil.lock().unwrap() = None;
                let blank = {
                    let mut png = std::io::Cursor::new(Vec::new());
                    image::RgbImage::from_pixel(512, 640, image::Rgb([236, 236, 236]))
                        .write_to(&mut png, image::ImageFormat::Png)
                        .unwrap();
                    png.into_inner()
                };
                let s3 = aws_sdk_s3::Client::new(&stack.deployer());
                for key in keys_under(&stack, &format!("work/{id}/candidates/")).await {
                    s3.put_object()
                        .bucket(stack.created("Bucket"))
                        .key(key)
                        .body(blank.clone().into())
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
    };
    let running = run_functions(&stack, Some(before)).await;
    let receiver = Receiver::start().await;
    let (status, secret) = api(&running, "POST", "/v1/webhooks/secret", None).await;
    assert!(status == 200 || status == 201, "{secret}");

    // 1. A render that fails: its reference is gone before any worker takes
    //    the task (no worker runs yet), so every attempt fails, the preview is
    //    marked failed, and MarkFailed clears its work/ objects.
    let failing = order_and_upload(
        &running,
        &receiver,
        "person",
        &fixture("obama.jpg"),
        "image/jpeg",
    )
    .await;
    wait_for_status(
        &stack,
        &running,
        &failing,
        "rendering",
        Duration::from_secs(60),
    )
    .await;
    let s3 = aws_sdk_s3::Client::new(&stack.deployer());
    for key in keys_under(&stack, &format!("work/{failing}/")).await {
        s3.delete_object()
            .bucket(stack.created("Bucket"))
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let worker = Container::start(&stack, "RenderTaskDefinition", &[]);

    // 2. A photo without a face, ordered as a person: rejected by analyze,
    //    announced, and the upload deleted.
    let rejected = order_and_upload(
        &running,
        &receiver,
        "person",
        &fixture("coffee.png"),
        "image/png",
    )
    .await;
    let event = receiver
        .event(
            &stack,
            "preview.rejected",
            &rejected,
            Duration::from_secs(60),
        )
        .await;
    assert!(event.to_string().contains("no_face"), "{event}");
    assert!(
        keys_under(&stack, &format!("uploads/{TENANT}/{rejected}"))
            .await
            .is_empty()
    );

    let failed = wait_for_status(
        &stack,
        &running,
        &failing,
        "failed",
        Duration::from_secs(120),
    )
    .await;
    assert!(failed["failure"].is_string(), "{failed}");
    receiver
        .event(&stack, "preview.failed", &failing, Duration::from_secs(60))
        .await;
    assert!(
        keys_under(&stack, &format!("work/{failing}/"))
            .await
            .is_empty(),
        "MarkFailed left work objects"
    );

    // 3. The whole flow: order, presigned PUT, S3 notification, analyze, the
    //    state machine, the render worker's callback, judge, finalize, notify,
    //    and a webhook whose preview link the receiver can fetch.
    let id = order_and_upload(
        &running,
        &receiver,
        "person",
        &fixture("obama.jpg"),
        "image/jpeg",
    )
    .await;
    *spoil.lock().unwrap() = Some(id.clone());
    let ready = receiver
        .event(&stack, "preview.ready", &id, Duration::from_secs(240))
        .await;
    let previews = ready["data"]["previews"].as_array().expect("preview links");
    assert!(!previews.is_empty(), "{ready}");
    for preview in previews {
        let link = preview["url"].as_str().unwrap();
        let response = reqwest::get(link).await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "the receiver could not fetch {link}: {}",
            response.text().await.unwrap_or_default()
        );
        let bytes = response.bytes().await.unwrap();
        assert!(image::load_from_memory(&bytes).is_ok(), "not an image");
    }
    let preview = wait_for_status(&stack, &running, &id, "ready", Duration::from_secs(30)).await;
    // The spoiled first attempt failed and the machine rendered again (the
    // judge may need the third attempt the template allows, too).
    let attempts = preview["results"][0]["attempts"].as_u64().unwrap_or(0);
    assert!(attempts >= 2, "no judge retry: {preview}");
    // Two variations ordered: the judge delivers those that pass, one or both.
    let delivered = preview["results"][0]["previews"]
        .as_array()
        .map_or(0, Vec::len);
    assert!((1..=2).contains(&delivered), "{preview}");
    assert!(keys_under(&stack, &format!("work/{id}/")).await.is_empty());
    assert!(
        keys_under(&stack, &format!("uploads/{TENANT}/{id}"))
            .await
            .is_empty()
    );
    let invoked = running.invoked.lock().unwrap().clone();
    for function in [
        "JudgeFunction",
        "FinalizeFunction",
        "NotifyFunction",
        "MarkFailedFunction",
    ] {
        assert!(
            invoked.iter().any(|f| f == function),
            "{function} never ran: {invoked:?}"
        );
    }
    // A fourth order within the minute is refused, with when to come back.
    let (status, refused) = api(
        &running,
        "POST",
        "/v1/previews",
        Some(json!({
            "subject": "person", "styles": ["oil"], "variations": 1,
            "content_type": "image/jpeg", "content_length": 1000,
            "consent": {"rights_to_photo": true},
        })),
    )
    .await;
    assert_eq!(status, 429, "{refused}");

    // The judge found its models where the template puts them (the layer).
    let judge = &running.lambdas["JudgeFunction"];
    assert_eq!(judge.function.env["LIKENESS_MODELS_DIR"], "/opt/models");
    assert_eq!(judge.function.layers.len(), 1, "the identity models layer");
    let judge_log = std::fs::read_to_string(&judge.log).unwrap();
    assert!(
        !judge_log.contains("no identity model"),
        "the judge ran without its models:\n{}",
        judge.log_tail()
    );
    let (status, cost) = api(&running, "GET", &format!("/v1/previews/{id}/cost"), None).await;
    assert_eq!(status, 200, "{cost}");

    // The tenant's backend mints a browser token (the token key is made in the
    // table on first use, under the api role).
    let (status, token) = api(&running, "POST", "/v1/order-tokens", None).await;
    assert_eq!(status, 201, "{token}");
    assert!(token["order_token"].as_str().unwrap().starts_with("lkt1."));

    // Erasure: everything of the preview goes, the record says so, the tenant
    // hears `preview.erased`, and the links the webhook carried stop working.
    for _ in 0..2 {
        let (status, erased) = api(&running, "DELETE", &format!("/v1/previews/{id}"), None).await;
        assert_eq!(status, 200, "{erased}");
    }
    assert_eq!(status_of(&running, &id).await["status"], "erased");
    assert!(
        keys_under(&stack, &format!("previews/{TENANT}/{id}/"))
            .await
            .is_empty()
    );
    receiver
        .event(&stack, "preview.erased", &id, Duration::from_secs(60))
        .await;
    let link = previews[0]["url"].as_str().unwrap();
    assert!(
        !reqwest::get(link).await.unwrap().status().is_success(),
        "{link} still answers"
    );
    let (status, cost) = api(&running, "GET", &format!("/v1/previews/{id}/cost"), None).await;
    assert_eq!(status, 200, "the cost lines outlive the erasure: {cost}");

    // Browsers upload under the bucket's CORS rule: the one the one-machine
    // object server applies.
    let cors = aws_sdk_s3::Client::new(&stack.deployer())
        .get_bucket_cors()
        .bucket(stack.created("Bucket"))
        .send()
        .await
        .unwrap();
    let deployed: Vec<_> = cors
        .cors_rules()
        .iter()
        .map(|r| likeness_embedded::object_server::cors::CorsRule {
            allowed_origins: r.allowed_origins().to_vec(),
            allowed_methods: r.allowed_methods().to_vec(),
            allowed_headers: r.allowed_headers().to_vec(),
            max_age_secs: r.max_age_seconds().unwrap_or(0) as u32,
        })
        .collect();
    assert_eq!(
        deployed,
        [likeness_embedded::object_server::cors::bucket_rule(&[
            deployed::FRONTEND_ORIGIN.to_owned()
        ])]
    );

    drop(worker);
    running.stop.cancel();
    for task in running.tasks {
        task.await.unwrap();
    }
    stack.assert_no_denials();
}

/// Every file of `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

async fn wait_for_exit(
    worker: &mut Container,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = worker.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn wait_for_log(worker: &Container, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !std::fs::read_to_string(&worker.log)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            Instant::now() < deadline,
            "the worker never logged {text:?}:\n{}",
            worker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_render_task_loads_diffusion_weights_from_s3_only_when_they_match_their_manifest() {
    const WEIGHTS_BUCKET: &str = "likeness-models-test";
    const PREFIX: &str = "diffusion/tiny";
    let stack = Stack::deploy_with(&[
        &format!("DiffusionWeightsBucket={WEIGHTS_BUCKET}"),
        &format!("DiffusionWeightsPrefix={PREFIX}"),
    ]);
    let task = stack.function("RenderTaskDefinition");
    assert_eq!(
        task.env["LIKENESS_DIFFUSION_WEIGHTS_S3"],
        format!("s3://{WEIGHTS_BUCKET}/{PREFIX}")
    );
    assert_eq!(task.env["LIKENESS_MODELS_DIR"], "/opt/models");

    // The operator's weights bucket: the tiny random-weight model the
    // diffusion tests use, and its SHA256SUMS.
    let model = deployed::repo_path("functions/render/diffusion/tests/reference/diffusion/model");
    let s3 = aws_sdk_s3::Client::new(&stack.deployer());
    s3.create_bucket()
        .bucket(WEIGHTS_BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut manifest = String::new();
    for rel in files_under(&model) {
        let sum = likeness_diffusion::manifest::sha256_file(&model.join(&rel)).unwrap();
        manifest.push_str(&format!("{sum}  {rel}\n"));
        s3.put_object()
            .bucket(WEIGHTS_BUCKET)
            .key(format!("{PREFIX}/{rel}"))
            .body(std::fs::read(model.join(&rel)).unwrap().into())
            .send()
            .await
            .unwrap();
    }
    s3.put_object()
        .bucket(WEIGHTS_BUCKET)
        .key(format!("{PREFIX}/SHA256SUMS"))
        .body(manifest.into_bytes().into())
        .send()
        .await
        .unwrap();

    // Matching weights: copied to the instance volume, verified, loaded.
    let worker = Container::start(&stack, "RenderTaskDefinition", &[]);
    wait_for_log(&worker, "render worker started", Duration::from_secs(60)).await;
    let log = std::fs::read_to_string(&worker.log).unwrap();
    assert!(log.contains("diffusion weights verified"), "{log}");
    assert!(log.contains("render engine: diffusion"), "{log}");
    let local = std::path::PathBuf::from(stack.local_path("/var/lib/likeness/diffusion"));
    assert!(local.join("SHA256SUMS").is_file());
    assert!(
        local
            .join("unet/diffusion_pytorch_model.safetensors")
            .is_file()
    );
    drop(worker);

    // One file changed in the bucket, the manifest not: the next task stops
    // before taking any work, naming the file.
    s3.put_object()
        .bucket(WEIGHTS_BUCKET)
        .key(format!("{PREFIX}/unet/config.json"))
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    std::fs::remove_dir_all(&local).unwrap();
    let mut worker = Container::start(&stack, "RenderTaskDefinition", &[]);
    let status = wait_for_exit(&mut worker, Duration::from_secs(60))
        .await
        .expect("the worker stops on a mismatched file");
    assert!(!status.success());
    let log = std::fs::read_to_string(&worker.log).unwrap();
    assert!(
        log.contains("unet/config.json has SHA-256") && log.contains("SHA256SUMS says"),
        "{log}"
    );
    assert!(!log.contains("render worker started"), "{log}");
    stack.assert_no_denials();
}
