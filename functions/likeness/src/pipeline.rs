//! Every stage of the pipeline in one process, over the embedded stack: the
//! upload consumer (claim + analysis), the ASL runner executing the same state
//! machine definition Step Functions runs, in-process judge/finalize/mark-failed
//! /notify functions, and a render worker answering task tokens.

use crate::costs;
use crate::stack::EmbeddedStack;
use anyhow::Context;
use likeness_analyze::stage::AnalyzeStage;
use likeness_analyze::{UploadOutcome, handle_upload_notification};
use likeness_core::cost::StageUnits;
use likeness_core::ports::{Blobs, Queue};
use likeness_core::{Catalogue, PreviewId, Status};
use likeness_embedded::QueueOptions;
use likeness_judge::DeliveryConfig;
use likeness_judge::tasks::{
    FinalizeStage, FinalizeTask, JudgeStage, JudgeTask, MarkFailedTask, TaskError, mark_failed,
};
use likeness_render::Engine;
use likeness_render::worker::RenderWorker;
use likeness_vision::AnalysisConfig;
use likeness_workflow::{
    Definition, FnLambda, InProcessHandlers, Runner, StatesError, Store, TimeScale,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const RENDER_QUEUE: &str = "render";
pub const RENDER_DLQ: &str = "render-dlq";
const DEFINITION: &str = include_str!("../../../infra/statemachine/preview.asl.json");
const MACHINE: &str = "preview";
const FUNCTION_ARN: &str = "arn:aws:lambda:local:000000000000:function:";

#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub max_concurrency: u32,
    pub heartbeat_seconds: u32,
    pub max_attempts: u32,
    pub long_side: u32,
    pub delivery: DeliveryConfig,
    pub catalogue: Arc<Catalogue>,
    /// Render workers in this process (0: tasks wait for a worker elsewhere).
    pub render_workers: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            max_concurrency: 2,
            heartbeat_seconds: 60,
            max_attempts: 3,
            long_side: 1024,
            delivery: DeliveryConfig::default(),
            catalogue: Arc::new(Catalogue::builtin()),
            render_workers: 1,
        }
    }
}

/// The substitutions SAM would make at deploy time, pointing at in-process parts.
fn substitutions(options: &PipelineOptions) -> BTreeMap<String, String> {
    [
        (
            "RenderQueueUrl",
            format!("http://127.0.0.1/000000000000/{RENDER_QUEUE}"),
        ),
        ("JudgeFunctionArn", format!("{FUNCTION_ARN}judge")),
        ("FinalizeFunctionArn", format!("{FUNCTION_ARN}finalize")),
        (
            "MarkFailedFunctionArn",
            format!("{FUNCTION_ARN}mark-failed"),
        ),
        ("NotifyFunctionArn", format!("{FUNCTION_ARN}notify")),
        ("MaxConcurrency", options.max_concurrency.to_string()),
        (
            "RenderHeartbeatSeconds",
            options.heartbeat_seconds.to_string(),
        ),
        ("MaxJudgeAttempts", options.max_attempts.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The render worker's run (reported in the judge's payload) and the judge's own.
async fn meter_render_and_judge(stack: &EmbeddedStack, task: &JudgeTask, judge_elapsed: Duration) {
    costs::record(
        stack,
        &task.preview_id,
        "render",
        task.attempt,
        Some(&task.style),
        task.render_units(),
    )
    .await;
    let judge = task.judge_units(StageUnits::lambda(judge_elapsed, costs::JUDGE_MEMORY_MB));
    costs::record(
        stack,
        &task.preview_id,
        "judge",
        task.attempt,
        Some(&task.style),
        judge,
    )
    .await;
}

/// Stages that compute for seconds (analysis, judging, encoding) must not hold a
/// runtime worker thread: on a small machine that starves the timers and
/// heartbeats of other executions until they time out. On a multi-threaded
/// runtime the stage first hands its worker's other tasks to another thread; a
/// current-thread runtime has nowhere to move them, so there it simply runs.
async fn compute_heavy<F: std::future::Future>(stage: F) -> F::Output {
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| handle.block_on(stage))
    } else {
        stage.await
    }
}

fn states_error(e: TaskError) -> StatesError {
    StatesError::new(e.error, e.cause)
}

fn payload<T: serde::de::DeserializeOwned>(value: Value, task: &str) -> Result<T, StatesError> {
    serde_json::from_value(value)
        .map_err(|e| StatesError::new("States.Runtime", format!("{task} payload: {e}")))
}

pub struct Pipeline {
    pub stack: Arc<EmbeddedStack>,
    pub runner: Runner,
    pub render: Arc<RenderWorker>,
    pub analysis: AnalysisConfig,
    render_workers: usize,
}

impl Pipeline {
    pub async fn open(
        stack: EmbeddedStack,
        engine: Arc<dyn Engine>,
        options: PipelineOptions,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let stack = Arc::new(stack);
        let render_queue = QueueOptions {
            max_receives: Some(5),
            dead_letter: Some(RENDER_DLQ.into()),
        };
        stack.queue.declare(RENDER_QUEUE, render_queue).await?;
        let catalogue = options.catalogue.clone();
        let blobs: Arc<dyn Blobs> = stack.blobs.clone();
        let model = crate::identity::face_model();

        let judge = {
            let (stack, blobs, catalogue, model) = (
                stack.clone(),
                blobs.clone(),
                catalogue.clone(),
                model.clone(),
            );
            FnLambda::new(move |value| {
                let (stack, blobs, catalogue, model) = (
                    stack.clone(),
                    blobs.clone(),
                    catalogue.clone(),
                    model.clone(),
                );
                async move {
                    let started = Instant::now();
                    let task: JudgeTask = payload(value, "judge")?;
                    let stage = JudgeStage {
                        blobs: &*blobs,
                        catalogue: &catalogue,
                        model: model.as_deref(),
                    };
                    let verdict = compute_heavy(stage.judge(&task))
                        .await
                        .map_err(states_error)?;
                    meter_render_and_judge(&stack, &task, started.elapsed()).await;
                    Ok(verdict)
                }
            })
        };
        let finalize = {
            let (blobs, stack, delivery) = (blobs.clone(), stack.clone(), options.delivery.clone());
            FnLambda::new(move |value| {
                let (blobs, stack, delivery) = (blobs.clone(), stack.clone(), delivery.clone());
                async move {
                    let started = Instant::now();
                    let task: FinalizeTask = payload(value, "finalize")?;
                    let stage = FinalizeStage {
                        blobs: &*blobs,
                        previews: &*stack.records,
                        delivery: &delivery,
                    };
                    let summary = compute_heavy(stage.finalize(&task))
                        .await
                        .map_err(states_error)?;
                    let delivered: u64 = task
                        .results
                        .iter()
                        .map(|r| r.verdict.selected.len() as u64)
                        .sum();
                    let mut units =
                        StageUnits::lambda(started.elapsed(), costs::FINALIZE_MEMORY_MB);
                    // Per preview: read the candidate, write WebP and JPEG, read both back.
                    units.s3_get = 3 * delivered;
                    units.s3_put = 2 * delivered;
                    units.ddb_rru = 1.0;
                    units.ddb_wru =
                        2.0 * likeness_core::cost::ddb_write_units(summary.to_string().len());
                    costs::record(&stack, &task.preview_id, "finalize", 1, None, units).await;
                    Ok(summary)
                }
            })
        };
        let failed = {
            let (blobs, stack) = (blobs.clone(), stack.clone());
            FnLambda::new(move |value| {
                let (blobs, stack) = (blobs.clone(), stack.clone());
                async move {
                    let task: MarkFailedTask = payload(value, "mark-failed")?;
                    mark_failed(&*blobs, &*stack.records, &task)
                        .await
                        .map_err(states_error)
                }
            })
        };
        let runner_cell = Arc::new(OnceLock::new());
        let notify = crate::notify::lambda(stack.clone(), runner_cell.clone());
        let handlers = InProcessHandlers::new()
            .lambda(&format!("{FUNCTION_ARN}judge"), Arc::new(judge))
            .lambda(&format!("{FUNCTION_ARN}finalize"), Arc::new(finalize))
            .lambda(&format!("{FUNCTION_ARN}mark-failed"), Arc::new(failed))
            .lambda(&format!("{FUNCTION_ARN}notify"), Arc::new(notify))
            .queue(stack.queue.clone());
        let definition = Definition::load(DEFINITION, &substitutions(&options))
            .context("loading the state machine")?;
        let store = Store::open(&data_dir.join("executions.sqlite"))
            .context("opening the execution store")?;
        let runner = Runner::new(
            MACHINE,
            &definition,
            Arc::new(handlers),
            store,
            TimeScale::REAL,
        );
        let _ = runner_cell.set(runner.clone());
        let render = Arc::new(RenderWorker {
            queue: stack.queue.clone(),
            queue_name: RENDER_QUEUE.into(),
            workflow: Arc::new(runner.clone()),
            blobs,
            engine,
            catalogue,
            heartbeat: Duration::from_secs(u64::from(options.heartbeat_seconds).div_ceil(3).max(1)),
            long_side: options.long_side,
            landmarks: crate::identity::landmarks(),
        });
        Ok(Self {
            stack,
            runner,
            render,
            analysis: AnalysisConfig::default(),
            render_workers: options.render_workers,
        })
    }

    /// Claim and analyse one upload notification; errors that a retry may fix are returned.
    pub async fn handle_upload(&self, body: &str) -> Result<(), likeness_analyze::AnalyzeError> {
        let outcomes =
            handle_upload_notification(body, &*self.stack.records, &*self.stack.blobs).await?;
        for outcome in outcomes {
            let id: PreviewId = match outcome {
                UploadOutcome::Claimed(id) => id,
                UploadOutcome::AlreadyClaimed(id, Status::Analyzing | Status::Rendering) => id,
                _ => continue,
            };
            let stage = AnalyzeStage {
                previews: &*self.stack.records,
                blobs: &*self.stack.blobs,
                workflow: &self.runner,
                config: &self.analysis,
            };
            let started = Instant::now();
            let outcome = compute_heavy(stage.run(&id)).await?;
            let mut units = StageUnits::lambda(started.elapsed(), costs::ANALYZE_MEMORY_MB);
            units.s3_get = 1;
            units.s3_put = 1;
            // The upload event: sent by S3, received and deleted by the function.
            for _ in 0..3 {
                units.add_sqs_request(body.len() as u64);
            }
            units.ddb_rru = 2.0;
            units.ddb_wru = 2.0 * likeness_core::cost::ddb_write_units(4096);
            costs::record(&self.stack, &id, "analyze", 1, None, units).await;
            if let likeness_analyze::stage::StageOutcome::Rejected(_) = outcome {
                crate::notify::rejected(&self.stack, &id).await;
            }
        }
        Ok(())
    }

    async fn consume_uploads(&self, stop: CancellationToken) {
        let queue = crate::stack::UPLOADS_QUEUE;
        while !stop.is_cancelled() {
            let received = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.stack.queue.receive(queue, 10, Duration::from_secs(300), Duration::from_secs(1)) => r,
            };
            let messages = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "receiving upload events");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for message in messages {
                match self.handle_upload(&message.body).await {
                    Ok(()) => {}
                    Err(e) if e.is_retryable() => {
                        // Left on the queue: visible again later, dead-lettered after repeated failures.
                        tracing::warn!(error = %e, receives = message.receive_count, "upload event failed; will retry");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "dropping an upload event that can never succeed")
                    }
                }
                if let Err(e) = self
                    .stack
                    .queue
                    .delete(queue, &message.receipt_handle)
                    .await
                {
                    tracing::warn!(error = %e, "deleting a handled upload event");
                }
            }
        }
    }

    /// Resume executions a previous process left running, then run every consumer
    /// until `stop` is cancelled.
    pub async fn run(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let resumed = self.runner.recover().context("resuming executions")?;
        if !resumed.is_empty() {
            tracing::info!(count = resumed.len(), "resumed executions left running");
        }
        let notifier = crate::notify::run(self.stack.clone(), stop.clone());
        let workers: Vec<_> = (0..self.render_workers)
            .map(|_| {
                let (render, stop) = (self.render.clone(), stop.clone());
                tokio::spawn(async move { render.run(stop).await })
            })
            .collect();
        tokio::join!(self.consume_uploads(stop.clone()), notifier);
        for worker in workers {
            let _ = worker.await;
        }
        self.runner.halt();
        Ok(())
    }
}
