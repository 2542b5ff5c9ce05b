//! API keys: `lk_` + 32 random bytes in hex, shown once at creation and stored only
//! as a SHA-256 hash. A key belongs to one tenant.

use crate::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use likeness_core::ports::{ApiKeyRecord, ApiKeys, Clock, KeyScope};
use likeness_core::{PortError, TenantId};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Create a key for `tenant` and return it; only its hash is kept.
pub async fn issue_key(
    keys: &dyn ApiKeys,
    clock: &dyn Clock,
    tenant: &TenantId,
    scope: KeyScope,
) -> Result<String, PortError> {
    if !tenant.is_well_formed() {
        return Err(PortError::Invalid(format!(
            "tenant `{tenant}` must be 1-64 characters of a-z, 0-9, `-` and `_`"
        )));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("lk_{}", hex::encode(secret));
    keys.put_key(&ApiKeyRecord {
        hash: hash_key(&key),
        tenant: tenant.clone(),
        scope,
        created_at: clock.now(),
    })
    .await?;
    Ok(key)
}

/// The caller, as proven by its API key.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub scope: KeyScope,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let key = header
            .strip_prefix("Bearer ")
            .ok_or_else(ApiError::unauthorized)?
            .trim();
        let record = state
            .keys
            .find_key(&hash_key(key))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller {
            tenant: record.tenant,
            scope: record.scope,
        })
    }
}
