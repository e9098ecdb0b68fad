//! The UserInfo endpoint's answer (OIDC Core §5.3): claims by the access token's scopes.

use serde_json::{Map, Value, json};

use super::Issuer;
use crate::crypto::jwt;

/// Why a bearer token was refused (RFC 6750 §3.1).
#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
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
        let keys = self.keys.current();
        let now = self.clock.now();
        let claims = jwt::verify_access_token(token, &keys.verifiers, &self.issuer, now)
            .map_err(|_| BearerError::InvalidToken("the access token is invalid or expired"))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = text("jti").ok_or(BearerError::InvalidToken("the access token has no jti"))?;
        if audience.is_some_and(|aud| text("aud") != Some(aud)) {
            return Err(BearerError::InvalidToken(
                "the access token is meant for another audience",
            ));
        }
        if self
            .store
            .is_revoked(jti)
            .await
            .map_err(|_| BearerError::Unavailable)?
        {
            return Err(BearerError::InvalidToken("the access token was revoked"));
        }
        if !text("scope").unwrap_or("").split(' ').any(|s| s == scope) {
            return Err(BearerError::InsufficientScope(scope));
        }
        Ok(claims)
    }

    pub async fn userinfo(&self, token: &str) -> Result<Value, BearerError> {
        let claims = self.bearer(token, None, "openid").await?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let scopes: Vec<&str> = text("scope").unwrap_or("").split(' ').collect();
        let sub = text("sub").ok_or(BearerError::InvalidToken("the access token has no sub"))?;
        let user = self
            .store
            .find_user_by_row(sub)
            .await
            .map_err(|_| BearerError::Unavailable)?
            // A token never speaks for a user of another tenant than its own.
            .filter(|u| u.disabled_at.is_none() && Some(u.tenant.as_str()) == text("tenant_id"))
            .ok_or(BearerError::InvalidToken(
                "the access token does not speak for a user",
            ))?;
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.id));
        if scopes.contains(&"profile") {
            out.insert("preferred_username".into(), json!(user.username));
            if let Some(name) = &user.name {
                out.insert("name".into(), json!(name));
            }
        }
        if let Some(email) = user.email.as_ref().filter(|_| scopes.contains(&"email")) {
            out.insert("email".into(), json!(email));
        }
        out.insert("roles".into(), json!(user.roles));
        out.insert("tenant_id".into(), json!(user.tenant));
        Ok(Value::Object(out))
    }
}
