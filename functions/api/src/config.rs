//! API limits. Defaults are what a portrait service would ship with; every one can
//! be overridden from the environment by the binary that builds the router.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiConfig {
    /// Largest photo accepted, in bytes (a 48 MP phone JPEG is ~15 MiB).
    pub max_upload_bytes: u64,
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl_secs: u64,
    /// How long previews and their records are kept before they expire.
    pub retention_days: i64,
    /// Portraits delivered per style when the order does not say.
    pub default_variations: u32,
    pub max_variations: u32,
    pub max_styles: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            upload_url_ttl_secs: 15 * 60,
            retention_days: 7,
            default_variations: 3,
            max_variations: 8,
            max_styles: 10,
        }
    }
}

/// The photo types likeness decodes. Anything else is refused before a URL is issued.
pub const ACCEPTED_CONTENT_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
