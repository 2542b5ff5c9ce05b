//! A likeness miss changes what the next attempt renders with, all the way
//! into the diffusion engine: the judge lowers the strength, raises the
//! identity scale and picks a new base seed; the state machine's
//! `NextAttempt` state hands `verdict.parameters` to the next `Render` task
//! unchanged; the render worker builds the engine request from them; and the
//! diffusion engine (a tiny random-weight model with the real layout) samples
//! with exactly those values.

mod common;

#[path = "../../render/diffusion/tests/common/mod.rs"]
mod tiny;

use common::{PREVIEW, Stack, event, photo_png, repo_path};
use likeness_core::ports::Blobs;
use likeness_core::tasks::{
    Decision, JudgeTask, RenderOutput, RenderParameters, RenderTask, RenderedCandidate,
};
use likeness_core::testing::RecordingWorkflow;
use likeness_core::{Catalogue, PreviewId, StyleId, keys, seeds};
use likeness_judge::judge_task;
use likeness_render::diffusion::{DiffusionEngine, DiffusionSettings};
use likeness_render::worker::RenderWorker;
use likeness_render::{Engine, IdentityHints};
use std::sync::Arc;
use std::time::Duration;

fn png(path: &str, long_side: u32) -> Vec<u8> {
    let image = image::open(repo_path(path)).expect("fixture photo");
    let small = image.resize(long_side, long_side, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small
        .to_rgb8()
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_likeness_miss_reaches_the_diffusion_engine_as_more_identity_and_less_strength() {
    let stack = Stack::start().await;
    let id = PreviewId::new(PREVIEW);
    let style = StyleId::new("oil");
    stack
        .blobs
        .put(&keys::reference(&id), photo_png(256), "image/png")
        .await
        .unwrap();
    // Attempt 1 rendered with diffusion at strength 0.6 and identity scale 0.6,
    // and drew no face at all (a coffee cup): a likeness miss.
    let first = seeds::first(&id, &style);
    let mut candidates = Vec::new();
    for n in 0..2 {
        let key = keys::candidate(&id, &style, 1, n);
        stack
            .blobs
            .put(
                &key,
                png("tests/fixtures/photos/coffee.png", 256),
                "image/png",
            )
            .await
            .unwrap();
        candidates.push(RenderedCandidate {
            key,
            seed: seeds::variation(first, n as u32),
            engine: "diffusion".into(),
            compute_ms: 10,
        });
    }
    let mut judge: JudgeTask = serde_json::from_value(event("judge.json")).unwrap();
    judge.render = RenderOutput {
        engine: "diffusion".into(),
        parameters: RenderParameters {
            seed: Some(first),
            strength: Some(0.6),
            identity_scale: Some(0.6),
        },
        candidates,
        render_ms: 20,
    };
    let verdict = judge_task::handle(&stack.judge_ports(None), judge)
        .await
        .expect("a verdict");
    assert_eq!(verdict.decision, Decision::Retry, "{}", verdict.note);
    let next = verdict.parameters.expect("retry parameters");
    assert_eq!(next.seed, Some(seeds::next(first, 1)));
    assert!((next.strength.unwrap() - 0.5).abs() < 1e-6, "{next:?}");
    assert!(
        (next.identity_scale.unwrap() - 0.8).abs() < 1e-6,
        "{next:?}"
    );

    // `NextAttempt`: the next Render message carries the verdict's parameters.
    let mut task: RenderTask = serde_json::from_value(event("render-task-message.json")).unwrap();
    task.attempt = 2;
    task.parameters = next;
    let message: RenderTask = serde_json::from_value(serde_json::to_value(&task).unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    tiny::write_tiny_model(dir.path());
    let settings = DiffusionSettings {
        steps: 2,
        ..DiffusionSettings::default()
    };
    let engine = Arc::new(DiffusionEngine::load(dir.path(), settings.clone()).expect("tiny model"));
    let catalogue = Arc::new(Catalogue::builtin());
    let worker = RenderWorker {
        queue: stack.queue.clone(),
        queue_name: "render".into(),
        workflow: Arc::new(RecordingWorkflow::default()),
        blobs: stack.blobs.clone(),
        engine: engine.clone(),
        catalogue,
        heartbeat: Duration::from_secs(30),
        long_side: 64,
        landmarks: None,
    };
    let reference = tiny::photo(48, 64);
    let request = worker
        .request(&message, reference, IdentityHints::default())
        .unwrap();
    assert_eq!(request.seed, seeds::next(first, 1));
    assert!((request.strength - 0.5).abs() < 1e-6);
    assert_eq!(request.identity_scale, Some(next.identity_scale.unwrap()));
    let sampled = engine.img2img_request(&request);
    // The order's subject names the prompt, though no face hint was passed.
    assert!(sampled.prompt.contains("a person"), "{}", sampled.prompt);
    assert!(
        (sampled.ip_scale - 0.8).abs() < 1e-6,
        "{}",
        sampled.ip_scale
    );
    assert_ne!(sampled.ip_scale, settings.ip_scale, "not the fixed default");
    assert!((sampled.strength - 0.5).abs() < 1e-6);
    assert_eq!(
        sampled.seeds,
        vec![seeds::next(first, 1), seeds::next(first, 1) + 1]
    );
    assert_eq!(
        engine.identity_scale(&request),
        Some(next.identity_scale.unwrap())
    );

    // The tiny model renders with them, and the identity scale changes the result.
    let raised = engine.render(&request).expect("render at the raised scale");
    let mut at_default = request.clone();
    at_default.identity_scale = None;
    let default = engine
        .render(&at_default)
        .expect("render at the default scale");
    assert_eq!(raised.len(), 2);
    assert_ne!(
        raised[0].image.as_raw(),
        default[0].image.as_raw(),
        "the identity scale reaches the sampler"
    );
}
