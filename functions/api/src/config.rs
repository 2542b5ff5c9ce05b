//! API limits. Defaults are what a portrait service would ship with; every one can
//! be overridden from the environment by the binary that builds the router.

use crate::limits::LimitsConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiConfig {
    /// Largest photo accepted, in bytes (a 48 MP phone JPEG is ~15 MiB).
    pub max_upload_bytes: u64,
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl_secs: u64,
    /// How long the portrait URLs in `GET /v1/previews/{id}` stay valid: a page
    /// that shows them fetches them at once, and polling again issues fresh ones.
    pub download_url_ttl_secs: u64,
    /// How long previews and their records are kept before they expire.
    pub retention_days: i64,
    /// Portraits delivered per style when the order does not say.
    pub default_variations: u32,
    pub max_variations: u32,
    pub max_styles: usize,
    /// Webhook URLs must be https at order time. On AWS, where the notifier
    /// requires https, this is on; one machine posts to http receivers too.
    pub webhooks_require_https: bool,
    /// Webhook URLs may name loopback or private IP literals and any port. Off
    /// on AWS; one machine follows `LIKENESS_WEBHOOKS_ALLOW_PRIVATE`.
    pub webhooks_allow_private: bool,
    /// Per-tenant limits on ordering ([`crate::limits`]).
    #[serde(default)]
    pub limits: LimitsConfig,
}

impl ApiConfig {
    /// The defaults, with per-tenant limits from `LIKENESS_TENANT_LIMITS` (JSON,
    /// see [`LimitsConfig::from_json`]) where it is set: the same variable on
    /// both stacks.
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self {
            retention_days: likeness_core::retention::Retention::from_env()?
                .previews
                .num_days(),
            ..Self::default()
        };
        if let Ok(json) = std::env::var("LIKENESS_TENANT_LIMITS")
            && !json.trim().is_empty()
        {
            config.limits = LimitsConfig::from_json(&json)
                .map_err(|e| format!("LIKENESS_TENANT_LIMITS: {e}"))?;
        }
        Ok(config)
    }

    /// The rules webhook URLs are held to at order time.
    pub fn webhook_policy(&self) -> likeness_notify::TargetPolicy {
        likeness_notify::TargetPolicy {
            allow_private_targets: self.webhooks_allow_private,
            require_https: self.webhooks_require_https,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            upload_url_ttl_secs: 15 * 60,
            download_url_ttl_secs: 15 * 60,
            retention_days: likeness_core::retention::DEFAULT_PREVIEW_DAYS,
            default_variations: 3,
            max_variations: 8,
            max_styles: 10,
            webhooks_require_https: false,
            webhooks_allow_private: true,
            limits: LimitsConfig::default(),
        }
    }
}

/// The photo types likeness decodes. Anything else is refused before a URL is issued.
pub const ACCEPTED_CONTENT_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
