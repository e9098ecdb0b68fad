//! Introspection and revocation of the access tokens Castellan issued.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::Issuer;
use crate::audit::{EventKind, Outcome};
use crate::crypto::{SecretHash, jwt};
use crate::protocol::OAuthError;
use crate::protocol::client_auth::ClientCredentials;
use crate::protocol::introspection::{active, inactive};
use crate::store::clients::ClientRecord;

impl Issuer {
    /// RFC 7662. A client learns about tokens issued to it, and a resource server about tokens
    /// for its API in its own tenant (§4); any other token, like an invalid one, is inactive.
    pub async fn introspect(
        &self,
        creds: ClientCredentials,
        token: &str,
    ) -> Result<Value, OAuthError> {
        let caller = self.authenticate_confidential(&creds).await?;
        let Some(claims) = self.live_claims(token).await? else {
            return self.introspect_refresh(&caller, token).await;
        };
        if !may_see(&caller, &claims) {
            return Ok(inactive());
        }
        Ok(active(claims))
    }

    /// RFC 7009. Invalid and expired tokens are answered with success: there is nothing to revoke.
    /// Public clients may revoke their own tokens (§2.1), which matters for refresh tokens.
    pub async fn revoke(
        &self,
        creds: ClientCredentials,
        token: &str,
        address: IpAddr,
    ) -> Result<(), OAuthError> {
        let caller = self.authenticate(&creds).await?;
        let now = self.ctx.clock.now();
        let keys = self.ctx.keys.current();
        let revoked = |what: &str| {
            self.ctx.audit.record(
                self.user_event(EventKind::TokenRevoked, Outcome::Success, &caller, address)
                    .actor(caller.client_id.as_str())
                    .detail(what),
            );
        };
        let Ok(claims) =
            jwt::verify_access_token(token, &keys.verifiers, &self.ctx.issuer_url, now)
        else {
            let hash = SecretHash::of(token);
            let found = self
                .ctx
                .store
                .revoke_refresh(hash.as_bytes(), &caller.id, now)
                .await?;
            if found {
                revoked("refresh token and its sign-in");
            }
            return Ok(());
        };
        if !issued_to(&caller, &claims) {
            return Err(OAuthError::invalid_request(
                "this token was not issued to this client",
            ));
        }
        let (Some(jti), Some(exp)) = (
            claim(&claims, "jti"),
            claims.get("exp").and_then(Value::as_i64),
        ) else {
            return Ok(());
        };
        self.ctx
            .store
            .revoke_token(jti, caller.client_id.as_str(), exp, now)
            .await?;
        revoked("access token");
        Ok(())
    }

    /// The claims of a token that verifies, is within its lifetime and was not revoked.
    async fn live_claims(&self, token: &str) -> Result<Option<Map<String, Value>>, OAuthError> {
        let keys = self.ctx.keys.current();
        let Ok(claims) = jwt::verify_access_token(
            token,
            &keys.verifiers,
            &self.ctx.issuer_url,
            self.ctx.clock.now(),
        ) else {
            return Ok(None);
        };
        let Some(jti) = claim(&claims, "jti") else {
            return Ok(None);
        };
        let revoked = self.ctx.store.is_revoked(jti).await?;
        Ok((!revoked).then_some(claims))
    }
}

impl Issuer {
    /// A refresh token is active for the client it was issued to, while it can still be used.
    async fn introspect_refresh(
        &self,
        caller: &ClientRecord,
        token: &str,
    ) -> Result<Value, OAuthError> {
        let hash = SecretHash::of(token);
        let grant = self
            .ctx
            .store
            .live_refresh(hash.as_bytes(), self.ctx.clock.now())
            .await?;
        let Some(grant) = grant.filter(|g| g.client_row == caller.id) else {
            return Ok(inactive());
        };
        Ok(serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": caller.client_id,
            "sub": grant.user_row,
            "aud": grant.audience,
            "iss": self.ctx.issuer_url,
            "exp": grant.expires_at,
            "auth_time": grant.auth_time,
        }))
    }
}

fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// `tenant_id` holds the tenant's slug, as `ClientRecord::tenant` does.
fn same_tenant(caller: &ClientRecord, claims: &Map<String, Value>) -> bool {
    claim(claims, "tenant_id") == Some(caller.tenant.as_str())
}

fn issued_to(caller: &ClientRecord, claims: &Map<String, Value>) -> bool {
    claim(claims, "client_id") == Some(caller.client_id.as_str()) && same_tenant(caller, claims)
}

/// Merely being allowed to call an API does not make a client its resource server.
fn may_see(caller: &ClientRecord, claims: &Map<String, Value>) -> bool {
    issued_to(caller, claims)
        || (same_tenant(caller, claims)
            && claim(claims, "aud").is_some_and(|aud| caller.resource_server_for.contains(aud)))
}
