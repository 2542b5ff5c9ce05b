//! Per-tenant limits on ordering: previews in flight, orders per minute and
//! GPU-seconds per UTC day. An order over a limit gets 429 with `Retry-After`
//! and the limit named, before anything is stored or presigned.
//!
//! The counts come from the records both stacks already keep (the tenant's
//! previews, newest first, and the day's cost lines), so on AWS the state is the
//! DynamoDB table and on one machine the SQLite file: nothing extra to keep in
//! step. Within one process a tenant's orders are admitted one at a time, so a
//! burst cannot slip past a count; across Lambda instances two orders decided
//! at the same instant can both pass, which overshoots a limit by at most the
//! number of concurrent instances (docs/RELIABILITY.md).

use crate::{ApiError, ApiState};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use likeness_core::cost::meters;
use likeness_core::{Preview, Status, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantLimits {
    /// Previews ordered and not yet final (an unused upload URL stops counting when it expires).
    pub max_in_flight: u32,
    pub orders_per_minute: u32,
    /// GPU-seconds metered for the tenant's previews since 00:00 UTC.
    pub gpu_seconds_per_day: f64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 100,
            orders_per_minute: 120,
            gpu_seconds_per_day: 10.0 * 3600.0,
        }
    }
}

/// The default limits and the tenants that have their own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitsConfig {
    #[serde(default)]
    pub default: TenantLimits,
    #[serde(default)]
    pub tenants: BTreeMap<TenantId, TenantLimits>,
}

impl LimitsConfig {
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantLimits {
        self.tenants.get(tenant).copied().unwrap_or(self.default)
    }

    /// `LIKENESS_TENANT_LIMITS`, e.g.
    /// `{"default":{"max_in_flight":20,"orders_per_minute":30,"gpu_seconds_per_day":3600},
    ///   "tenants":{"acme":{"max_in_flight":200,"orders_per_minute":600,"gpu_seconds_per_day":36000}}}`.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("LIKENESS_TENANT_LIMITS: {e}"))
    }
}

/// At most how many of the tenant's newest previews are read per order (each is
/// a table read on AWS). Twice the larger limit: previews still in flight that
/// are older than that many newer orders are not counted.
const MAX_SCAN: usize = 1000;
/// What a client over its in-flight limit is told to wait: previews take tens of seconds.
const IN_FLIGHT_RETRY_SECS: i64 = 30;

fn in_flight(p: &Preview, now: DateTime<Utc>) -> bool {
    match p.status {
        Status::AwaitingUpload => p.upload.expires_at > now,
        s => !s.is_final(),
    }
}

fn too_many(limit: &str, message: String, retry_after: i64) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    e.retry_after = Some(retry_after.max(1) as u64);
    tracing::info!(limit, retry_after, "order refused by a tenant limit");
    e
}

/// One async lock per tenant, for this process.
fn tenant_lock(tenant: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.entry(tenant.clone()).or_default().clone()
}

/// Runs `order` if the tenant is within its limits, holding the tenant's lock so
/// the order that `order` stores is counted by the next check.
pub async fn admit<T, F>(state: &ApiState, tenant: &TenantId, order: F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    let lock = tenant_lock(tenant);
    let _held = lock.lock().await;
    check(state, tenant).await?;
    order.await
}

async fn check(state: &ApiState, tenant: &TenantId) -> Result<(), ApiError> {
    let limits = state.config.limits.for_tenant(tenant);
    let now = state.clock.now();
    let scan = (2 * limits.max_in_flight.max(limits.orders_per_minute) as usize + 1).min(MAX_SCAN);
    let recent = state.previews.list_by_tenant(tenant, scan).await?;

    let window_start = now - Duration::minutes(1);
    let in_window: Vec<DateTime<Utc>> = recent
        .iter()
        .map(|p| p.created_at)
        .filter(|t| *t > window_start)
        .collect();
    if in_window.len() >= limits.orders_per_minute as usize {
        // The oldest order in the window leaves it first.
        let oldest = in_window.iter().min().copied().unwrap_or(now);
        let wait = (oldest + Duration::minutes(1) - now).num_milliseconds();
        return Err(too_many(
            "orders_per_minute",
            format!(
                "At most {} previews may be ordered per minute.",
                limits.orders_per_minute
            ),
            (wait + 999) / 1000,
        ));
    }

    let flying = recent.iter().filter(|p| in_flight(p, now)).count();
    if flying >= limits.max_in_flight as usize {
        return Err(too_many(
            "max_in_flight",
            format!(
                "At most {} previews may be in progress at once; wait for some to finish.",
                limits.max_in_flight
            ),
            IN_FLIGHT_RETRY_SECS,
        ));
    }

    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let gpu_seconds: f64 = state
        .costs
        .lines_between(day_start, now + Duration::seconds(1))
        .await?
        .iter()
        .filter(|l| &l.tenant == tenant && l.meter == meters::GPU_SECOND)
        .map(|l| l.quantity)
        .sum();
    if gpu_seconds >= limits.gpu_seconds_per_day {
        let tomorrow = day_start + Duration::days(1);
        return Err(too_many(
            "gpu_seconds_per_day",
            format!(
                "Today's GPU allowance ({} GPU-seconds) is used up; it renews at 00:00 UTC.",
                limits.gpu_seconds_per_day
            ),
            (tomorrow - now).num_seconds(),
        ));
    }
    Ok(())
}
