//! The reliability suite: the real `likeness serve` binary on loopback, loaded
//! and attacked the way a hostile or careless client would.
//!
//! - N previews ordered at once by one tenant (`LIKENESS_RELIABILITY_N`: 50 in
//!   CI, 200 by hand), each with a webhook: 0 lost, 0 doubled, exactly one
//!   webhook event id per preview, no photo left under `uploads/`.
//! - `kill -9` of the service once the first previews are ready, and a restart
//!   on the same data directory: every message the dead process held is taken
//!   again within seconds.
//! - A slow-loris client (sockets that trickle header bytes) throughout: the API
//!   keeps answering and closes them at its header timeout.
//! - A tarpit webhook endpoint of another tenant, holding every delivery: the
//!   first tenant's webhooks still arrive within a second of their events.
//! - A burst of orders above a tenant's per-minute limit: 429 with Retry-After.
//!
//! It prints throughput, p50/p95 time to ready, recovery time and peak memory;
//! `docs/RELIABILITY.md` records a full-size run.

use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::post;
use likeness_embedded::SqliteQueue;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

const BURST_LIMIT: usize = 5;
const BURST_ORDERS: usize = 20;
const LORIS_SOCKETS: usize = 100;

fn previews_wanted() -> usize {
    std::env::var("LIKENESS_RELIABILITY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn photo() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos/obama.jpg");
    std::fs::read(path).expect("reading the fixture photo")
}

/// One webhook delivery as the receiver saw it.
#[derive(Clone, Debug)]
struct Arrival {
    webhook_id: String,
    preview_id: String,
    kind: String,
    /// When the event was made (its `timestamp`).
    made: Option<chrono::DateTime<chrono::Utc>>,
    /// Arrival time minus the event's own timestamp.
    delay: chrono::Duration,
    at: Instant,
}

#[derive(Default)]
struct Receiver {
    arrivals: Mutex<Vec<Arrival>>,
    tarpitted: Mutex<usize>,
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    UrlPath(lane): UrlPath<String>,
    headers: HeaderMap,
    body: String,
) -> &'static str {
    if lane == "tarpit" {
        *receiver.tarpitted.lock().unwrap() += 1;
        tokio::time::sleep(Duration::from_secs(120)).await;
        return "late";
    }
    let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let made = event["timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    receiver.arrivals.lock().unwrap().push(Arrival {
        webhook_id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        preview_id: event["data"]["preview_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        kind: event["type"].as_str().unwrap_or_default().to_owned(),
        made,
        delay: made.map_or(chrono::Duration::MAX, |m| chrono::Utc::now() - m),
        at: Instant::now(),
    });
    "ok"
}

async fn start_receiver() -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hooks/{lane}", post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

/// An API port whose successor (the object server's) is free too.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of loopback ports");
}

fn likeness() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_likeness"));
    command.kill_on_drop(true);
    command
}

async fn issue_key(data_dir: &Path, tenant: &str) -> String {
    let out = likeness()
        .args(["keys", "create", "--tenant", tenant, "--data-dir"])
        .arg(data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with("lk_"))
        .expect("a printed key")
        .to_owned()
}

fn serve(data_dir: &Path, port: u16, log: &str) -> Child {
    let limits = json!({
        "default": {"max_in_flight": 10_000, "orders_per_minute": 10_000, "gpu_seconds_per_day": 1e9},
        "tenants": {"burst": {"max_in_flight": 100, "orders_per_minute": BURST_LIMIT, "gpu_seconds_per_day": 1e9}}
    });
    let log = std::fs::File::create(data_dir.join(log)).unwrap();
    likeness()
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("LIKENESS_TENANT_LIMITS", limits.to_string())
        .env("LIKENESS_WEBHOOKS_ALLOW_PRIVATE", "1")
        .env("LIKENESS_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting likeness serve")
}

async fn wait_healthy(client: &reqwest::Client, api: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(r) = client.get(format!("{api}/healthz")).send().await
            && r.status().is_success()
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("likeness serve did not answer within {limit:?}");
}

/// Order one person preview in one style and upload the photo, as a site would.
/// Returns the preview id, or the refusal's status and Retry-After.
async fn order(
    client: &reqwest::Client,
    api: &str,
    key: &str,
    photo: &[u8],
    webhook: &str,
    upload: bool,
) -> Result<String, (u16, Option<String>)> {
    let body = json!({
        "subject": "person", "styles": ["oil"], "variations": 1,
        "content_type": "image/jpeg", "content_length": photo.len(),
        "consent": {"rights_to_photo": true}, "webhook_url": webhook,
    });
    let created = client
        .post(format!("{api}/v1/previews"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("the API answers");
    if !created.status().is_success() {
        let retry = created
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return Err((created.status().as_u16(), retry));
    }
    let created: Value = created.json().await.unwrap();
    if upload {
        let spec = &created["upload"];
        let mut put = client.put(spec["url"].as_str().unwrap());
        for (name, value) in spec["headers"].as_object().into_iter().flatten() {
            put = put.header(name, value.as_str().unwrap());
        }
        let sent = put.body(photo.to_vec()).send().await.unwrap();
        assert!(sent.status().is_success(), "upload: {}", sent.status());
    }
    Ok(created["id"].as_str().unwrap().to_owned())
}

/// A client that opens a connection and sends a header byte now and then, never
/// finishing its request. Returns how long the server kept it open.
async fn slow_loris(port: u16) -> Duration {
    let started = Instant::now();
    let Ok(mut socket) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return Duration::ZERO;
    };
    if socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .is_err()
    {
        return started.elapsed();
    }
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if socket.write_all(b"X-a: b\r\n").await.is_err() {
            break;
        }
    }
    started.elapsed()
}

/// Peak resident memory of a running process, in MiB (Linux `VmHWM`).
fn peak_memory_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_previews_survive_kill_9_slow_loris_a_tarpit_and_a_burst() {
    let n = previews_wanted();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let photo = Arc::new(photo());
    let (hooks, receiver) = start_receiver().await;
    let keys: BTreeMap<&str, String> = {
        let mut keys = BTreeMap::new();
        for tenant in ["acme", "slowpoke", "burst"] {
            keys.insert(tenant, issue_key(data, tenant).await);
        }
        keys
    };
    let port = free_port_pair();
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut service = serve(data, port, "serve-1.log");
    wait_healthy(&client, &api, Duration::from_secs(120)).await;
    for tenant in ["acme", "slowpoke"] {
        let made = client
            .post(format!("{api}/v1/webhooks/secret"))
            .bearer_auth(&keys[tenant])
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 201, "a webhook secret for {tenant}");
    }

    // Sockets that never finish their request, open for the whole first phase.
    let loris: Vec<_> = (0..LORIS_SOCKETS)
        .map(|_| tokio::spawn(slow_loris(port)))
        .collect();

    // Another tenant whose endpoint holds every delivery.
    for _ in 0..3 {
        order(
            &client,
            &api,
            &keys["slowpoke"],
            &photo,
            &format!("{hooks}/hooks/tarpit"),
            true,
        )
        .await
        .unwrap();
    }

    // N previews at once (16 clients in parallel).
    let run_started = Instant::now();
    let ordered: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let orders: Vec<_> = (0..n)
        .map(|_| {
            let (client, api, key, photo) = (
                client.clone(),
                api.clone(),
                keys["acme"].clone(),
                photo.clone(),
            );
            let (ordered, gate, hook) =
                (ordered.clone(), gate.clone(), format!("{hooks}/hooks/acme"));
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let at = Instant::now();
                let id = order(&client, &api, &key, &photo, &hook, true)
                    .await
                    .unwrap();
                ordered.lock().unwrap().insert(id, at);
            })
        })
        .collect();
    for o in orders {
        o.await.unwrap();
    }
    let ordered_in = run_started.elapsed();

    // A burst above one tenant's per-minute limit.
    let burst: Vec<_> = (0..BURST_ORDERS)
        .map(|_| {
            let (client, api, key, photo) = (
                client.clone(),
                api.clone(),
                keys["burst"].clone(),
                photo.clone(),
            );
            let hook = format!("{hooks}/hooks/burst");
            tokio::spawn(async move { order(&client, &api, &key, &photo, &hook, false).await })
        })
        .collect();
    let mut burst_created = 0;
    let mut burst_refused = Vec::new();
    for b in burst {
        match b.await.unwrap() {
            Ok(_) => burst_created += 1,
            Err(refusal) => burst_refused.push(refusal),
        }
    }

    // kill -9 once the first previews are ready, mid-flow.
    let kill_after = (n / 10).max(2);
    let ready_count = |r: &Receiver| {
        r.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.kind == "preview.ready")
            .map(|a| a.preview_id.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let waited = Instant::now();
    while ready_count(&receiver) < kill_after {
        assert!(
            waited.elapsed() < Duration::from_secs(600),
            "no previews became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak_before = peak_memory_mib(service.id());
    service.start_kill().unwrap();
    service.wait().await.unwrap();
    let killed_at = Instant::now();
    let ready_at_kill = ready_count(&receiver);
    let loris_open = loris.iter().filter(|l| !l.is_finished()).count();

    // What the dead process held, read from the queue file it left.
    let queue = SqliteQueue::open(
        &data.join("queue.sqlite"),
        Arc::new(likeness_core::ports::SystemClock),
    )
    .unwrap();
    let held = queue.in_flight().await.unwrap();

    let restarted_at = Instant::now();
    let restarted_wall = chrono::Utc::now();
    let mut service = serve(data, port, "serve-2.log");
    let api_back = wait_healthy(&client, &api, Duration::from_secs(120)).await;
    // Recovery: every message the dead process held is taken again (or done).
    let mut retaken = Duration::ZERO;
    for message in &held {
        loop {
            match queue.receive_count(&message.id).await.unwrap() {
                Some(count) if count <= message.receive_count => {}
                _ => break,
            }
            assert!(
                restarted_at.elapsed() < Duration::from_secs(120),
                "{} message {} was not taken again",
                message.queue,
                message.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        retaken = retaken.max(restarted_at.elapsed());
    }
    let first_ready_after = {
        loop {
            let after = receiver
                .arrivals
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.kind == "preview.ready" && a.at > restarted_at)
                .map(|a| a.at)
                .min();
            if let Some(at) = after {
                break at - restarted_at;
            }
            assert!(
                restarted_at.elapsed() < Duration::from_secs(300),
                "nothing became ready after the restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    // Every preview ends, each announced once.
    let deadline = Duration::from_secs(120 + 12 * n as u64);
    while ready_count(&receiver) < n {
        if restarted_at.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished_in = run_started.elapsed();
    let peak_after = peak_memory_mib(service.id());
    let ordered = ordered.lock().unwrap().clone();
    let arrivals = receiver.arrivals.lock().unwrap().clone();
    let mut ids_by_preview: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for a in arrivals
        .iter()
        .filter(|a| ordered.contains_key(&a.preview_id))
    {
        ids_by_preview
            .entry(&a.preview_id)
            .or_default()
            .insert(&a.webhook_id);
    }
    let mut lost = Vec::new();
    for id in ordered.keys() {
        let status: Value = client
            .get(format!("{api}/v1/previews/{id}"))
            .bearer_auth(&keys["acme"])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] != "ready" {
            lost.push(format!("{id}: {}", status["status"]));
        }
    }
    let doubled: Vec<_> = ids_by_preview
        .iter()
        .filter(|(_, ids)| ids.len() != 1)
        .map(|(p, ids)| format!("{p}: {ids:?}"))
        .collect();
    let unannounced = ordered.len() - ids_by_preview.len();
    let mut to_ready: Vec<f64> = arrivals
        .iter()
        .filter(|a| a.kind == "preview.ready")
        .filter_map(|a| {
            ordered
                .get(&a.preview_id)
                .map(|o| (a.at - *o).as_secs_f64())
        })
        .collect();
    to_ready.sort_by(f64::total_cmp);
    // Events made before the kill and delivered after it waited out the
    // restart, not the tarpit: they are left out of the delay figures.
    let mut delays: Vec<f64> = arrivals
        .iter()
        .filter(|a| ordered.contains_key(&a.preview_id))
        .filter(|a| a.at < killed_at || a.made.is_some_and(|m| m >= restarted_wall))
        .map(|a| a.delay.num_milliseconds() as f64 / 1000.0)
        .collect();
    delays.sort_by(f64::total_cmp);
    let kept_uploads: Vec<_> = files_under(&data.join("objects/likeness/uploads"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".s3s"))
        .collect();
    let tarpitted = *receiver.tarpitted.lock().unwrap();
    let loris_held: Vec<f64> = {
        let mut held = Vec::new();
        for l in loris {
            held.push(l.await.unwrap().as_secs_f64());
        }
        held.sort_by(f64::total_cmp);
        held
    };

    let report = format!(
        "reliability run, N = {n}\n\
         ordered {n} in {ordered_in:.1?}; all ready after {finished_in:.1?} \
         (throughput {:.1} previews/min, kill and restart included)\n\
         time to ready (order to webhook): p50 {:.1} s, p95 {:.1} s, max {:.1} s\n\
         lost {}, doubled {}, unannounced {unannounced}; uploads kept {}\n\
         kill -9 after {ready_at_kill} ready; the dead process held {} messages ({:?})\n\
         restart: API answering after {api_back:.2?}, every held message taken again after {retaken:.2?}, \
         first preview ready after {first_ready_after:.2?} (killed {:.2?} before the restart)\n\
         peak memory: {} MiB before the kill, {} MiB after the run\n\
         webhook delay (event to arrival) with {tarpitted} deliveries held in a tarpit: p50 {:.3} s, p95 {:.3} s, max {:.3} s\n\
         slow loris: {LORIS_SOCKETS} sockets, {loris_open} still open at the kill; held p50 {:.1} s, max {:.1} s\n\
         burst of {BURST_ORDERS} over a limit of {BURST_LIMIT}/min: {burst_created} created, {} refused {:?}",
        n as f64 / finished_in.as_secs_f64() * 60.0,
        percentile(&to_ready, 50.0),
        percentile(&to_ready, 95.0),
        to_ready.last().copied().unwrap_or(f64::NAN),
        lost.len(),
        doubled.len(),
        kept_uploads.len(),
        held.len(),
        held.iter()
            .map(|m| m.queue.as_str())
            .collect::<BTreeSet<_>>(),
        restarted_at - killed_at,
        peak_before.map_or("?".into(), |m| format!("{m:.0}")),
        peak_after.map_or("?".into(), |m| format!("{m:.0}")),
        percentile(&delays, 50.0),
        percentile(&delays, 95.0),
        delays.last().copied().unwrap_or(f64::NAN),
        percentile(&loris_held, 50.0),
        loris_held.last().copied().unwrap_or(f64::NAN),
        burst_refused.len(),
        burst_refused.first(),
    );
    eprintln!("{report}");
    if let Ok(path) = std::env::var("LIKENESS_RELIABILITY_REPORT") {
        std::fs::write(path, &report).unwrap();
    }
    service.start_kill().unwrap();
    let _ = service.wait().await;

    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(doubled.is_empty(), "more than one event id: {doubled:?}");
    assert_eq!(unannounced, 0, "previews without a webhook");
    assert!(kept_uploads.is_empty(), "photos kept: {kept_uploads:?}");
    assert!(
        !held.is_empty(),
        "the kill came when nothing was in hand: no recovery was tested"
    );
    assert!(
        retaken < Duration::from_secs(15),
        "recovery took {retaken:?}"
    );
    assert!(
        percentile(&delays, 95.0) < 1.0,
        "webhooks delayed by the tarpit: {delays:?}"
    );
    assert!(tarpitted > 0, "the tarpit was never reached");
    assert_eq!(burst_created, BURST_LIMIT);
    assert!(
        burst_refused.iter().all(|(status, retry)| *status == 429
            && retry
                .as_deref()
                .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)))),
        "{burst_refused:?}"
    );
    assert!(
        loris_held.last().is_some_and(|&s| s < 30.0),
        "slow-loris sockets held for {loris_held:?} s"
    );
}
