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
    /// The longest an order token may live (and its default lifetime).
    pub order_token_ttl_secs: u64,
    /// How long a preview token reads and erases its preview: long enough to
    /// watch the preview render and come back to it the same day.
    pub preview_token_ttl_secs: u64,
    /// Origins whose pages may call the API from a browser (CORS). Empty: no
    /// cross-origin page may; the page `likeness serve` itself serves is
    /// same-origin and needs none.
    #[serde(default)]
    pub frontend_origins: Vec<String>,
    /// The tenant the built-in page orders for, with an order token minted on
    /// every load of `/`: set by `likeness serve`, which plays the tenant's
    /// backend for its own page. Unset on AWS, where the page takes its order
    /// token from the link the tenant's site gives it.
    #[serde(default)]
    pub storefront_tenant: Option<likeness_core::TenantId>,
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
        if let Ok(origins) = std::env::var("LIKENESS_FRONTEND_ORIGINS") {
            config.frontend_origins = parse_origins(&origins)?;
        }
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
            order_token_ttl_secs: 15 * 60,
            preview_token_ttl_secs: 12 * 3600,
            frontend_origins: Vec::new(),
            storefront_tenant: None,
            limits: LimitsConfig::default(),
        }
    }
}

/// The photo types likeness decodes. Anything else is refused before a URL is issued.
pub const ACCEPTED_CONTENT_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// `LIKENESS_FRONTEND_ORIGINS`: comma-separated origins (`https://shop.example`),
/// each a scheme and host with an optional port and nothing else.
pub fn parse_origins(list: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let url = url::Url::parse(origin)
            .map_err(|e| format!("LIKENESS_FRONTEND_ORIGINS: `{origin}`: {e}"))?;
        let exact = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https") || exact != origin.trim_end_matches('/') {
            return Err(format!(
                "LIKENESS_FRONTEND_ORIGINS: `{origin}` is not an origin (scheme://host[:port], no path)"
            ));
        }
        origins.push(exact);
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::parse_origins;

    #[test]
    fn frontend_origins_are_exact_origins() {
        assert_eq!(
            parse_origins(" https://shop.example, http://127.0.0.1:8080 ,").unwrap(),
            ["https://shop.example", "http://127.0.0.1:8080"]
        );
        for bad in [
            "*",
            "shop.example",
            "https://shop.example/page",
            "ftp://x.example",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
