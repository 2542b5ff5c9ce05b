//! The `Notify` and `NotifyFailed` tasks: announce the preview's final state
//! to its tenant, and meter the run, including the execution's state
//! transitions (notify is the last task of every execution).

use likeness_core::TaskError;
use likeness_core::cost::StageUnits;
use likeness_core::metering::{Function, Meter, Stopwatch};
use likeness_core::ports::{Announce, Clock, ExecutionHistory, Previews};
use likeness_core::task_error::names;
use likeness_core::tasks::{NotifyOutput, NotifyTask};
use std::sync::Arc;

#[derive(Clone)]
pub struct NotifyPorts {
    pub previews: Arc<dyn Previews>,
    pub announce: Arc<dyn Announce>,
    pub clock: Arc<dyn Clock>,
    pub meter: Option<Arc<dyn Meter>>,
    /// Where the execution's transitions are counted; `None` meters none.
    pub history: Option<Arc<dyn ExecutionHistory>>,
}

pub async fn handle(ports: &NotifyPorts, task: NotifyTask) -> Result<NotifyOutput, TaskError> {
    let stopwatch = Stopwatch::start(&*ports.clock);
    let id = &task.preview_id;
    let preview = ports
        .previews
        .get(id)
        .await
        .map_err(|e| TaskError::new(names::NOTIFY_FAILED, e))?;
    // A payload naming another tenant's preview is refused, not announced.
    if preview.is_some_and(|p| p.tenant != task.tenant) {
        return Err(TaskError::new(names::NOTIFY_WRONG_TENANT, id));
    }
    let webhook_id = ports
        .announce
        .announce(id)
        .await
        .map_err(|e| TaskError::new(names::NOTIFY_FAILED, e))?;
    if let Some(meter) = &ports.meter {
        let run = task.kind.run();
        if let (Some(history), Some(execution)) = (&ports.history, &task.execution) {
            match history.states_entered(execution).await {
                // Those entered so far plus the final `Succeed`/`Fail` state.
                Ok(entered) => {
                    let units = StageUnits {
                        state_transitions: entered + 1,
                        ..StageUnits::default()
                    };
                    meter.record(id, "workflow", run, None, units).await;
                }
                Err(e) => {
                    tracing::warn!(preview_id = %id, error = %e, "counting the execution's transitions")
                }
            }
        }
        let units = Function::Notify.run(stopwatch.elapsed());
        meter.record(id, "notify", run, None, units).await;
    }
    Ok(NotifyOutput { webhook_id })
}
