//! Delivery settings. [`NotifyConfig::production`] is the default; a one-machine
//! stack that posts to loopback receivers must opt in to private targets.

use crate::guard::TargetPolicy;
use std::time::Duration;

/// Delays before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

#[derive(Clone, Debug)]
pub struct NotifyConfig {
    pub queue: String,
    pub dead_letter_queue: String,
    /// Delay before attempt n+1 is `schedule[n]`; attempts stop after the last.
    pub schedule: Vec<Duration>,
    /// Multiplies every delay (schedule and queue cap), so tests run the whole
    /// schedule in milliseconds. 1.0 in production.
    pub time_scale: f64,
    /// The longest delay the queue accepts (SQS: 900 s). Longer waits re-enqueue
    /// with this delay and a `not_before`, re-delaying until due.
    pub max_queue_delay: Duration,
    /// Whole attempt: connect, send, and the receiver's answer.
    pub request_timeout: Duration,
    /// Connecting alone: a host that does not answer a SYN is given up on fast.
    pub connect_timeout: Duration,
    /// Attempts in flight at once across all tenants ([`crate::Notifier::serve`]).
    pub max_in_flight: usize,
    /// Attempts in flight at once for one tenant: a tenant whose endpoint hangs
    /// holds at most this many of `max_in_flight`, and its further jobs wait in
    /// the queue instead of in front of other tenants' deliveries.
    pub per_tenant_in_flight: usize,
    /// How long the portrait URLs in an event stay valid.
    pub preview_url_ttl: Duration,
    pub policy: TargetPolicy,
}

impl NotifyConfig {
    pub fn production() -> Self {
        Self {
            queue: "webhooks".into(),
            dead_letter_queue: "webhooks-dlq".into(),
            schedule: SCHEDULE.to_vec(),
            time_scale: 1.0,
            max_queue_delay: Duration::from_secs(900),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_in_flight: 64,
            per_tenant_in_flight: 4,
            preview_url_ttl: Duration::from_secs(24 * 3600),
            policy: TargetPolicy {
                allow_private_targets: false,
                require_https: true,
            },
        }
    }

    pub fn scaled(&self, delay: Duration) -> Duration {
        delay.mul_f64(self.time_scale.max(0.0))
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self::production()
    }
}
