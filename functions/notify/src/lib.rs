//! Webhook delivery for likeness, conformant to Standard Webhooks: events are
//! signed with each of the tenant's live secrets, posted with a 10 s timeout
//! and no redirects, retried on a schedule through the queue's delays, and
//! dead-lettered when the schedule is spent. Every attempt is recorded.

pub mod config;
pub mod delivery;
pub mod event;
pub mod guard;
pub mod signing;

pub use config::{NotifyConfig, SCHEDULE};
pub use delivery::{DeliveryJob, Handled, Notifier, NotifyError};
pub use event::{EventKind, Portrait};
pub use guard::{Refused, TargetPolicy};
