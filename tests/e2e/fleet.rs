//! The GPU render fleet, simulated on a compressed clock.
//!
//! AWS cannot run here, so its parts that decide when a preview is ready are
//! modelled, and everything else is the real code:
//! - real: the state machine definition (`infra/statemachine/preview.asl.json`)
//!   on the embedded runner, the render queue (`SqliteQueue`, SQS semantics,
//!   redrive after the template's `maxReceiveCount`), and the render worker
//!   loop (`RenderWorker::run_holding`: heartbeats, visibility, scale-in
//!   protection through `TaskHolding`, fail-back on SIGTERM, cancellation).
//! - modelled: Application Auto Scaling target tracking with the template's
//!   numbers (target, cooldowns, min and max tasks, read from
//!   `infra/template.yaml` here), CloudWatch's one-minute datapoints and the
//!   alarms target tracking creates (3 datapoints above target to scale out,
//!   15 below 90 % of it to scale in), ECS placing one task per GPU instance,
//!   a cold start (instance launch, image pull, model load), render times,
//!   the Lambda stages' durations, and spot interruptions (SIGTERM at the
//!   two-minute notice, the instance gone at its end).
//!
//! Time is Tokio's paused clock: whenever every task waits, it jumps to the
//! next timer, so hours of fleet time run in seconds, and the same inputs give
//! the same run. The queue reads that clock through the `Clock` port.

use chrono::{DateTime, TimeZone, Utc};
use image::RgbImage;
use likeness_core::cost::{self, PriceTable, StageRun, StageUnits, meters};
use likeness_core::ports::{Blobs, Clock, Workflow};
use likeness_core::task_error::names;
use likeness_core::testing::MemoryBlobs;
use likeness_core::{Catalogue, PreviewId, StyleId, TenantId, keys};
use likeness_embedded::{QueueOptions, SqliteQueue};
use likeness_render::worker::{RenderWorker, TaskHolding};
use likeness_render::{CancelFlag, Candidate, Engine, RenderError, RenderRequest};
use likeness_workflow::{
    Definition, ExecutionStatus, FnLambda, InProcessHandlers, Runner, StatesError, Store,
    TimeScale, testing_substitutions,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const QUEUE: &str = "render";
const DLQ: &str = "render-dlq";
/// Spot's interruption notice: SIGTERM now, the instance gone after this.
const SPOT_NOTICE_S: f64 = 120.0;
/// CloudWatch publishes the queue and Container Insights metrics per minute;
/// the alarms target tracking creates evaluate those datapoints.
const DATAPOINT_S: f64 = 60.0;
const SCALE_OUT_DATAPOINTS: usize = 3;
const SCALE_IN_DATAPOINTS: usize = 15;
const SCALE_IN_THRESHOLD: f64 = 0.9;
/// EC2 bills Linux instances per second with a one-minute minimum.
const MIN_BILLED_S: f64 = 60.0;
/// Lambda stages (modelled durations; their cost is not the fleet's).
const JUDGE_S: f64 = 3.0;
const FINALIZE_S: f64 = 1.0;
const NOTIFY_S: f64 = 0.2;
const MARK_FAILED_S: f64 = 0.5;
/// One render (one style, the fixture's two variations) on the GPU: 20 s
/// ±20 % by seed. An assumption: no GPU timing of the diffusion engine exists.
const RENDER_S: f64 = 20.0;
const RENDER_STEPS: u32 = 20;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

// ------------------------------------------------------------ the template

/// The lines indented under the first line that reads exactly `header`.
fn block(text: &str, header: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("infra/template.yaml has no `{header}`"));
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect::<Vec<_>>()
        .join("\n")
}

fn number(block: &str, key: &str) -> f64 {
    let prefix = format!("{key}:");
    let line = block
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{key}` in the template block:\n{block}"));
    line[prefix.len()..]
        .trim()
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|e| panic!("`{line}`: {e}"))
}

/// The numbers of the deployed fleet, as `infra/template.yaml` sets them
/// (parameters at their defaults).
#[derive(Clone, Debug)]
struct FleetPolicy {
    target: f64,
    scale_out_cooldown: f64,
    scale_in_cooldown: f64,
    min_tasks: usize,
    max_tasks: usize,
    heartbeat_s: f64,
    stop_timeout_s: f64,
    max_receives: u32,
    max_concurrency: u32,
    max_judge_attempts: u32,
}

impl FleetPolicy {
    fn from_template() -> Self {
        let text = std::fs::read_to_string(repo("infra/template.yaml")).unwrap();
        let policy = block(&text, "RenderBacklogPerTask:");
        let default = |param: &str| number(&block(&text, &format!("{param}:")), "Default");
        let target = block(&text, "RenderScalableTarget:");
        assert!(
            target.contains("MinCapacity: !Ref RenderMinTasks"),
            "{target}"
        );
        assert!(
            target.contains("MaxCapacity: !Ref RenderMaxInstances"),
            "{target}"
        );
        let policy = Self {
            target: number(&policy, "TargetValue"),
            scale_out_cooldown: number(&policy, "ScaleOutCooldown"),
            scale_in_cooldown: number(&policy, "ScaleInCooldown"),
            min_tasks: default("RenderMinTasks") as usize,
            max_tasks: default("RenderMaxInstances") as usize,
            heartbeat_s: default("RenderHeartbeatSeconds"),
            stop_timeout_s: number(&block(&text, "RenderTaskDefinition:"), "StopTimeout"),
            max_receives: number(&block(&text, "RenderQueue:"), "maxReceiveCount") as u32,
            max_concurrency: default("MaxConcurrency") as u32,
            max_judge_attempts: default("MaxJudgeAttempts") as u32,
        };
        assert!(policy.target > 0.0 && policy.max_tasks >= 1, "{policy:?}");
        // ECS's SIGKILL must come after the worker could fail back, and before
        // the spot instance goes.
        assert!(policy.stop_timeout_s < SPOT_NOTICE_S, "{policy:?}");
        policy
    }
}

// ------------------------------------------------------------ the clock

/// Wall-clock time on Tokio's (paused) clock, for the queue's visibility.
struct VirtualClock {
    base: DateTime<Utc>,
    start: Instant,
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap()
    }
}

// ------------------------------------------------------------ the GPU

/// A GPU render: `RENDER_STEPS` steps of device time on the virtual clock,
/// checking the cancel flag before each as the real engines do. Counts the
/// device seconds it was busy, finished or not.
#[derive(Default)]
struct ModelledGpu {
    busy_ms: AtomicU64,
}

impl ModelledGpu {
    fn render_seconds(seed: u64) -> f64 {
        RENDER_S * (0.8 + (seed % 41) as f64 / 100.0)
    }
}

impl Engine for ModelledGpu {
    fn name(&self) -> &str {
        "modelled-gpu"
    }

    fn render(&self, _: &RenderRequest) -> Result<Vec<Candidate>, RenderError> {
        Err(RenderError::Engine {
            engine: self.name().into(),
            reason: "renders only on the simulation's clock (Engine::start)".into(),
        })
    }

    fn start(
        self: Arc<Self>,
        request: RenderRequest,
        cancel: CancelFlag,
    ) -> tokio::task::JoinHandle<Result<Vec<Candidate>, RenderError>> {
        tokio::spawn(async move {
            let total = Self::render_seconds(request.seed);
            let step = Duration::from_secs_f64(total / f64::from(RENDER_STEPS));
            for _ in 0..RENDER_STEPS {
                cancel.check()?;
                tokio::time::sleep(step).await;
                self.busy_ms
                    .fetch_add(step.as_millis() as u64, Ordering::Relaxed);
            }
            Ok((0..request.variations)
                .map(|v| Candidate {
                    image: RgbImage::new(8, 8),
                    seed: request.seed + u64::from(v),
                    engine: "modelled-gpu".into(),
                    compute_ms: (total * 1000.0) as u64,
                })
                .collect())
        })
    }
}

// ------------------------------------------------------------ ECS tasks

/// What `TaskHolding` tells ECS (scale-in protection), kept for the model.
struct Holding {
    start: Instant,
    protected: std::sync::atomic::AtomicBool,
    /// When the task last took a render and when it last let go of one.
    took_at: Mutex<Option<f64>>,
    released_at: Mutex<Option<f64>>,
}

#[async_trait::async_trait]
impl TaskHolding for Holding {
    async fn took_task(&self) {
        self.protected.store(true, Ordering::SeqCst);
        *self.took_at.lock().unwrap() = Some(self.start.elapsed().as_secs_f64());
    }
    async fn finished_task(&self) {
        self.protected.store(false, Ordering::SeqCst);
        *self.released_at.lock().unwrap() = Some(self.start.elapsed().as_secs_f64());
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Instance launching, image pulling, model loading: billed, not running.
    Cold,
    Running,
    /// SIGTERM sent (spot notice or scale-in); the worker is finishing.
    Draining,
    Stopped,
}

struct FleetTask {
    launched: f64,
    ready_at: f64,
    /// When the instance goes away (set when draining starts).
    ends_at: Option<f64>,
    phase: Phase,
    stop: CancellationToken,
    holding: Arc<Holding>,
    gpu: Arc<ModelledGpu>,
    run: Option<tokio::task::JoinHandle<()>>,
    spot_notice: Option<f64>,
}

impl FleetTask {
    fn billed(&self, now: f64) -> f64 {
        (self.ends_at.unwrap_or(now).min(now) - self.launched).max(MIN_BILLED_S)
    }
}

// ------------------------------------------------------------ scenarios

struct Scenario {
    name: &'static str,
    previews: usize,
    /// Tasks already running (warm) at the start; the scalable target's
    /// desired count starts there.
    warm_tasks: usize,
    cold_start_s: f64,
    /// A spot interruption notice at this time, to the first busy task.
    spot_at: Option<f64>,
}

#[derive(Debug, Default)]
struct Outcome {
    ready: BTreeMap<String, f64>,
    failed: BTreeMap<String, f64>,
}

#[derive(Debug)]
struct Report {
    name: &'static str,
    previews: usize,
    lost: usize,
    failed: usize,
    p50: f64,
    p95: f64,
    busy_s: f64,
    metered_busy_s: f64,
    billed_s: f64,
    idle_s: f64,
    /// GPU cost per preview as the renders meter it, and with the day's
    /// billed-but-idle fleet time spread over the previews (the ledger's line).
    usd_busy_per_preview: f64,
    usd_real_per_preview: f64,
    peak_tasks: usize,
    interrupted_renders: usize,
    spot_released_after_s: Option<f64>,
    end_s: f64,
    dead_letters: usize,
}

impl Report {
    fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} % | {} | {:.4} | {:.4} | {:.0} |",
            self.name,
            self.previews,
            self.lost,
            self.failed,
            self.p50,
            self.p95,
            self.busy_s,
            self.billed_s,
            100.0 * self.busy_s / self.billed_s.max(1e-9),
            self.peak_tasks,
            self.usd_busy_per_preview,
            self.usd_real_per_preview,
            self.end_s,
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn preview_id(n: usize) -> String {
    format!("pv_{n:032x}")
}

/// The judge asks for a second render of one style in eight (new seed).
fn judge_retries(preview: &str) -> bool {
    preview.bytes().map(u64::from).sum::<u64>() % 8 == 0
}

fn lambda(outcome: Arc<Mutex<Outcome>>, start: Instant, kind: &'static str) -> Arc<FnLambda> {
    Arc::new(FnLambda::new(move |payload: Value| {
        let outcome = outcome.clone();
        async move {
            let id = payload["preview_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let (seconds, out) = match kind {
                "judge" => {
                    let attempt = payload["attempt"].as_u64().unwrap_or(1);
                    let retry = attempt == 1 && judge_retries(&id);
                    let verdict = if retry {
                        json!({"decision": "retry", "parameters": {"seed": 7_000 + attempt}, "selected": [], "note": "", "judged": []})
                    } else {
                        json!({"decision": "pass", "parameters": null, "selected": [], "note": "", "judged": []})
                    };
                    (JUDGE_S, verdict)
                }
                "finalize" => (FINALIZE_S, json!({"delivered": 1})),
                "notify" => (NOTIFY_S, json!({})),
                _ => (MARK_FAILED_S, json!({})),
            };
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            let at = start.elapsed().as_secs_f64();
            match kind {
                "finalize" => {
                    outcome.lock().unwrap().ready.insert(id, at);
                }
                "mark-failed" => {
                    outcome.lock().unwrap().failed.insert(id, at);
                }
                _ => {}
            }
            Ok::<Value, StatesError>(out)
        }
    }))
}

/// What the judge meters for a render: the engine time the worker reports.
struct Metered(Mutex<BTreeMap<String, f64>>);

async fn simulate(scenario: Scenario) -> Report {
    let policy = FleetPolicy::from_template();
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(VirtualClock {
        base: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        start,
    });
    let queue = SqliteQueue::open(&dir.path().join("queue.sqlite"), clock.clone())
        .unwrap()
        .with_poll_interval(Duration::from_secs(1));
    queue
        .declare(
            QUEUE,
            QueueOptions {
                max_receives: Some(policy.max_receives),
                dead_letter: Some(DLQ.into()),
            },
        )
        .await
        .unwrap();
    let queue = Arc::new(queue);

    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let metered = Arc::new(Metered(Mutex::new(BTreeMap::new())));
    let subs = {
        let mut s = testing_substitutions();
        s.insert("MaxConcurrency".into(), policy.max_concurrency.to_string());
        s.insert(
            "MaxJudgeAttempts".into(),
            policy.max_judge_attempts.to_string(),
        );
        s
    };
    let definition = Definition::load(
        &std::fs::read_to_string(repo("infra/statemachine/preview.asl.json")).unwrap(),
        &subs,
    )
    .unwrap();
    let arn = |name: &str| subs[&format!("{name}FunctionArn")].clone();
    let judge = {
        let inner = lambda(outcome.clone(), start, "judge");
        let metered = metered.clone();
        Arc::new(FnLambda::new(move |payload: Value| {
            let inner = inner.clone();
            let metered = metered.clone();
            async move {
                let id = payload["preview_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let ms = payload["render"]["render_ms"].as_f64().unwrap_or(0.0);
                *metered.0.lock().unwrap().entry(id).or_default() += ms / 1000.0;
                likeness_workflow::Lambda::invoke(inner.as_ref(), payload).await
            }
        }))
    };
    let handlers = InProcessHandlers::new()
        .lambda(&arn("Judge"), judge)
        .lambda(&arn("Finalize"), lambda(outcome.clone(), start, "finalize"))
        .lambda(&arn("Notify"), lambda(outcome.clone(), start, "notify"))
        .lambda(
            &arn("MarkFailed"),
            lambda(outcome.clone(), start, "mark-failed"),
        )
        .queue(queue.clone());
    let runner = Arc::new(Runner::new(
        "preview",
        &definition,
        Arc::new(handlers),
        Store::in_memory().unwrap(),
        TimeScale::REAL,
    ));

    let blobs = Arc::new(MemoryBlobs::default());
    let reference = png(&RgbImage::from_pixel(32, 32, image::Rgb([120, 100, 90])));
    let catalogue = Arc::new(Catalogue::builtin());
    let names: Vec<String> = (0..scenario.previews).map(preview_id).collect();
    for id in &names {
        blobs
            .put(
                &keys::reference(&PreviewId::new(id.clone())),
                reference.clone(),
                "image/png",
            )
            .await
            .unwrap();
    }
    let new_worker = |gpu: Arc<ModelledGpu>| RenderWorker {
        queue: queue.clone(),
        queue_name: QUEUE.into(),
        workflow: runner.clone(),
        blobs: blobs.clone(),
        engine: gpu,
        catalogue: catalogue.clone(),
        // As the ECS worker reads RenderHeartbeatSeconds: it acts every third.
        heartbeat: Duration::from_secs_f64(policy.heartbeat_s / 3.0),
        long_side: 64,
        landmarks: None,
    };
    let launch = |tasks: &mut Vec<FleetTask>, at: f64, cold: f64| {
        tasks.push(FleetTask {
            launched: at,
            ready_at: at + cold,
            ends_at: None,
            phase: Phase::Cold,
            stop: CancellationToken::new(),
            holding: Arc::new(Holding {
                start,
                protected: false.into(),
                took_at: Mutex::new(None),
                released_at: Mutex::new(None),
            }),
            gpu: Arc::default(),
            run: None,
            spot_notice: None,
        });
    };

    let mut tasks: Vec<FleetTask> = Vec::new();
    for _ in 0..scenario.warm_tasks {
        launch(&mut tasks, 0.0, 0.0);
    }
    let mut desired = scenario.warm_tasks;
    let mut peak = desired;
    let mut datapoints: Vec<f64> = Vec::new();
    let mut next_datapoint = DATAPOINT_S;
    let (mut last_out, mut last_in) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut spot_released_after = None;

    let tenant = TenantId::new("acme");
    for id in &names {
        let input = json!({
            "preview_id": id, "tenant": tenant.as_str(), "subject": "person",
            "styles": ["oil"], "variations": 2,
        });
        runner.start_execution(id, input).await.unwrap();
    }

    let horizon = 6.0 * 3600.0;
    loop {
        let t = now();
        // Cold starts that have finished: the container's worker loop starts.
        for task in tasks.iter_mut() {
            if task.phase == Phase::Cold && task.ready_at <= t {
                task.phase = Phase::Running;
                let worker = new_worker(task.gpu.clone());
                let (stop, holding) = (task.stop.clone(), task.holding.clone());
                task.run = Some(tokio::spawn(async move {
                    worker.run_holding(stop, Some(holding.as_ref())).await
                }));
            }
        }
        // The spot notice: ECS drains the instance's task (SIGTERM), the
        // instance goes two minutes later whatever the task is doing.
        if let Some(at) = scenario.spot_at
            && t >= at
            && !tasks.iter().any(|k| k.spot_notice.is_some())
            && let Some(task) = tasks
                .iter_mut()
                .find(|k| k.phase == Phase::Running && k.holding.protected.load(Ordering::SeqCst))
        {
            task.spot_notice = Some(t);
            task.ends_at = Some(t + SPOT_NOTICE_S);
            task.phase = Phase::Draining;
            task.stop.cancel();
        }
        for task in tasks.iter_mut() {
            if task.phase == Phase::Draining && task.run.as_ref().is_none_or(|r| r.is_finished()) {
                if let Some(notice) = task.spot_notice
                    && spot_released_after.is_none()
                {
                    let released = task.holding.released_at.lock().unwrap().unwrap_or(t);
                    spot_released_after = Some(released - notice);
                }
                // A spot instance is billed until it goes; a scaled-in one
                // until its task has stopped.
                let end = task.ends_at.unwrap_or(t);
                if t >= end {
                    task.phase = Phase::Stopped;
                    task.ends_at = Some(end);
                }
            }
        }

        if t >= next_datapoint {
            next_datapoint += DATAPOINT_S;
            let backlog = queue.depth(QUEUE).await.unwrap() as f64;
            let running = tasks
                .iter()
                .filter(|k| matches!(k.phase, Phase::Running | Phase::Draining))
                .count() as f64;
            // The template's metric math: IF(running > 0, backlog / running, backlog).
            let metric = if running > 0.0 {
                backlog / running
            } else {
                backlog
            };
            datapoints.push(metric);
            let last = |n: usize| datapoints.len() >= n;
            let high = last(SCALE_OUT_DATAPOINTS)
                && datapoints[datapoints.len() - SCALE_OUT_DATAPOINTS..]
                    .iter()
                    .all(|m| *m > policy.target);
            let low = last(SCALE_IN_DATAPOINTS)
                && datapoints[datapoints.len() - SCALE_IN_DATAPOINTS..]
                    .iter()
                    .all(|m| *m < SCALE_IN_THRESHOLD * policy.target);
            // Target tracking sets capacity so that the metric meets the target:
            // ceil(capacity × metric / target), capacity counted as one at zero
            // (the metric is then the backlog itself).
            let proposed = ((desired.max(1) as f64) * metric / policy.target).ceil() as usize;
            let proposed = proposed.clamp(policy.min_tasks, policy.max_tasks);
            if high && proposed > desired && t - last_out >= policy.scale_out_cooldown {
                desired = proposed;
                last_out = t;
            } else if low && proposed < desired && t - last_in >= policy.scale_in_cooldown {
                desired = proposed;
                last_in = t;
            }
            peak = peak.max(desired);
        }

        // ECS keeps `desired` tasks: launches on new instances, and on scale-in
        // stops tasks that are starting or idle; a task protected from scale-in
        // (it holds a render) is left to finish.
        let live: Vec<usize> = (0..tasks.len())
            .filter(|&i| matches!(tasks[i].phase, Phase::Cold | Phase::Running))
            .collect();
        if live.len() < desired {
            for _ in live.len()..desired {
                launch(&mut tasks, t, scenario.cold_start_s);
            }
        } else if live.len() > desired {
            let mut excess = live.len() - desired;
            let mut order: Vec<usize> = live.clone();
            order.sort_by_key(|&i| (tasks[i].phase != Phase::Cold, i));
            for i in order {
                if excess == 0 {
                    break;
                }
                let task = &mut tasks[i];
                if task.holding.protected.load(Ordering::SeqCst) {
                    continue;
                }
                task.phase = Phase::Draining;
                task.stop.cancel();
                excess -= 1;
            }
        }

        // Done when every execution has ended and the fleet is back at its minimum.
        let running_executions = names
            .iter()
            .filter(|n| {
                runner
                    .describe(n)
                    .unwrap()
                    .is_none_or(|r| r.status == ExecutionStatus::Running)
            })
            .count();
        let fleet_at_rest = desired == policy.min_tasks
            && tasks.iter().filter(|k| k.phase != Phase::Stopped).count() == policy.min_tasks;
        if (running_executions == 0 && fleet_at_rest) || t > horizon {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let end = now();
    for task in &tasks {
        task.stop.cancel();
    }

    let outcome = std::mem::take(&mut *outcome.lock().unwrap());
    let mut times: Vec<f64> = outcome.ready.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let mut lost = 0;
    for name in &names {
        let record = runner.describe(name).unwrap();
        let finished = record
            .as_ref()
            .is_some_and(|r| r.status != ExecutionStatus::Running);
        let accounted = outcome.ready.contains_key(name) || outcome.failed.contains_key(name);
        if !finished || !accounted {
            lost += 1;
        }
    }
    let interrupted_renders = names
        .iter()
        .flat_map(|n| runner.history(n).unwrap())
        .filter(|e| {
            e.kind == "TaskFailed" && e.detail.to_string().contains(names::RENDER_INTERRUPTED)
        })
        .count();
    let busy_s: f64 = tasks
        .iter()
        .map(|k| k.gpu.busy_ms.load(Ordering::Relaxed) as f64 / 1000.0)
        .sum();
    let billed_s: f64 = tasks.iter().map(|k| k.billed(end)).sum();
    let metered = metered.0.lock().unwrap().clone();
    let metered_busy_s: f64 = metered.values().sum();
    let dead_letters = queue.depth(DLQ).await.unwrap();
    // The ledger's view: each render's metered GPU seconds as a cost line,
    // then the fleet's billed seconds spread over the same previews.
    let prices = PriceTable::builtin();
    let at = clock.now();
    let mut lines = Vec::new();
    for (id, seconds) in &metered {
        let run = StageRun {
            preview_id: PreviewId::new(id.clone()),
            tenant: tenant.clone(),
            stage: "render".into(),
            seq: 0,
            styles: vec![StyleId::new("oil")],
            at,
        };
        let units = StageUnits {
            gpu_seconds: *seconds,
            ..Default::default()
        };
        lines.extend(prices.price_stage(&run, &units).unwrap());
    }
    let spread = cost::spread_fleet(&prices, &lines, billed_s, at).unwrap();
    let gpu = |lines: &[cost::CostLine]| -> (f64, f64) {
        lines
            .iter()
            .filter(|l| {
                matches!(
                    l.meter.as_str(),
                    meters::GPU_SECOND | meters::GPU_IDLE_SECOND
                )
            })
            .fold((0.0, 0.0), |(q, u), l| (q + l.quantity, u + l.usd))
    };
    let (busy_q, busy_usd) = gpu(&lines);
    let (idle_q, idle_usd) = gpu(&spread.lines);
    assert!((busy_q - spread.busy_seconds).abs() < 1e-6);
    assert!((idle_q - spread.idle_seconds).abs() < 1e-6);
    assert_eq!(spread.unallocated_seconds, 0.0);
    let price = prices.prices[meters::GPU_SECOND].usd;
    assert!(
        ((busy_usd + idle_usd) - billed_s * price).abs() < 1e-9,
        "the ledger's GPU lines price what the fleet billed"
    );
    let n = names.len() as f64;
    Report {
        name: scenario.name,
        previews: scenario.previews,
        lost,
        failed: outcome.failed.len(),
        p50: percentile(&times, 50.0),
        p95: percentile(&times, 95.0),
        busy_s,
        metered_busy_s,
        billed_s,
        idle_s: spread.idle_seconds,
        usd_busy_per_preview: busy_usd / n,
        usd_real_per_preview: (busy_usd + idle_usd) / n,
        peak_tasks: peak,
        interrupted_renders,
        spot_released_after_s: spot_released_after,
        end_s: end,
        dead_letters,
    }
}

fn check(report: &Report) {
    eprintln!("{report:#?}");
    eprintln!("{}", report.row());
    assert_eq!(report.lost, 0, "previews lost");
    assert_eq!(report.dead_letters, 0, "render tasks dead-lettered");
    // Every billed second is either a render the judge metered or fleet time
    // the daily line spreads (cold starts, idle, renders cut short).
    assert!(report.metered_busy_s <= report.busy_s + 1e-6, "{report:?}");
    assert!(
        (report.metered_busy_s + report.idle_s - report.billed_s).abs() < 1e-6,
        "{report:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cold_fleet_of_ten_minutes_serves_thirty_queued_previews() {
    let report = simulate(Scenario {
        name: "cold start (10 min), 30 queued",
        previews: 30,
        warm_tasks: 0,
        cold_start_s: 600.0,
        spot_at: None,
    })
    .await;
    check(&report);
    // Waiting longer than any heartbeat in the queue fails nothing.
    assert_eq!(report.failed, 0);
    assert!(
        report.p50 > 600.0,
        "nothing renders before the cold start ends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_two_hundred_previews_on_four_workers() {
    let report = simulate(Scenario {
        name: "burst of 200 on 4 warm workers",
        previews: 200,
        warm_tasks: 4,
        cold_start_s: 600.0,
        spot_at: None,
    })
    .await;
    check(&report);
    assert_eq!(report.failed, 0);
    assert_eq!(report.interrupted_renders, 0);
}

#[tokio::test(start_paused = true)]
async fn a_draining_queue_does_not_stop_busy_workers() {
    // 24 previews on 4 warm workers: 4 render while 20 wait, and the queue
    // drains to 3 and below with all four still busy.
    let report = simulate(Scenario {
        name: "drain 20 to 3, 4 busy",
        previews: 24,
        warm_tasks: 4,
        cold_start_s: 600.0,
        spot_at: None,
    })
    .await;
    check(&report);
    assert_eq!(report.failed, 0);
    assert_eq!(
        report.interrupted_renders, 0,
        "scale-in interrupted a render"
    );
}

#[tokio::test(start_paused = true)]
async fn a_spot_interruption_mid_render_fails_back_and_the_render_is_redone() {
    let report = simulate(Scenario {
        name: "spot interruption mid-render",
        previews: 8,
        warm_tasks: 4,
        cold_start_s: 600.0,
        spot_at: Some(10.0),
    })
    .await;
    check(&report);
    assert_eq!(report.failed, 0);
    assert_eq!(report.interrupted_renders, 1, "{report:?}");
    let released = report
        .spot_released_after_s
        .expect("the notice reached a busy task");
    assert!(
        released < SPOT_NOTICE_S,
        "released {released} s after the notice"
    );
}
