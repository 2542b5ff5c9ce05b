//! Browser tokens: what a web page holds instead of the tenant's API key.
//!
//! - An **order token** (`POST /v1/order-tokens`, API key) lets its holder
//!   create one preview, within the styles and variations the tenant allowed,
//!   for a few minutes. The preview's id is chosen when the token is issued and
//!   travels inside it, so a second order with the same token names a preview
//!   that already exists and is refused: single use without any token store.
//! - A **preview token** (returned by `POST /v1/previews`) reads one preview,
//!   its images, and erases it, until it expires.
//!
//! A token is `lkt1.<claims>.<mac>`: base64url JSON claims and their
//! HMAC-SHA256 under the deployment's token key ([`TokenKeys`]). Nothing about
//! a token is logged; claims carry no personal data.

use crate::auth::Caller;
use crate::views::{ErrorBody, OrderTokenIssued};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use likeness_core::ports::TokenKeys;
use likeness_core::{PreviewId, TenantId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::OnceCell;
use utoipa::ToSchema;

const PREFIX: &str = "lkt1.";

/// Signs and checks tokens with the deployment's key, read once per process.
pub struct Tokens {
    store: Arc<dyn TokenKeys>,
    key: OnceCell<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Order,
    Preview,
}

/// What a token says. `preview` is the preview an order token will create, or
/// the one a preview token reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub kind: TokenKind,
    pub tenant: TenantId,
    pub preview: PreviewId,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Order tokens: the most styles and variations the order may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_styles: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_variations: Option<u32>,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Whether a bearer credential is a token (as opposed to an API key).
pub fn is_token(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

impl Tokens {
    pub fn new(store: Arc<dyn TokenKeys>) -> Self {
        Self {
            store,
            key: OnceCell::new(),
        }
    }

    async fn key(&self) -> Result<&[u8], ApiError> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                rand::rng().fill_bytes(&mut candidate);
                self.store.token_key(&candidate).await
            })
            .await?;
        Ok(key)
    }

    pub async fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let json = serde_json::to_vec(claims).expect("claims serialise");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mac = mac(self.key().await?, &payload).finalize().into_bytes();
        Ok(format!("{PREFIX}{payload}.{}", URL_SAFE_NO_PAD.encode(mac)))
    }

    /// The claims of a genuine, unexpired token of `kind`; every failure is the
    /// same 401, so a token cannot be probed for which part was wrong.
    pub async fn verify(
        &self,
        token: &str,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<Claims, ApiError> {
        let refused = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "This link has expired or is not valid: start again from the shop's page.",
            )
        };
        let rest = token.strip_prefix(PREFIX).ok_or_else(refused)?;
        let (payload, signature) = rest.split_once('.').ok_or_else(refused)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| refused())?;
        mac(self.key().await?, payload)
            .verify_slice(&signature)
            .map_err(|_| refused())?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| refused())?;
        if claims.kind != kind || claims.exp <= now.timestamp() {
            return Err(refused());
        }
        Ok(claims)
    }
}

fn mac(key: &[u8], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(PREFIX.as_bytes());
    mac.update(payload.as_bytes());
    mac
}

/// A token as handed out.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub preview_id: PreviewId,
    pub expires_at: DateTime<Utc>,
}

/// What the tenant allows one order token to order.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLimits {
    /// Seconds the token stays valid (default and most: 900).
    pub ttl_secs: Option<u64>,
    pub max_styles: Option<usize>,
    pub max_variations: Option<u32>,
}

/// Issue an order token for `tenant`, reserving the id of the preview it will
/// create. Used by `POST /v1/order-tokens` and by the storefront page.
pub async fn issue_order_token(
    state: &ApiState,
    tenant: &TenantId,
    limits: OrderLimits,
) -> Result<IssuedToken, ApiError> {
    let most = state.config.order_token_ttl_secs;
    let ttl = limits.ttl_secs.unwrap_or(most);
    if ttl == 0 || ttl > most {
        return Err(ApiError::unprocessable(
            "invalid_ttl",
            format!("ttl_secs must be between 1 and {most}."),
        ));
    }
    if limits.max_styles == Some(0) || limits.max_variations == Some(0) {
        return Err(ApiError::unprocessable(
            "invalid_limits",
            "max_styles and max_variations must be at least 1 when given.",
        ));
    }
    let claims = Claims {
        kind: TokenKind::Order,
        tenant: tenant.clone(),
        preview: state.ids.preview_id(),
        exp: 0,
        max_styles: limits.max_styles,
        max_variations: limits.max_variations,
    };
    issue(state, claims, ttl).await
}

/// Issue the token that reads and erases `preview`.
pub async fn issue_preview_token(
    state: &ApiState,
    tenant: &TenantId,
    preview: &PreviewId,
) -> Result<IssuedToken, ApiError> {
    let claims = Claims {
        kind: TokenKind::Preview,
        tenant: tenant.clone(),
        preview: preview.clone(),
        exp: 0,
        max_styles: None,
        max_variations: None,
    };
    issue(state, claims, state.config.preview_token_ttl_secs).await
}

/// Sign `claims`, expiring `ttl_secs` from now.
async fn issue(
    state: &ApiState,
    mut claims: Claims,
    ttl_secs: u64,
) -> Result<IssuedToken, ApiError> {
    claims.exp = (state.clock.now() + Duration::seconds(ttl_secs as i64)).timestamp();
    let token = state.tokens.sign(&claims).await?;
    Ok(IssuedToken {
        token,
        expires_at: claims.expires_at(),
        preview_id: claims.preview,
    })
}

/// `POST /v1/order-tokens`: the tenant's backend asks for a token to hand to
/// its page. The body (optional) narrows what the token may order.
#[utoipa::path(
    post,
    path = "/v1/order-tokens",
    tag = "browser tokens",
    security(("api_key" = [])),
    request_body(content = Option<OrderLimits>, description = "Optional narrowing of what the token may order"),
    responses(
        (status = 201, description = "A token for the page", body = OrderTokenIssued),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "A browser token or a finance key", body = ErrorBody),
        (status = 422, description = "Limits out of range", body = ErrorBody),
    )
)]
pub async fn create_order_token(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderTokenIssued>), ApiError> {
    caller.require_tenant_scope()?;
    let limits: OrderLimits = if body.iter().all(u8::is_ascii_whitespace) {
        OrderLimits::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
    };
    let issued = issue_order_token(&state, &caller.tenant, limits).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrderTokenIssued {
            order_token: issued.token,
            preview_id: issued.preview_id.to_string(),
            expires_at: issued.expires_at,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use likeness_core::PortError;
    use std::sync::Mutex;

    #[derive(Default)]
    struct OneKey(Mutex<Option<Vec<u8>>>);

    #[async_trait]
    impl TokenKeys for OneKey {
        async fn token_key(&self, candidate: &[u8]) -> Result<Vec<u8>, PortError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get_or_insert_with(|| candidate.to_vec())
                .clone())
        }
    }

    fn claims(kind: TokenKind, exp: i64) -> Claims {
        Claims {
            kind,
            tenant: TenantId::new("acme"),
            preview: PreviewId::new("pv_0123456789abcdef0123456789abcdef"),
            exp,
            max_styles: None,
            max_variations: None,
        }
    }

    #[tokio::test]
    async fn a_token_verifies_only_unchanged_unexpired_and_as_its_kind() {
        let tokens = Tokens::new(Arc::new(OneKey::default()));
        let now = Utc::now();
        let good = claims(TokenKind::Preview, now.timestamp() + 60);
        let token = tokens.sign(&good).await.unwrap();
        assert_eq!(
            tokens
                .verify(&token, TokenKind::Preview, now)
                .await
                .unwrap(),
            good
        );
        // Another kind, expiry passed, a claim changed, another key: all refused.
        assert!(tokens.verify(&token, TokenKind::Order, now).await.is_err());
        let later = now + Duration::seconds(61);
        assert!(
            tokens
                .verify(&token, TokenKind::Preview, later)
                .await
                .is_err()
        );
        let mut other = good.clone();
        other.tenant = TenantId::new("evil");
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let signature = token.rsplit_once('.').unwrap().1;
        let forged = format!("{PREFIX}{forged_payload}.{signature}");
        assert!(
            tokens
                .verify(&forged, TokenKind::Preview, now)
                .await
                .is_err()
        );
        let stranger = Tokens::new(Arc::new(OneKey::default()));
        assert!(
            stranger
                .verify(&token, TokenKind::Preview, now)
                .await
                .is_err()
        );
        for junk in ["", "lkt1.", "lkt1.a.b", "lk_abc", "lkt1.!!.??"] {
            assert!(tokens.verify(junk, TokenKind::Preview, now).await.is_err());
        }
    }
}
