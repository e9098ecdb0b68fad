//! The bearer check (RFC 6750) of Castellan's own protected endpoints: UserInfo and the admin API.

use serde_json::{Map, Value};

use super::Issuer;
use crate::crypto::jwt;

/// Why a bearer token was refused (RFC 6750 §3.1).
#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization: Bearer` credentials at all (§3.1: a bare challenge).
    Missing,
    /// The request itself is malformed, or carries the token more than one way (§3.1).
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    /// The scope the token lacks.
    InsufficientScope(&'static str),
    Unavailable,
}

impl Issuer {
    /// A bearer access token's claims: signed by a published key, live, not revoked, holding
    /// `scope`, and (when given) meant for `audience`.
    pub async fn bearer(
        &self,
        token: &str,
        audience: Option<&str>,
        scope: &'static str,
    ) -> Result<Map<String, Value>, BearerError> {
        let keys = self.ctx.keys.current();
        let now = self.ctx.clock.now();
        let claims = jwt::verify_access_token(token, &keys.verifiers, &self.ctx.issuer_url, now)
            .map_err(|_| BearerError::InvalidToken("the access token is invalid or expired"))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = text("jti").ok_or(BearerError::InvalidToken("the access token has no jti"))?;
        if audience.is_some_and(|aud| text("aud") != Some(aud)) {
            return Err(BearerError::InvalidToken(
                "the access token is meant for another audience",
            ));
        }
        if self.ctx.store.is_revoked(jti).await? {
            return Err(BearerError::InvalidToken("the access token was revoked"));
        }
        if !text("scope").unwrap_or("").split(' ').any(|s| s == scope) {
            return Err(BearerError::InsufficientScope(scope));
        }
        Ok(claims)
    }
}

impl From<crate::store::Error> for BearerError {
    fn from(e: crate::store::Error) -> Self {
        tracing::warn!(error = %crate::error_chain::report(&e), "store unavailable for a bearer check");
        Self::Unavailable
    }
}
