//! [`Runner`]: named, durable executions of one state machine, and the
//! [`Workflow`] port over them (start, task success/failure/heartbeat).

use crate::definition::Definition;
use crate::engine::{Exec, Shared, Signal};
use crate::error::StatesError;
use crate::store::{Event, ExecutionRecord, ExecutionStatus, Store, StoreError, TokenState};
use crate::tasks::TaskHandlers;
use crate::time::TimeScale;
use async_trait::async_trait;
use likeness_core::PortError;
use likeness_core::ports::{StartOutcome, Workflow};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

fn port(e: impl std::fmt::Display) -> PortError {
    PortError::Backend(e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("executions run on a Tokio runtime, and none is running here: {0}")]
    NoRuntime(String),
}

/// Runs executions of one state machine definition in this process.
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
    finished: Arc<Notify>,
    running: Arc<Mutex<HashMap<String, AbortHandle>>>,
}

impl Runner {
    /// `machine` names the state machine (it scopes execution names in the store).
    pub fn new(
        machine: &str,
        definition: &Definition,
        handlers: Arc<dyn TaskHandlers>,
        store: Store,
        time: TimeScale,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                machine: machine.to_string(),
                root: definition.root.clone(),
                store,
                handlers,
                time,
                waiters: Mutex::new(HashMap::new()),
            }),
            finished: Arc::new(Notify::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Starts `name` unless it exists already (then nothing happens).
    pub fn start(&self, name: &str, input: Value) -> Result<StartOutcome, RunnerError> {
        let _ = tokio::runtime::Handle::try_current()
            .map_err(|e| RunnerError::NoRuntime(e.to_string()))?;
        if !self
            .shared
            .store
            .create_execution(&self.shared.machine, name, &input)?
        {
            return Ok(StartOutcome::AlreadyRunning);
        }
        self.launch(name.to_string(), input, false)?;
        Ok(StartOutcome::Started)
    }

    /// Picks up every execution a previous process left running, each from its
    /// last checkpoint. Call once at startup, after the task handlers are ready.
    pub fn recover(&self) -> Result<Vec<String>, RunnerError> {
        let _ = tokio::runtime::Handle::try_current()
            .map_err(|e| RunnerError::NoRuntime(e.to_string()))?;
        let names = self.shared.store.running(&self.shared.machine)?;
        for name in &names {
            if self.lock_running().contains_key(name) {
                continue;
            }
            let record = self.shared.store.execution(&self.shared.machine, name)?;
            let input = record.map(|r| r.input).unwrap_or(Value::Null);
            tracing::info!(execution = %name, "resuming execution after restart");
            self.launch(name.clone(), input, true)?;
        }
        Ok(names)
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn launch(&self, name: String, input: Value, resuming: bool) -> Result<(), RunnerError> {
        let store = &self.shared.store;
        let record = store.execution(&self.shared.machine, &name)?;
        let start_time = record
            .map(|r| r.started_at)
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let exec = Arc::new(Exec {
            shared: self.shared.clone(),
            name: name.clone(),
            input: input.clone(),
            start_time,
            seq: AtomicI64::new(store.next_seq(&self.shared.machine, &name)?),
        });
        let resume = if resuming {
            store.checkpoint(&self.shared.machine, &name, "")?
        } else {
            exec.event("ExecutionStarted", None, json!({"input": input}));
            None
        };
        let root = self.shared.root.clone();
        let finished = self.finished.clone();
        let running = self.running.clone();
        let task_name = name.clone();
        let handle = tokio::spawn(async move {
            let result = exec
                .clone()
                .run_frame(root, String::new(), input, resume)
                .await;
            match &result {
                Ok(v) => exec.event("ExecutionSucceeded", None, json!({"output": v})),
                Err(e) => exec.event("ExecutionFailed", None, e.to_json()),
            };
            if let Err(e) =
                exec.shared
                    .store
                    .finish_execution(&exec.shared.machine, &exec.name, &result)
            {
                tracing::error!(execution = %exec.name, error = %e, "could not record the end of an execution");
            }
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&task_name);
            finished.notify_waiters();
        });
        self.lock_running().insert(name, handle.abort_handle());
        Ok(())
    }

    /// Stops every execution in this process without recording an end, as a
    /// crash would; [`recover`](Self::recover) on a new runner picks them up.
    pub fn halt(&self) {
        for (_, h) in self.lock_running().drain() {
            h.abort();
        }
    }

    pub fn describe(&self, name: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.shared.store.execution(&self.shared.machine, name)
    }

    pub fn history(&self, name: &str) -> Result<Vec<Event>, StoreError> {
        self.shared.store.history(&self.shared.machine, name)
    }

    /// The names of the states entered, in order (as `*StateEntered` events).
    pub fn states_entered(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .history(name)?
            .into_iter()
            .filter(|e| e.kind.ends_with("StateEntered"))
            .filter_map(|e| e.state)
            .collect())
    }

    /// Waits until `name` has finished, or `limit` has passed (then `None`).
    pub async fn wait(
        &self,
        name: &str,
        limit: Duration,
    ) -> Result<Option<ExecutionRecord>, StoreError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.finished.notified();
            if let Some(r) = self.describe(name)?
                && r.status != ExecutionStatus::Running
            {
                return Ok(Some(r));
            }
            // Re-check periodically too: another runner on the same store may finish it.
            let step = (deadline - tokio::time::Instant::now()).min(Duration::from_millis(200));
            if step.is_zero() {
                return Ok(None);
            }
            let _ = tokio::time::timeout(step, notified).await;
        }
    }

    fn settle(&self, token: &str, outcome: TokenState) -> Result<(), PortError> {
        let signal = match &outcome {
            TokenState::Succeeded(v) => Signal::Success(v.clone()),
            TokenState::Failed { error, cause } => Signal::Failure(error.clone(), cause.clone()),
            _ => return Ok(()),
        };
        let settled = self
            .shared
            .store
            .settle_token(token, &outcome)
            .map_err(port)?;
        if let Some(tx) = self.shared.waiter(token) {
            let _ = tx.send(signal);
            return Ok(());
        }
        if settled {
            return Ok(());
        }
        match self.shared.store.token(token).map_err(port)? {
            Some(_) => Ok(()),
            None => Err(PortError::NotFound(format!("unknown task token {token:?}"))),
        }
    }
}

/// Counted from the runner's own history; `execution` is its name or its id
/// (`arn:…:execution:{machine}:{name}`, what `$$.Execution.Id` gives).
#[async_trait]
impl likeness_core::ports::ExecutionHistory for Runner {
    async fn states_entered(&self, execution: &str) -> Result<u64, PortError> {
        let name = execution.rsplit(':').next().unwrap_or(execution);
        self.states_entered(name)
            .map(|states| states.len() as u64)
            .map_err(|e| PortError::Backend(e.to_string()))
    }
}

#[async_trait]
impl Workflow for Runner {
    async fn start_execution(&self, name: &str, input: Value) -> Result<StartOutcome, PortError> {
        self.start(name, input).map_err(port)
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), PortError> {
        self.settle(token, TokenState::Succeeded(output))
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), PortError> {
        self.settle(
            token,
            TokenState::Failed {
                error: error.to_string(),
                cause: cause.to_string(),
            },
        )
    }

    /// A heartbeat for a task that already ended is refused with `Conflict`, so
    /// a worker can stop work nobody waits for.
    async fn send_task_heartbeat(&self, token: &str) -> Result<(), PortError> {
        if let Some(tx) = self.shared.waiter(token) {
            let _ = tx.send(Signal::Heartbeat);
            return Ok(());
        }
        match self.shared.store.token(token).map_err(port)? {
            Some(TokenState::Waiting) => Ok(()),
            Some(_) => Err(PortError::Conflict(format!(
                "task {token:?} is no longer running"
            ))),
            None => Err(PortError::NotFound(format!("unknown task token {token:?}"))),
        }
    }
}

/// The error of a failed execution as a [`StatesError`].
pub fn failure_of(record: &ExecutionRecord) -> Option<StatesError> {
    (record.status == ExecutionStatus::Failed).then(|| {
        StatesError::new(
            record.error.clone().unwrap_or_default(),
            record.cause.clone().unwrap_or_default(),
        )
    })
}
