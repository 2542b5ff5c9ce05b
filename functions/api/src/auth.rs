//! API keys: `lk_` + 32 random bytes in hex, shown once at creation and stored only
//! as a SHA-256 hash. A key belongs to one tenant.

use crate::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::request::Parts;
use likeness_core::ports::{ApiKeyRecord, ApiKeys, Clock, KeyScope};
use likeness_core::{PortError, Preview, PreviewId, TenantId};
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

impl Caller {
    /// Ordering and reading previews take the tenant's own key: a finance key
    /// reads costs and never spends.
    pub fn require_tenant_scope(&self) -> Result<(), ApiError> {
        match self.scope {
            KeyScope::Tenant => Ok(()),
            KeyScope::Finance => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Finance keys read costs only: order and read previews with the tenant's API key.",
            )),
        }
    }
}

/// Whether a finance key may read any tenant's preview through this route.
/// Only the cost route sets it; every other preview route is the owner's only.
pub const FINANCE_READS_ANY_TENANT: bool = true;
pub const OWNER_ONLY: bool = false;

/// The `{id}` in the path, loaded and checked against the caller: a tenant key
/// sees only its own tenant's previews, and anything else (a malformed id,
/// another tenant's id, an unknown one) is the same 404, so ids cannot be
/// probed. With `FINANCE` set, a finance key reads any tenant's preview; without
/// it, a finance key is refused (403).
pub struct TenantPreview<const FINANCE: bool = OWNER_ONLY> {
    pub caller: Caller,
    pub preview: Preview,
}

impl<const FINANCE: bool> FromRequestParts<ApiState> for TenantPreview<FINANCE> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let finance_reads = FINANCE && caller.scope == KeyScope::Finance;
        if !finance_reads {
            caller.require_tenant_scope()?;
        }
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let id = PreviewId::new(id);
        if !id.is_well_formed() {
            return Err(ApiError::not_found());
        }
        let preview = state
            .previews
            .get(&id)
            .await?
            .filter(|p| finance_reads || p.tenant == caller.tenant)
            .ok_or_else(ApiError::not_found)?;
        Ok(Self { caller, preview })
    }
}
