//! Who is calling. API keys: `lk_` + 32 random bytes in hex, shown once at
//! creation and stored only as a SHA-256 hash; a key belongs to one tenant and
//! stays on the tenant's backend. Browsers hold tokens instead ([`crate::tokens`]).

use crate::tokens::{self, TokenKind};
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

/// The `Authorization: Bearer` credential, or 401.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::unauthorized)?;
    Ok(header
        .strip_prefix("Bearer ")
        .ok_or_else(ApiError::unauthorized)?
        .trim())
}

async fn api_key_caller(key: &str, state: &ApiState) -> Result<Caller, ApiError> {
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

/// Routes for the tenant's backend only: a browser token is refused.
impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?;
        if tokens::is_token(credential) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "A browser token cannot do this: call this route from your backend with the API key.",
            ));
        }
        api_key_caller(credential, state).await
    }
}

/// Who may order a preview: the tenant's API key, or an order token, which
/// names the preview it creates and caps the order.
#[derive(Clone, Debug)]
pub struct Orderer {
    pub tenant: TenantId,
    /// The preview id an order token reserved; `None` for an API key.
    pub reserved: Option<PreviewId>,
    pub max_styles: Option<usize>,
    pub max_variations: Option<u32>,
}

impl FromRequestParts<ApiState> for Orderer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?;
        if tokens::is_token(credential) {
            let claims = state
                .tokens
                .verify(credential, TokenKind::Order, state.clock.now())
                .await?;
            return Ok(Orderer {
                tenant: claims.tenant,
                reserved: Some(claims.preview),
                max_styles: claims.max_styles,
                max_variations: claims.max_variations,
            });
        }
        let caller = api_key_caller(credential, state).await?;
        caller.require_tenant_scope()?;
        Ok(Orderer {
            tenant: caller.tenant,
            reserved: None,
            max_styles: None,
            max_variations: None,
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
/// sees only its own tenant's previews, a preview token only its own preview,
/// and anything else (a malformed id, another tenant's id, an unknown one) is
/// the same 404, so ids cannot be probed. With `FINANCE` set, a finance key
/// reads any tenant's preview; without it, a finance key is refused (403).
/// Preview tokens are accepted only where `TOKEN` is set (status and erasure).
pub struct TenantPreview<const FINANCE: bool = OWNER_ONLY, const TOKEN: bool = KEY_ONLY> {
    pub tenant: TenantId,
    pub preview: Preview,
}

/// Whether a preview token may stand in for the API key on this route.
pub const KEY_ONLY: bool = false;
pub const KEY_OR_PREVIEW_TOKEN: bool = true;

impl<const FINANCE: bool, const TOKEN: bool> FromRequestParts<ApiState>
    for TenantPreview<FINANCE, TOKEN>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?.to_owned();
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let id = PreviewId::new(id);
        let (tenant, finance_reads) = if TOKEN && tokens::is_token(&credential) {
            let claims = state
                .tokens
                .verify(&credential, TokenKind::Preview, state.clock.now())
                .await?;
            if claims.preview != id {
                return Err(ApiError::not_found());
            }
            (claims.tenant, false)
        } else {
            let caller = Caller::from_request_parts(parts, state).await?;
            let finance_reads = FINANCE && caller.scope == KeyScope::Finance;
            if !finance_reads {
                caller.require_tenant_scope()?;
            }
            (caller.tenant, finance_reads)
        };
        if !id.is_well_formed() {
            return Err(ApiError::not_found());
        }
        let preview = state
            .previews
            .get(&id)
            .await?
            .filter(|p| finance_reads || p.tenant == tenant)
            .ok_or_else(ApiError::not_found)?;
        Ok(Self { tenant, preview })
    }
}
