//! Benchmark: how long the render worker takes, once the workflow stops
//! waiting for a task, to stop computing and be idle again (free for the next
//! message), for both engines; against, measured in the same run, what the
//! engine would have gone on computing (the whole render, and for diffusion
//! one denoising step, the unit the engine checks its cancel flag at).
//!
//! The worker renders the fixture's task; its heartbeat on receipt is
//! accepted, the next one (after `--heartbeat-ms`) is refused as Step
//! Functions refuses a timed-out task's. Latency = from that refusal to
//! `RenderWorker::render` returning `Render.Abandoned`.
//!
//! `cargo bench -p likeness-render --bench cancel_latency -- [--runs N] [--heartbeat-ms MS] [--classic-px PX]`

use async_trait::async_trait;
use image::RgbImage;
use likeness_core::error::PortResult;
use likeness_core::ports::{Blobs, StartOutcome, Workflow};
use likeness_core::task_error::names;
use likeness_core::tasks::RenderTask;
use likeness_core::testing::{MemQueue, MemoryBlobs};
use likeness_core::{Catalogue, PortError, keys};
use likeness_render::diffusion::{DiffusionEngine, DiffusionSettings, StepProgress};
use likeness_render::worker::RenderWorker;
use likeness_render::{ClassicEngine, Engine};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Step Functions after the task timed out: the heartbeat on receipt passes,
/// every later call is refused; the first refusal's time is kept.
#[derive(Default)]
struct TimesOut {
    received: AtomicBool,
    refused_at: Mutex<Option<Instant>>,
}

#[async_trait]
impl Workflow for TimesOut {
    async fn start_execution(&self, _: &str, _: Value) -> PortResult<StartOutcome> {
        Ok(StartOutcome::Started)
    }
    async fn send_task_success(&self, _: &str, _: Value) -> PortResult<()> {
        Err(PortError::Conflict("task timed out".into()))
    }
    async fn send_task_failure(&self, _: &str, _: &str, _: &str) -> PortResult<()> {
        Err(PortError::Conflict("task timed out".into()))
    }
    async fn send_task_heartbeat(&self, _: &str) -> PortResult<()> {
        if !self.received.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.refused_at
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        Err(PortError::Conflict("task timed out".into()))
    }
}

/// Answers everything: the same render, run to the end.
struct Waits;

#[async_trait]
impl Workflow for Waits {
    async fn start_execution(&self, _: &str, _: Value) -> PortResult<StartOutcome> {
        Ok(StartOutcome::Started)
    }
    async fn send_task_success(&self, _: &str, _: Value) -> PortResult<()> {
        Ok(())
    }
    async fn send_task_failure(&self, _: &str, _: &str, _: &str) -> PortResult<()> {
        Ok(())
    }
    async fn send_task_heartbeat(&self, _: &str) -> PortResult<()> {
        Ok(())
    }
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn worker(
    engine: Arc<dyn Engine>,
    workflow: Arc<dyn Workflow>,
    blobs: Arc<MemoryBlobs>,
    heartbeat: Duration,
    long_side: u32,
) -> RenderWorker {
    RenderWorker {
        queue: Arc::new(MemQueue::default()),
        queue_name: "render".into(),
        workflow,
        blobs,
        engine,
        catalogue: Arc::new(Catalogue::builtin()),
        heartbeat,
        long_side,
        landmarks: None,
    }
}

struct Measured {
    /// Refused heartbeat → worker idle, ms.
    latency: Vec<f64>,
    /// The same render uncancelled, ms.
    full: Vec<f64>,
}

async fn measure(
    engine: Arc<dyn Engine>,
    task: &RenderTask,
    blobs: Arc<MemoryBlobs>,
    heartbeat: Duration,
    long_side: u32,
    runs: usize,
) -> Measured {
    let mut m = Measured {
        latency: Vec::new(),
        full: Vec::new(),
    };
    for _ in 0..runs {
        let workflow = Arc::new(TimesOut::default());
        let w = worker(
            engine.clone(),
            workflow.clone(),
            blobs.clone(),
            heartbeat,
            long_side,
        );
        let failure = w.render(task).await.unwrap_err();
        let idle = Instant::now();
        assert_eq!(failure.error, names::RENDER_ABANDONED, "{failure:?}");
        let refused = workflow.refused_at.lock().unwrap().expect("a refusal");
        m.latency.push((idle - refused).as_secs_f64() * 1000.0);

        let w = worker(
            engine.clone(),
            Arc::new(Waits),
            blobs.clone(),
            heartbeat,
            long_side,
        );
        let started = Instant::now();
        w.render(task).await.unwrap();
        m.full.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    m
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut runs, mut heartbeat_ms, mut classic_px) = (9usize, 100u64, 2048u32);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            "--heartbeat-ms" => {
                heartbeat_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(heartbeat_ms)
            }
            "--classic-px" => {
                classic_px = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(classic_px)
            }
            _ => {}
        }
    }
    let heartbeat = Duration::from_millis(heartbeat_ms);
    let task: RenderTask = serde_json::from_str(
        &std::fs::read_to_string(repo("../../events/render-task-message.json")).unwrap(),
    )
    .unwrap();
    let blobs = Arc::new(MemoryBlobs::default());
    let photo = RgbImage::from_fn(600, 800, |x, y| {
        image::Rgb([(x * 255 / 600) as u8, (y * 255 / 800) as u8, 128])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    photo.write_to(&mut png, image::ImageFormat::Png).unwrap();
    blobs
        .put(
            &keys::reference(&task.preview_id),
            png.into_inner(),
            "image/png",
        )
        .await
        .unwrap();

    // Classic at 2048 px: a render takes several heartbeats, so the refusal
    // (one heartbeat in) comes mid-render.
    let classic = Arc::new(ClassicEngine::new(Catalogue::builtin()));
    let c = measure(classic, &task, blobs.clone(), heartbeat, classic_px, runs).await;

    // Diffusion: the parity suite's tiny random-weight model, 1000 scheduler
    // steps (600 at oil's strength); one step's time is the baseline.
    let steps: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = steps.clone();
    let diffusion = Arc::new(
        DiffusionEngine::load(
            &repo("diffusion/tests/reference/diffusion/model"),
            DiffusionSettings {
                steps: 1000,
                ..DiffusionSettings::default()
            },
        )
        .expect("the tiny diffusion model (functions/render/diffusion/tests/reference)")
        .with_progress(Arc::new(move |_: &StepProgress| {
            seen.lock().unwrap().push(Instant::now())
        })),
    );
    let d = measure(diffusion, &task, blobs, heartbeat, 64, runs).await;
    let step_ms = {
        let at = steps.lock().unwrap();
        median(
            at.windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
                .filter(|ms| *ms < 1000.0)
                .collect(),
        )
    };

    println!("cancellation latency: refused heartbeat -> worker idle, median of {runs} runs");
    println!(
        "| engine | abandon -> idle (ms) | uncancelled render (ms) | latency / render | one step (ms) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let (cl, cf) = (median(c.latency), median(c.full));
    println!(
        "| classic ({classic_px} px) | {cl:.1} | {cf:.1} | {:.3} | - |",
        cl / cf
    );
    let (dl, df) = (median(d.latency), median(d.full));
    println!(
        "| diffusion (tiny model, 600 steps) | {dl:.1} | {df:.1} | {:.3} | {step_ms:.2} |",
        dl / df
    );
}
