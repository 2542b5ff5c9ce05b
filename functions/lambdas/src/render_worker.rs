//! The render worker container's loop: long-poll the render queue, render with
//! heartbeats, answer the task token. On SIGTERM (an ECS stop or a Spot
//! interruption notice) or Ctrl-C it stops receiving and fails each in-flight
//! task back to Step Functions as `Render.Interrupted`; the `Render` state's
//! `States.TaskFailed` retry then sends the task to another worker at once,
//! instead of waiting for a heartbeat timeout.

use crate::config::{
    ConfigError, RENDER_HEARTBEAT_SECONDS, RENDER_LONG_SIDE, RENDER_QUEUE_URL, RENDER_WORKERS,
    number, required,
};
use likeness_render::DEFAULT_LONG_SIDE;
use likeness_render::worker::RenderWorker;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The container's settings, from its task definition's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    pub queue_url: String,
    /// Step Functions' `HeartbeatSeconds` for the render task; the worker
    /// heartbeats three times within it.
    pub heartbeat_seconds: u64,
    /// Tasks rendered at once (one per GPU is the usual).
    pub workers: usize,
    pub long_side: u32,
}

impl WorkerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let long_side = number(RENDER_LONG_SIDE, u64::from(DEFAULT_LONG_SIDE))?;
        Ok(Self {
            queue_url: required(RENDER_QUEUE_URL)?,
            heartbeat_seconds: number(RENDER_HEARTBEAT_SECONDS, 60)?,
            workers: usize::try_from(number(RENDER_WORKERS, 1)?).unwrap_or(1),
            long_side: u32::try_from(long_side).map_err(|_| ConfigError::Invalid {
                name: RENDER_LONG_SIDE,
                reason: format!("{long_side} pixels is out of range"),
            })?,
        })
    }

    /// How often a worker heartbeats: a third of `HeartbeatSeconds`, so two
    /// lost heartbeats in a row still do not time the task out.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds.div_ceil(3).max(1))
    }
}

/// Run `workers` loops until `stop` is cancelled; returns once every in-flight
/// task has been answered (rendered, or failed back).
pub async fn run(worker: Arc<RenderWorker>, workers: usize, stop: CancellationToken) {
    let loops: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let (worker, stop) = (worker.clone(), stop.clone());
            tokio::spawn(async move { worker.run(stop).await })
        })
        .collect();
    for handle in loops {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "a render loop ended abnormally");
        }
    }
}

/// Cancels `stop` on SIGTERM or Ctrl-C.
pub fn cancel_on_shutdown_signal(stop: CancellationToken) {
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: failing in-flight render tasks back to Step Functions");
        stop.cancel();
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot listen for Ctrl-C either");
        std::future::pending::<()>().await;
    }
}
