//! An abandoned render stops computing. When the workflow no longer waits for
//! a task (a heartbeat during the render is refused), the render worker sets the render's cancel
//! flag; the diffusion engine (the parity suite's tiny model, 600 denoising
//! steps) checks it at every step, so at most the step under way finishes, and
//! the worker answers once it has, instead of the rest of the render running on
//! a thread nobody waits for.

use async_trait::async_trait;
use image::RgbImage;
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ports::{Blobs, StartOutcome, Workflow};
use likeness_core::task_error::names;
use likeness_core::tasks::RenderTask;
use likeness_core::testing::{MemQueue, MemoryBlobs};
use likeness_core::{Catalogue, StyleId, keys};
use likeness_render::diffusion::{DiffusionEngine, DiffusionSettings, StepProgress};
use likeness_render::worker::RenderWorker;
use likeness_render::{CancelFlag, ClassicEngine, Engine, RenderError, RenderRequest};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Step Functions whose task times out once rendering has begun: the worker's
/// heartbeat on receipt is accepted, every later one refused. Records when the
/// first refusal was.
#[derive(Default)]
struct TimedOut {
    received: std::sync::atomic::AtomicBool,
    refused_at: Mutex<Option<Instant>>,
}

#[async_trait]
impl Workflow for TimedOut {
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
        if !self
            .received
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        self.refused_at
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        Err(PortError::Conflict("task timed out".into()))
    }
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    })
}

fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_diffusion_render_stops_within_one_step() {
    let task: RenderTask = serde_json::from_str(
        &std::fs::read_to_string(repo("../../events/render-task-message.json")).unwrap(),
    )
    .unwrap();
    let blobs = Arc::new(MemoryBlobs::default());
    blobs
        .put(
            &keys::reference(&task.preview_id),
            png(&photo(60, 80)),
            "image/png",
        )
        .await
        .unwrap();
    let steps: Arc<Mutex<Vec<(StepProgress, Instant)>>> = Arc::default();
    let seen = steps.clone();
    let engine = DiffusionEngine::load(
        &repo("diffusion/tests/reference/diffusion/model"),
        DiffusionSettings {
            steps: 1000,
            ..DiffusionSettings::default()
        },
    )
    .unwrap()
    .with_progress(Arc::new(move |p: &StepProgress| {
        seen.lock().unwrap().push((p.clone(), Instant::now()))
    }));
    let workflow = Arc::new(TimedOut::default());
    let worker = RenderWorker {
        queue: Arc::new(MemQueue::default()),
        queue_name: "render".into(),
        workflow: workflow.clone(),
        blobs,
        engine: Arc::new(engine),
        catalogue: Arc::new(Catalogue::builtin()),
        heartbeat: Duration::from_millis(100),
        long_side: 64,
        landmarks: None,
    };

    let failure = worker.render(&task).await.unwrap_err();
    assert_eq!(failure.error, names::RENDER_ABANDONED);
    // The worker answered once the engine had stopped: nothing runs afterwards,
    // so the next task has the device to itself.
    let answered = Instant::now();
    let at_answer = steps.lock().unwrap().len();
    // Far longer than one step of the tiny model (a few ms here).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let steps = steps.lock().unwrap();
    assert_eq!(steps.len(), at_answer, "steps ran after the answer");
    assert!(steps.iter().all(|(_, at)| *at <= answered));
    // The flag is set right after the refused heartbeat: at most the step under
    // way then reports.
    let refused = workflow.refused_at.lock().unwrap().expect("a heartbeat");
    let after = steps.iter().filter(|(_, at)| *at > refused).count();
    assert!(
        after <= 1,
        "{after} steps finished after the task was abandoned"
    );
    eprintln!(
        "abandoned at step {} of 600; answered {:?} after the refused heartbeat",
        steps.len().saturating_sub(1),
        answered - refused
    );
    let total = steps[0].0.total;
    assert_eq!(total, 600, "oil's strength 0.6 of 1000 steps");
    let last = steps.last().unwrap().0.done;
    assert!(
        last < total / 2,
        "the render ran on to step {last} of {total}"
    );
}

#[test]
fn a_cancelled_flag_stops_both_engines_before_any_work() {
    let style = Catalogue::builtin()
        .get(&StyleId::new("watercolor"))
        .cloned()
        .unwrap();
    let mut request = RenderRequest::new(photo(60, 80), style, 1);
    request.long_side = 64;
    let cancel = CancelFlag::default();
    cancel.cancel();
    let classic = ClassicEngine::default();
    assert!(matches!(
        classic.render_cancellable(&request, &cancel),
        Err(RenderError::Cancelled)
    ));
    let steps = Arc::new(Mutex::new(0));
    let counted = steps.clone();
    let diffusion = DiffusionEngine::load(
        &repo("diffusion/tests/reference/diffusion/model"),
        DiffusionSettings::default(),
    )
    .unwrap()
    .with_progress(Arc::new(move |_: &StepProgress| {
        *counted.lock().unwrap() += 1
    }));
    assert!(matches!(
        diffusion.render_cancellable(&request, &cancel),
        Err(RenderError::Cancelled)
    ));
    assert_eq!(*steps.lock().unwrap(), 0);
    // Uncancelled, both render.
    let fresh = CancelFlag::default();
    assert_eq!(
        classic.render_cancellable(&request, &fresh).unwrap().len(),
        1
    );
    assert_eq!(
        diffusion
            .render_cancellable(&request, &fresh)
            .unwrap()
            .len(),
        1
    );
}
