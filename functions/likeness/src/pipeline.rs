//! Every stage of the pipeline in one process, over the embedded stack: wiring
//! only. The upload consumer serves the analyze handler, the ASL runner
//! executes the same state machine definition Step Functions runs and calls
//! the judge, finalize, mark-failed and notify handlers in-process, and a
//! render worker answers task tokens. The handlers are the ones the Lambda
//! functions serve (`functions/lambdas`).

use crate::stack::EmbeddedStack;
use anyhow::Context;
use likeness_analyze::handler::{AnalyzePorts, Disposition, disposition, handle_message};
use likeness_core::Catalogue;
use likeness_core::ports::{Blobs, Queue};
use likeness_embedded::QueueOptions;
use likeness_judge::{
    DeliveryConfig, FinalizePorts, JudgePorts, MarkFailedPorts, finalize, judge_task, mark_failed,
};
use likeness_notify::{NotifyPorts, notify_task};
use likeness_render::Engine;
use likeness_render::worker::RenderWorker;
use likeness_vision::AnalysisConfig;
use likeness_workflow::{Definition, FnLambda, InProcessHandlers, Runner, Store, TimeScale};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
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
    /// What is kept how long (`LIKENESS_RETENTION_DAYS` for previews).
    pub retention: likeness_core::retention::Retention,
    /// How often the retention sweeper runs (it also runs at start).
    pub sweep_every: Duration,
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
            retention: likeness_core::retention::Retention::default(),
            sweep_every: Duration::from_secs(10 * 60),
        }
    }
}

/// The ARN under which the runner finds in-process function `name`.
pub fn function_arn(name: &str) -> String {
    format!("{FUNCTION_ARN}{name}")
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
        ("MaxJudgeAttempts", options.max_attempts.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Stages that compute for seconds (judging, encoding) must not hold a
/// runtime worker thread: on a small machine that starves the timers and
/// heartbeats of other executions until they time out. On a multi-threaded
/// runtime the stage first hands its worker's other tasks to another thread; a
/// current-thread runtime has nowhere to move them, so there it simply runs.
async fn compute_heavy<F: Future>(stage: F) -> F::Output {
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| handle.block_on(stage))
    } else {
        stage.await
    }
}

/// The in-process functions the state machine's `lambda:invoke` tasks call.
pub struct StageFunctions {
    pub judge: JudgePorts,
    pub finalize: FinalizePorts,
    pub mark_failed: MarkFailedPorts,
    pub notify: NotifyPorts,
}

impl StageFunctions {
    /// Each stage's handler under its function's ARN, as SAM would deploy it.
    pub fn handlers(self, queue: Arc<dyn Queue>) -> InProcessHandlers {
        let Self {
            judge,
            finalize,
            mark_failed,
            notify,
        } = self;
        let (judge, finalize) = (Arc::new(judge), Arc::new(finalize));
        let (mark_failed, notify) = (Arc::new(mark_failed), Arc::new(notify));
        InProcessHandlers::new()
            .lambda(
                &format!("{FUNCTION_ARN}judge"),
                Arc::new(FnLambda::task("judge", move |task| {
                    let ports = judge.clone();
                    async move { compute_heavy(judge_task::handle(&ports, task)).await }
                })),
            )
            .lambda(
                &format!("{FUNCTION_ARN}finalize"),
                Arc::new(FnLambda::task("finalize", move |task| {
                    let ports = finalize.clone();
                    async move { compute_heavy(finalize::handle(&ports, task)).await }
                })),
            )
            .lambda(
                &format!("{FUNCTION_ARN}mark-failed"),
                Arc::new(FnLambda::task("mark-failed", move |task| {
                    let ports = mark_failed.clone();
                    async move { mark_failed::handle(&ports, task).await }
                })),
            )
            .lambda(
                &format!("{FUNCTION_ARN}notify"),
                Arc::new(FnLambda::task("notify", move |task| {
                    let ports = notify.clone();
                    async move { notify_task::handle(&ports, task).await }
                })),
            )
            .queue(queue)
    }
}

pub struct Pipeline {
    pub stack: Arc<EmbeddedStack>,
    pub runner: Runner,
    pub render: Arc<RenderWorker>,
    pub analyze: AnalyzePorts,
    pub sweeper: Arc<likeness_embedded::Sweeper>,
    render_workers: usize,
    sweep_every: Duration,
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
        let announcer = Arc::new(crate::notify::announcer(&stack).await?);
        // Notify meters the execution's transitions from the runner's history;
        // the runner exists only once its handlers do.
        let runner_cell: Arc<OnceLock<Runner>> = Arc::new(OnceLock::new());
        let functions = StageFunctions {
            judge: stack.judge_ports(options.catalogue.clone(), crate::identity::face_model()),
            finalize: stack.finalize_ports(options.delivery.clone()),
            mark_failed: stack.mark_failed_ports(),
            notify: stack.notify_ports(
                announcer.clone(),
                Arc::new(crate::notify::RunnerHistory(runner_cell.clone())),
            ),
        };
        let definition = Definition::load(DEFINITION, &substitutions(&options))
            .context("loading the state machine")?;
        let store = Store::open(&data_dir.join("executions.sqlite"))
            .context("opening the execution store")?;
        let runner = Runner::new(
            MACHINE,
            &definition,
            Arc::new(functions.handlers(stack.queue.clone())),
            store,
            TimeScale::REAL,
        );
        let _ = runner_cell.set(runner.clone());
        let blobs: Arc<dyn Blobs> = stack.blobs.clone();
        let render = Arc::new(RenderWorker {
            queue: stack.queue.clone(),
            queue_name: RENDER_QUEUE.into(),
            workflow: Arc::new(runner.clone()),
            blobs,
            engine,
            catalogue: options.catalogue.clone(),
            heartbeat: Duration::from_secs(u64::from(options.heartbeat_seconds).div_ceil(3).max(1)),
            long_side: options.long_side,
            landmarks: crate::identity::landmarks(),
        });
        let analyze = stack.analyze_ports(
            Arc::new(runner.clone()),
            AnalysisConfig::default(),
            announcer,
        );
        let sweeper = Arc::new(likeness_embedded::Sweeper {
            records: stack.records.clone(),
            blobs: stack.blobs.clone(),
            clock: stack.clock.clone(),
            retention: options.retention,
        });
        Ok(Self {
            stack,
            runner,
            render,
            analyze,
            sweeper,
            render_workers: options.render_workers,
            sweep_every: options.sweep_every,
        })
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
                let result = handle_message(&self.analyze, &message.body).await;
                // Left on the queue: visible again later, dead-lettered after repeated failures.
                if disposition(&result, &message.id) == Disposition::Redeliver {
                    continue;
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
        let sweep = self
            .sweeper
            .run(self.sweep_every, stop.clone().cancelled_owned());
        tokio::join!(self.consume_uploads(stop.clone()), notifier, sweep);
        for worker in workers {
            let _ = worker.await;
        }
        self.runner.halt();
        Ok(())
    }
}
