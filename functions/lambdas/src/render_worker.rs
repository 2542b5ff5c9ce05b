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
use likeness_render::worker::{RenderWorker, TaskHolding};
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

/// ECS task scale-in protection, set through the ECS agent's endpoint
/// (`$ECS_AGENT_URI/task-protection/v1/state`): on while this task holds a
/// render, off once it holds none, so the service's scale-in never stops a
/// task in the middle of a render; it stops idle tasks only.
pub struct TaskProtection {
    client: reqwest::Client,
    url: String,
    /// Protection lapses by itself after this long, so a task that dies while
    /// protected cannot block scale-in for ever. Renewed at every task it takes;
    /// longer than the render task's 30-minute cap.
    expires_in_minutes: u32,
    tasks_in_hand: tokio::sync::Mutex<usize>,
}

impl TaskProtection {
    pub fn new(agent_uri: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            url: format!(
                "{}/task-protection/v1/state",
                agent_uri.trim_end_matches('/')
            ),
            expires_in_minutes: 60,
            tasks_in_hand: tokio::sync::Mutex::new(0),
        }
    }

    /// From `ECS_AGENT_URI`, which the ECS agent sets in every task; `None`
    /// outside ECS (a worker run by hand).
    pub fn from_env() -> Option<Self> {
        std::env::var("ECS_AGENT_URI")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|uri| Self::new(&uri))
    }

    /// Best effort: a refused or failed call is logged and the render goes on
    /// (unprotected, a task may be stopped and its render retried elsewhere).
    async fn set(&self, enabled: bool) {
        let body = if enabled {
            serde_json::json!({"ProtectionEnabled": true, "ExpiresInMinutes": self.expires_in_minutes})
        } else {
            serde_json::json!({"ProtectionEnabled": false})
        };
        match self.client.put(&self.url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(enabled, "task scale-in protection set");
            }
            Ok(r) => {
                tracing::warn!(enabled, status = %r.status(), "the ECS agent refused task protection")
            }
            Err(e) => tracing::warn!(enabled, error = %e, "setting task scale-in protection"),
        }
    }
}

#[async_trait::async_trait]
impl TaskHolding for TaskProtection {
    /// A task was taken: protect (and renew the protection's expiry).
    async fn took_task(&self) {
        let mut in_hand = self.tasks_in_hand.lock().await;
        *in_hand += 1;
        self.set(true).await;
    }

    /// A task was answered: once none is in hand, the task may be scaled in.
    async fn finished_task(&self) {
        let mut in_hand = self.tasks_in_hand.lock().await;
        *in_hand = in_hand.saturating_sub(1);
        if *in_hand == 0 {
            self.set(false).await;
        }
    }
}

/// Run `workers` loops until `stop` is cancelled; returns once every in-flight
/// task has been answered (rendered, or failed back). With `protection`, the
/// ECS task is protected from scale-in while any loop holds a task.
pub async fn run(
    worker: Arc<RenderWorker>,
    workers: usize,
    stop: CancellationToken,
    protection: Option<Arc<TaskProtection>>,
) {
    let loops: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let (worker, stop, protection) = (worker.clone(), stop.clone(), protection.clone());
            tokio::spawn(async move {
                let holding = protection.as_deref().map(|p| p as &dyn TaskHolding);
                worker.run_holding(stop, holding).await
            })
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
