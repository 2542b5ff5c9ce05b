//! Identifiers. Preview ids are time-ordered (UUIDv7) so listings sort by creation.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A preview: one uploaded photo and the portraits made from it.
    PreviewId
);
string_id!(
    /// A customer account; every record and object key is scoped by it.
    TenantId
);
string_id!(
    /// A style from the catalogue, e.g. `watercolor`.
    StyleId
);

impl PreviewId {
    /// Whether this looks like an id likeness issued (`pv_` + 32 hex digits).
    /// Keys are built from ids, so anything else is refused before it reaches storage.
    pub fn is_well_formed(&self) -> bool {
        let Some(rest) = self.0.strip_prefix("pv_") else {
            return false;
        };
        rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl TenantId {
    /// Tenant names become S3 key segments: lowercase letters, digits, `-` and `_`, 1..=64.
    pub fn is_well_formed(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= 64
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
}
