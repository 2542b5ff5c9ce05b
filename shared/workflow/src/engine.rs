//! The interpreter: runs one frame (the top level or a Map iteration) state by
//! state, checkpointing each state entry so a restarted process resumes there.

use crate::definition::{
    Catcher, Kind, Machine, MapSpec, Number, PathField, State, TaskSpec, WaitSpec,
};
use crate::error::{StatesError, names};
use crate::store::{Checkpoint, Store, TokenState};
use crate::tasks::{TaskContext, TaskHandlers};
use crate::time::TimeScale;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};

pub(crate) enum Signal {
    Heartbeat,
    Success(Value),
    Failure(String, String),
}

/// What every execution of one state machine shares.
pub(crate) struct Shared {
    pub machine: String,
    pub root: Arc<Machine>,
    pub store: Store,
    pub handlers: Arc<dyn TaskHandlers>,
    pub time: TimeScale,
    pub waiters: Mutex<HashMap<String, mpsc::UnboundedSender<Signal>>>,
}

impl Shared {
    pub fn waiter(&self, token: &str) -> Option<mpsc::UnboundedSender<Signal>> {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }
}

pub(crate) struct Exec {
    pub shared: Arc<Shared>,
    pub name: String,
    pub input: Value,
    pub start_time: String,
    pub seq: AtomicI64,
}

type Fut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

enum Step {
    Next(String, Value),
    End(Value),
}

/// Removes the token's waiter however the wait ends (success, timeout, or abort).
struct WaiterGuard<'a>(&'a Shared, String);
impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

/// Whether an `ErrorEquals` list catches `error`. `States.ALL` is every error but
/// `States.Runtime`; `States.TaskFailed` is every error but the timeouts.
pub(crate) fn error_matches(list: &[String], error: &str) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    list.iter().any(|e| {
        e == error
            || e == names::ALL
            || (e == names::TASK_FAILED
                && error != names::TIMEOUT
                && error != names::HEARTBEAT_TIMEOUT)
    })
}

impl Exec {
    pub fn execution_id(&self) -> String {
        format!(
            "arn:aws:states:local:000000000000:execution:{}:{}",
            self.shared.machine, self.name
        )
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Appends a history event; a store failure is logged, not fatal: history is a record, not control flow.
    pub fn event(&self, kind: &str, state: Option<&str>, detail: Value) -> i64 {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        if let Err(e) =
            self.store()
                .append_event(&self.shared.machine, &self.name, seq, kind, state, &detail)
        {
            tracing::error!(execution = %self.name, error = %e, "could not record history event");
        }
        seq
    }

    fn context(&self, state: &str, entered_at: &str, retry_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.execution_id(),
                "Input": self.input,
                "Name": self.name,
                "RoleArn": "arn:aws:iam::000000000000:role/likeness-embedded",
                "StartTime": self.start_time,
            },
            "StateMachine": {
                "Id": format!("arn:aws:states:local:000000000000:stateMachine:{}", self.shared.machine),
                "Name": self.shared.machine,
            },
            "State": {"EnteredTime": entered_at, "Name": state, "RetryCount": retry_count},
        })
    }

    fn checkpoint(&self, frame: &str, cp: &Checkpoint) -> Result<(), StatesError> {
        self.store()
            .put_checkpoint(&self.shared.machine, &self.name, frame, cp)
            .map_err(|e| StatesError::runtime(format!("could not persist execution state: {e}")))
    }

    /// Runs `machine` from its start (or from `resume`) to a terminal state.
    pub fn run_frame(
        self: Arc<Self>,
        machine: Arc<Machine>,
        frame: String,
        input: Value,
        resume: Option<Checkpoint>,
    ) -> Fut<Result<Value, StatesError>> {
        Box::pin(async move {
            let (mut name, mut input, mut resume) = match resume {
                Some(cp) => (cp.state.clone(), cp.input.clone(), Some(cp)),
                None => (machine.start_at.clone(), input, None),
            };
            loop {
                // Catchable on purpose (not States.Runtime): inside a Map the state's
                // Catch takes it, so a changed definition ends in the failure path.
                let state = machine.states.get(&name).ok_or_else(|| {
                    StatesError::new(
                        names::RESUME_FAILED,
                        format!("state {name:?} no longer exists in the definition; the execution cannot resume"),
                    )
                })?;
                let cp = match resume.take() {
                    Some(cp) => {
                        self.event(
                            "ExecutionResumedInState",
                            Some(&name),
                            json!({"input": cp.input}),
                        );
                        cp
                    }
                    None => {
                        let entered_at = now_text();
                        let entry = self.event(
                            &format!("{}StateEntered", state.kind.type_name()),
                            Some(&name),
                            json!({"input": input}),
                        );
                        Checkpoint {
                            state: name.clone(),
                            input: input.clone(),
                            entry,
                            entered_at,
                            retries: vec![0; state.retry.len()],
                            done: None,
                        }
                    }
                };
                self.checkpoint(&frame, &cp)?;
                let outcome = self.clone().run_state(state, &frame, cp).await;
                let exited = format!("{}StateExited", state.kind.type_name());
                match outcome {
                    Ok(Step::Next(next, output)) => {
                        self.event(&exited, Some(&name), json!({"output": output}));
                        name = next;
                        input = output;
                    }
                    Ok(Step::End(output)) => {
                        self.event(&exited, Some(&name), json!({"output": output}));
                        return Ok(output);
                    }
                    Err(err) => match state
                        .catch
                        .iter()
                        .find(|c| error_matches(&c.errors, &err.error))
                    {
                        Some(Catcher {
                            result_path, next, ..
                        }) => {
                            let output =
                                apply_result_path(result_path, input.clone(), err.to_json())?;
                            self.event(
                                &exited,
                                Some(&name),
                                json!({"output": output, "caught": err.to_json()}),
                            );
                            name = next.clone();
                            input = output;
                        }
                        None => return Err(err),
                    },
                }
            }
        })
    }

    async fn run_state(
        self: Arc<Self>,
        state: &State,
        frame: &str,
        cp: Checkpoint,
    ) -> Result<Step, StatesError> {
        let raw = cp.input.clone();
        let ctx = self.context(&state.name, &cp.entered_at, 0);
        let effective = match &state.input_path {
            PathField::Default => raw.clone(),
            PathField::Null => json!({}),
            PathField::Path(p) => p.require(if p.context { &ctx } else { &raw }, names::RUNTIME)?,
        };
        let advance = |output: Value| -> Result<Step, StatesError> {
            let output = apply_output_path(&state.output_path, output, &ctx)?;
            Ok(match &state.next {
                Some(n) => Step::Next(n.clone(), output),
                None => Step::End(output),
            })
        };
        match &state.kind {
            Kind::Pass { result } => {
                let r = match (result, &state.parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(t)) => t.eval(&effective, &ctx)?,
                    (None, None) => effective,
                };
                advance(apply_result_path(&state.result_path, raw, r)?)
            }
            Kind::Choice { choices, default } => {
                for (rule, next) in choices {
                    if rule.eval(&effective, &ctx)? {
                        return Ok(Step::Next(
                            next.clone(),
                            apply_output_path(&state.output_path, effective, &ctx)?,
                        ));
                    }
                }
                match default {
                    Some(d) => Ok(Step::Next(
                        d.clone(),
                        apply_output_path(&state.output_path, effective, &ctx)?,
                    )),
                    None => Err(StatesError::new(
                        names::NO_CHOICE_MATCHED,
                        format!(
                            "No Choice Rules matched and no Default in state {}",
                            state.name
                        ),
                    )),
                }
            }
            Kind::Wait(spec) => {
                let started = DateTime::parse_from_rfc3339(&cp.entered_at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|_| Utc::now());
                let elapsed = (Utc::now() - started).num_milliseconds().max(0) as f64 / 1000.0;
                // Relative waits run on the (possibly scaled) definition clock; an
                // absolute Timestamp is wall-clock time and is never scaled.
                let until = |t: DateTime<Utc>| {
                    std::time::Duration::from_millis(
                        (t - Utc::now()).num_milliseconds().max(0) as u64
                    )
                };
                let real = match spec {
                    WaitSpec::Seconds(s) => self
                        .shared
                        .time
                        .real(s - elapsed * self.shared.time_factor()),
                    WaitSpec::SecondsPath(p) => {
                        let v =
                            p.require(if p.context { &ctx } else { &effective }, names::RUNTIME)?;
                        let s = v.as_f64().filter(|s| *s >= 0.0).ok_or_else(|| {
                            StatesError::runtime(format!(
                                "SecondsPath '{p}' gave {v}, not a non-negative number"
                            ))
                        })?;
                        self.shared
                            .time
                            .real(s - elapsed * self.shared.time_factor())
                    }
                    WaitSpec::Timestamp(t) => until(*t),
                    WaitSpec::TimestampPath(p) => {
                        let v =
                            p.require(if p.context { &ctx } else { &effective }, names::RUNTIME)?;
                        let t = v
                            .as_str()
                            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                            .ok_or_else(|| {
                                StatesError::runtime(format!(
                                    "TimestampPath '{p}' gave {v}, not a timestamp"
                                ))
                            })?;
                        until(t.with_timezone(&Utc))
                    }
                };
                tokio::time::sleep(real).await;
                advance(effective)
            }
            Kind::Succeed => Ok(Step::End(apply_output_path(
                &state.output_path,
                effective,
                &ctx,
            )?)),
            Kind::Fail(f) => {
                let pick = |p: &Option<crate::path::JsonPath>,
                            fixed: &Option<String>|
                 -> Result<String, StatesError> {
                    match p {
                        Some(p) => {
                            let v =
                                p.require(if p.context { &ctx } else { &raw }, names::RUNTIME)?;
                            Ok(v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()))
                        }
                        None => Ok(fixed.clone().unwrap_or_default()),
                    }
                };
                let error = pick(&f.error_path, &f.error)?;
                let cause = pick(&f.cause_path, &f.cause)?;
                self.event(
                    "ExecutionFailing",
                    Some(&state.name),
                    json!({"error": error, "cause": cause}),
                );
                Err(StatesError::new(error, cause))
            }
            Kind::Task(task) => {
                let result = self
                    .clone()
                    .with_retry(state, frame, &cp, &effective, |this, attempt| {
                        let effective = effective.clone();
                        let task = task.clone();
                        let state = state.clone();
                        let cp = cp.clone();
                        Box::pin(async move {
                            this.run_task(&state, &task, &cp, &effective, attempt).await
                        })
                    })
                    .await?;
                let result = match &state.result_selector {
                    Some(t) => t.eval(&result, &ctx)?,
                    None => result,
                };
                advance(apply_result_path(&state.result_path, raw, result)?)
            }
            Kind::Map(spec) => {
                let frame_owned = frame.to_string();
                let result = self
                    .clone()
                    .with_retry(state, frame, &cp, &effective, |this, attempt| {
                        let effective = effective.clone();
                        let spec = spec.clone();
                        let state = state.clone();
                        let cp = cp.clone();
                        let frame = frame_owned.clone();
                        Box::pin(async move {
                            this.run_map(&state, &spec, &frame, &cp, &effective, attempt)
                                .await
                        })
                    })
                    .await?;
                let result = match &state.result_selector {
                    Some(t) => t.eval(&result, &ctx)?,
                    None => result,
                };
                advance(apply_result_path(&state.result_path, raw, result)?)
            }
        }
    }

    /// Runs `attempt` under the state's `Retry` policy; retry counts are checkpointed.
    async fn with_retry<F>(
        self: Arc<Self>,
        state: &State,
        frame: &str,
        cp: &Checkpoint,
        _input: &Value,
        attempt: F,
    ) -> Result<Value, StatesError>
    where
        F: Fn(Arc<Self>, u32) -> Fut<Result<Value, StatesError>>,
    {
        let mut counts = cp.retries.clone();
        counts.resize(state.retry.len(), 0);
        loop {
            let total: u32 = counts.iter().sum();
            let err = match attempt(self.clone(), total).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some((i, r)) = state
                .retry
                .iter()
                .enumerate()
                .find(|(_, r)| error_matches(&r.errors, &err.error))
            else {
                return Err(err);
            };
            if counts[i] >= r.max_attempts {
                return Err(err);
            }
            let mut delay = r.interval_seconds * r.backoff_rate.powi(counts[i] as i32);
            if let Some(max) = r.max_delay_seconds {
                delay = delay.min(max);
            }
            counts[i] += 1;
            self.event(
                "StateRetryScheduled",
                Some(&state.name),
                json!({"error": err.error, "cause": err.cause, "retrier": i, "attempt": counts[i], "delay_seconds": delay}),
            );
            let mut saved = cp.clone();
            saved.retries = counts.clone();
            self.checkpoint(frame, &saved)?;
            tokio::time::sleep(self.shared.time.real(delay)).await;
        }
    }

    fn number(
        &self,
        n: &Option<Number>,
        input: &Value,
        what: &str,
    ) -> Result<Option<f64>, StatesError> {
        match n {
            None => Ok(None),
            Some(Number::Fixed(f)) => Ok(Some(*f)),
            Some(Number::Path(p)) => {
                let v = p.require(input, names::RUNTIME)?;
                v.as_f64().filter(|f| *f >= 0.0).map(Some).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "{what} path '{p}' gave {v}, not a non-negative number"
                    ))
                })
            }
        }
    }

    async fn run_task(
        self: Arc<Self>,
        state: &State,
        task: &TaskSpec,
        cp: &Checkpoint,
        effective: &Value,
        attempt: u32,
    ) -> Result<Value, StatesError> {
        let (resource, callback) = match task.resource.strip_suffix(".waitForTaskToken") {
            Some(base) => (base, true),
            None => (task.resource.as_str(), false),
        };
        let token = callback.then(|| {
            format!(
                "{}/{}/{}/{}",
                self.shared.machine, self.name, cp.entry, attempt
            )
        });
        let mut ctx = self.context(&state.name, &cp.entered_at, attempt);
        if let Some(t) = &token {
            ctx["Task"] = json!({"Token": t});
        }
        let params = match &state.parameters {
            Some(t) => t.eval(effective, &ctx)?,
            None => effective.clone(),
        };
        let timeout = self.number(&task.timeout, effective, "TimeoutSeconds")?;
        let heartbeat = self.number(&task.heartbeat, effective, "HeartbeatSeconds")?;
        let tctx = TaskContext {
            execution: self.name.clone(),
            state: state.name.clone(),
            token: token.clone(),
        };
        self.event(
            "TaskScheduled",
            Some(&state.name),
            json!({"resource": task.resource, "parameters": params}),
        );
        let result = match token {
            None => {
                let call = self.shared.handlers.invoke(resource, params, &tctx);
                match timeout {
                    Some(t) => match tokio::time::timeout(self.shared.time.real(t), call).await {
                        Ok(r) => r,
                        Err(_) => {
                            self.event(
                                "TaskTimedOut",
                                Some(&state.name),
                                json!({"error": names::TIMEOUT}),
                            );
                            return Err(StatesError::new(
                                names::TIMEOUT,
                                format!("Task did not finish within {t} s"),
                            ));
                        }
                    },
                    None => call.await,
                }
            }
            Some(token) => {
                self.wait_for_token(state, resource, params, &tctx, &token, timeout, heartbeat)
                    .await
            }
        };
        match &result {
            Ok(v) => self.event("TaskSucceeded", Some(&state.name), json!({"output": v})),
            Err(e) if e.error == names::TIMEOUT || e.error == names::HEARTBEAT_TIMEOUT => {
                self.event("TaskTimedOut", Some(&state.name), e.to_json())
            }
            Err(e) => self.event("TaskFailed", Some(&state.name), e.to_json()),
        };
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn wait_for_token(
        &self,
        state: &State,
        resource: &str,
        params: Value,
        tctx: &TaskContext,
        token: &str,
        timeout: Option<f64>,
        heartbeat: Option<f64>,
    ) -> Result<Value, StatesError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Registered before the message goes out so an instant answer is not lost.
        self.shared
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), tx);
        let _guard = WaiterGuard(&self.shared, token.to_string());
        let store_err = |e: crate::store::StoreError| StatesError::runtime(e.to_string());
        match self.store().token(token).map_err(store_err)? {
            // The message went out before a restart: wait for the worker's answer, do not send again.
            Some(TokenState::Waiting) => {
                self.event("TaskResumedWaiting", Some(&state.name), json!({}));
            }
            Some(TokenState::Succeeded(v)) => return Ok(v),
            Some(TokenState::Failed { error, cause }) => {
                return Err(StatesError::new(error, cause));
            }
            Some(TokenState::Closed) => {
                return Err(StatesError::new(
                    names::TIMEOUT,
                    "the task token was closed before a restart",
                ));
            }
            None => {
                self.shared.handlers.invoke(resource, params, tctx).await?;
                self.store()
                    .issue_token(token, &self.shared.machine, &self.name)
                    .map_err(store_err)?;
                self.event("TaskSubmitted", Some(&state.name), json!({}));
            }
        }
        let time = self.shared.time;
        let hard = timeout.map(|t| tokio::time::Instant::now() + time.real(t));
        let mut beat_deadline = heartbeat.map(|h| tokio::time::Instant::now() + time.real(h));
        loop {
            let (deadline, kind) = match (hard, beat_deadline) {
                (Some(h), Some(b)) if b < h => (Some(b), names::HEARTBEAT_TIMEOUT),
                (Some(h), _) => (Some(h), names::TIMEOUT),
                (None, Some(b)) => (Some(b), names::HEARTBEAT_TIMEOUT),
                (None, None) => (None, names::TIMEOUT),
            };
            let signal = match deadline {
                Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = self.store().settle_token(token, &TokenState::Closed);
                        return Err(StatesError::new(
                            kind,
                            if kind == names::HEARTBEAT_TIMEOUT {
                                "no heartbeat within HeartbeatSeconds"
                            } else {
                                "the task did not finish within TimeoutSeconds"
                            },
                        ));
                    }
                },
                None => rx.recv().await,
            };
            match signal {
                Some(Signal::Heartbeat) => {
                    beat_deadline = heartbeat.map(|h| tokio::time::Instant::now() + time.real(h));
                }
                // Recorded again here: an answer that beat `issue_token` found no row to settle,
                // and a restart before the next checkpoint must find the answer, not a wait.
                Some(Signal::Success(v)) => {
                    let _ = self
                        .store()
                        .settle_token(token, &TokenState::Succeeded(v.clone()));
                    return Ok(v);
                }
                Some(Signal::Failure(e, c)) => {
                    let failed = TokenState::Failed {
                        error: e.clone(),
                        cause: c.clone(),
                    };
                    let _ = self.store().settle_token(token, &failed);
                    return Err(StatesError::new(e, c));
                }
                None => return Err(StatesError::runtime("task waiter closed")),
            }
        }
    }

    async fn run_map(
        self: Arc<Self>,
        state: &State,
        spec: &MapSpec,
        frame: &str,
        cp: &Checkpoint,
        effective: &Value,
        attempt: u32,
    ) -> Result<Value, StatesError> {
        let ctx = self.context(&state.name, &cp.entered_at, attempt);
        let items = match &spec.items_path {
            Some(p) => p.require(effective, names::RUNTIME)?,
            None => effective.clone(),
        };
        let items = items.as_array().cloned().ok_or_else(|| {
            StatesError::runtime(format!(
                "Map state {} needs an array of items, got {items}",
                state.name
            ))
        })?;
        let max = self
            .number(
                &Some(spec.max_concurrency.clone()),
                effective,
                "MaxConcurrency",
            )?
            .unwrap_or(0.0) as usize;
        let permits = Arc::new(Semaphore::new(if max == 0 {
            items.len().max(1)
        } else {
            max
        }));
        self.event(
            "MapStateStarted",
            Some(&state.name),
            json!({"length": items.len()}),
        );
        let mut set = tokio::task::JoinSet::new();
        let mut results = vec![Value::Null; items.len()];
        // Set by a failing iteration before it releases its permit, so no new
        // iteration starts after a failure (Step Functions stops the Map too).
        let failed = Arc::new(AtomicBool::new(false));
        for (index, item) in items.into_iter().enumerate() {
            let mut item_ctx = ctx.clone();
            item_ctx["Map"] = json!({"Item": {"Index": index, "Value": item}});
            let item_input = match &spec.item_selector {
                Some(t) => t.eval(effective, &item_ctx)?,
                None => item,
            };
            let child = format!("{frame}/{}@{}#{}[{}]", state.name, cp.entry, attempt, index);
            let saved = self
                .store()
                .checkpoint(&self.shared.machine, &self.name, &child)
                .map_err(|e| StatesError::runtime(e.to_string()))?;
            if let Some(Checkpoint {
                done: Some(out), ..
            }) = saved
            {
                results[index] = out;
                continue;
            }
            // Permits are taken here, in item order, so MaxConcurrency 1 runs items in order.
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| StatesError::runtime(e.to_string()))?;
            if failed.load(Ordering::SeqCst) {
                break;
            }
            let this = self.clone();
            let processor = spec.processor.clone();
            let state_name = state.name.clone();
            let failed = failed.clone();
            set.spawn(async move {
                let _permit = permit;
                this.event(
                    "MapIterationStarted",
                    Some(&state_name),
                    json!({"index": index}),
                );
                let out = this
                    .clone()
                    .run_frame(processor, child.clone(), item_input, saved)
                    .await;
                match &out {
                    Ok(v) => {
                        this.event(
                            "MapIterationSucceeded",
                            Some(&state_name),
                            json!({"index": index}),
                        );
                        let done = Checkpoint {
                            state: String::new(),
                            input: Value::Null,
                            entry: 0,
                            entered_at: now_text(),
                            retries: vec![],
                            done: Some(v.clone()),
                        };
                        this.checkpoint(&child, &done)?;
                    }
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        this.event("MapIterationFailed", Some(&state_name), e.to_json());
                    }
                }
                out.map(|v| (index, v))
            });
        }
        while let Some(joined) = set.join_next().await {
            let (index, v) = match joined {
                Ok(r) => r?,
                Err(e) => return Err(StatesError::runtime(format!("map iteration aborted: {e}"))),
            };
            results[index] = v;
        }
        self.event("MapStateSucceeded", Some(&state.name), json!({}));
        Ok(Value::Array(results))
    }
}

impl Shared {
    fn time_factor(&self) -> f64 {
        1.0 / self.time.real(1.0).as_secs_f64().max(1e-9)
    }
}

pub(crate) fn apply_result_path(
    rp: &PathField,
    raw: Value,
    result: Value,
) -> Result<Value, StatesError> {
    match rp {
        PathField::Default => Ok(result),
        PathField::Null => Ok(raw),
        PathField::Path(p) => p.set(raw, result),
    }
}

fn apply_output_path(op: &PathField, output: Value, ctx: &Value) -> Result<Value, StatesError> {
    match op {
        PathField::Default => Ok(output),
        PathField::Null => Ok(json!({})),
        PathField::Path(p) => p.require(if p.context { ctx } else { &output }, names::RUNTIME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_matching_follows_step_functions() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(error_matches(&l(&["States.ALL"]), "GpuOOM"));
        assert!(!error_matches(&l(&["States.ALL"]), "States.Runtime"));
        assert!(error_matches(&l(&["States.TaskFailed"]), "GpuOOM"));
        assert!(!error_matches(&l(&["States.TaskFailed"]), "States.Timeout"));
        assert!(!error_matches(
            &l(&["States.TaskFailed"]),
            "States.HeartbeatTimeout"
        ));
        assert!(error_matches(
            &l(&["X", "States.HeartbeatTimeout"]),
            "States.HeartbeatTimeout"
        ));
        assert!(!error_matches(&l(&["X"]), "Y"));
    }
}
