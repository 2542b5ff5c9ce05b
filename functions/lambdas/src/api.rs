//! The api function: the same axum `Router` the one-machine binary serves,
//! behind API Gateway (HTTP API, payload v2) through `lambda_http`.

use crate::config::{AwsStack, ConfigError};
use likeness_api::tokens::Tokens;
use likeness_api::{ApiConfig, ApiState};
use likeness_core::Catalogue;
use likeness_core::ports::{Announce, RandomIds, SystemClock};
use std::sync::Arc;

/// The API's state over the table and the bucket; `preview.erased` is
/// announced into `LIKENESS_WEBHOOKS_QUEUE_URL` when it is set.
pub fn state(stack: &AwsStack, config: ApiConfig) -> ApiState {
    let announce = crate::config::optional(crate::config::WEBHOOKS_QUEUE_URL)
        .map(|url| Arc::new(stack.announcer(&url)) as Arc<dyn Announce>);
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
        tokens: Arc::new(Tokens::new(stack.records.clone())),
        announce,
    }
}

/// `ApiConfig::from_env`: tenant limits (`LIKENESS_TENANT_LIMITS`) and the
/// retention the bucket's lifecycle enforces (`LIKENESS_RETENTION_DAYS`, the
/// template's `PreviewRetentionDays`), read as `likeness serve` reads them.
pub fn config_from_env() -> Result<ApiConfig, ConfigError> {
    let mut config = ApiConfig::from_env().map_err(ConfigError::Api)?;
    // The webhooks function's rules: an order whose webhook it would refuse is
    // refused at once instead.
    let targets = crate::config::webhook_targets();
    config.webhooks_require_https = targets.require_https;
    config.webhooks_allow_private = targets.allow_private_targets;
    Ok(config)
}
