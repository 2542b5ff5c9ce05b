//! The api function: the same axum `Router` the one-machine binary serves,
//! behind API Gateway (HTTP API, payload v2) through `lambda_http`.

use crate::config::{AwsStack, ConfigError, RETENTION_DAYS, number};
use likeness_api::{ApiConfig, ApiState};
use likeness_core::Catalogue;
use likeness_core::ports::{RandomIds, SystemClock};
use std::sync::Arc;

/// The API's state over the table and the bucket.
pub fn state(stack: &AwsStack, config: ApiConfig) -> ApiState {
    ApiState {
        previews: stack.records.clone(),
        keys: stack.records.clone(),
        blobs: stack.blobs.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        catalogue: Arc::new(Catalogue::builtin()),
        config,
        deliveries: stack.records.clone(),
        costs: stack.records.clone(),
    }
}

/// `ApiConfig` defaults and tenant limits (`LIKENESS_TENANT_LIMITS`), with the retention the bucket's lifecycle enforces
/// (`LIKENESS_RETENTION_DAYS`, the template's `PreviewRetentionDays`).
pub fn config_from_env() -> Result<ApiConfig, ConfigError> {
    let mut config = ApiConfig::from_env().map_err(|reason| ConfigError::Invalid {
        name: "LIKENESS_TENANT_LIMITS",
        reason,
    })?;
    // The notify function requires https and refuses private targets: an order
    // whose webhook it would refuse is refused at once instead.
    config.webhooks_require_https = true;
    config.webhooks_allow_private = false;
    let days = number(RETENTION_DAYS, config.retention_days.unsigned_abs())?;
    config.retention_days = i64::try_from(days).map_err(|_| ConfigError::Invalid {
        name: RETENTION_DAYS,
        reason: format!("{days} days is out of range"),
    })?;
    Ok(config)
}
