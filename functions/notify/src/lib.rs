//! The notify stage of likeness: [`announce`] builds a finished preview's
//! webhook event and queues it ([`notify_task`] is the state machine's
//! `Notify` task around it), and [`delivery`] delivers queued events.
//!
//! Webhook delivery, conformant to Standard Webhooks: events are
//! signed with each of the tenant's live secrets, posted with a 10 s timeout
//! and no redirects, retried on a schedule through the queue's delays, and
//! dead-lettered when the schedule is spent. Every attempt is recorded.

pub mod announce;
pub mod config;
pub mod delivery;
pub mod event;
pub mod guard;
pub mod notify_task;
pub mod signing;

pub use announce::Announcer;
pub use config::{NotifyConfig, SCHEDULE};
pub use delivery::{DeliveryJob, Handled, Notifier, NotifyError};
pub use event::{EventKind, Portrait};
pub use guard::{Refused, TargetPolicy};
pub use notify_task::NotifyPorts;
