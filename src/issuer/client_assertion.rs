//! `private_key_jwt` (RFC 7523 §3, OIDC Core §9, draft-ietf-oauth-rfc7523bis): a client proves
//! itself with a JWT signed by one of its registered keys.

use std::sync::Arc;

use serde_json::Value;

use super::Issuer;
use crate::protocol::OAuthError;
use crate::protocol::client_assertion::{ClientKey, UnverifiedAssertion};
use crate::protocol::client_auth::ClientCredentials;
use crate::store::clients::ClientRecord;

/// What an assertion must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct AssertionPolicy {
    /// Longest accepted `exp - iat` (and `exp - now`), seconds.
    pub max_lifetime: i64,
    /// Clock difference allowed for `exp`, `iat` and `nbf`.
    pub skew: i64,
    /// Accept the token endpoint URL as `aud` too, for clients built before rfc7523bis.
    pub token_endpoint_audience: bool,
}

/// `typ` values an assertion may carry: none, the generic one most libraries set, or
/// rfc7523bis's own. Any other explicit type is a token made for something else.
const ACCEPTED_TYPES: &[&str] = &["JWT", "client-authentication+jwt"];

const MAX_JTI_LEN: usize = 256;

impl Issuer {
    pub(super) async fn authenticate_assertion(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let refuse = |why: &str| OAuthError::invalid_client(why);
        let Some(assertion) = &creds.assertion else {
            return Err(refuse("the client assertion is missing"));
        };
        let client = self
            .ctx
            .clients
            .get(&creds.client_id)
            .await?
            .ok_or_else(|| refuse("unknown client"))?;
        if !client.private_key_jwt {
            return Err(refuse(
                "this client is not registered for private_key_jwt: it authenticates with its secret",
            ));
        }
        let parsed = UnverifiedAssertion::parse(assertion.jwt()).map_err(|e| refuse(&e.0))?;
        if let Some(typ) = &parsed.header.typ
            && !ACCEPTED_TYPES.iter().any(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(refuse(&format!(
                "an assertion of typ {typ:?} is not a client authentication JWT"
            )));
        }
        let keys: Vec<ClientKey> = client
            .keys
            .iter()
            .filter_map(|k| serde_json::from_str(&k.jwk).ok())
            .filter_map(|jwk: Value| ClientKey::parse(&jwk).ok())
            .collect();
        parsed.verify_signature(&keys).map_err(|e| refuse(&e.0))?;
        let (jti, exp) = self.check_claims(&parsed.claims, client.client_id.as_str())?;
        if client.disabled_at.is_some() {
            return Err(refuse("this client is disabled"));
        }
        let remember_until = exp + self.assertions.skew;
        let fresh = self
            .ctx
            .store
            .consume_assertion(client.client_id.as_str(), jti, remember_until)
            .await?;
        if !fresh {
            return Err(refuse(
                "this client assertion was already used (jti replayed)",
            ));
        }
        Ok(client)
    }

    /// `iss` = `sub` = the client, `aud` = this issuer alone, a bounded life, and a `jti`.
    fn check_claims<'c>(
        &self,
        claims: &'c Value,
        client_id: &str,
    ) -> Result<(&'c str, i64), OAuthError> {
        let refuse = |why: String| OAuthError::invalid_client(why);
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
            return Err(refuse(
                "the assertion's iss and sub must both be the client_id".into(),
            ));
        }
        self.check_audience(claims.get("aud"))?;
        let now = self.ctx.clock.now();
        let policy = self.assertions;
        let exp = time("exp").ok_or_else(|| refuse("the assertion has no numeric exp".into()))?;
        if exp + policy.skew < now {
            return Err(refuse("the client assertion has expired".into()));
        }
        if exp - now > policy.max_lifetime + policy.skew {
            return Err(refuse(format!(
                "the client assertion lives too long: at most {} seconds",
                policy.max_lifetime
            )));
        }
        if let Some(iat) = time("iat") {
            if iat > now + policy.skew {
                return Err(refuse(
                    "the client assertion was issued in the future".into(),
                ));
            }
            if exp - iat > policy.max_lifetime {
                return Err(refuse(format!(
                    "the client assertion lives too long: at most {} seconds",
                    policy.max_lifetime
                )));
            }
        } else if claims.get("iat").is_some() {
            return Err(refuse("the assertion's iat is not a number".into()));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf
                .as_i64()
                .ok_or_else(|| refuse("the assertion's nbf is not a number".into()))?;
            if nbf > now + policy.skew {
                return Err(refuse("the client assertion is not valid yet".into()));
            }
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or_else(|| refuse("the assertion needs a jti (1 to 256 characters)".into()))?;
        Ok((jti, exp))
    }

    /// rfc7523bis §4: the issuer identifier as the sole audience, as a string or a one-member
    /// array. A list with more members could be aimed at several servers at once.
    fn check_audience(&self, aud: Option<&Value>) -> Result<(), OAuthError> {
        let issuer = self.ctx.issuer_url.as_str();
        let token_endpoint = format!("{}/token", issuer.trim_end_matches('/'));
        let one = match aud {
            Some(Value::String(a)) => Some(a.as_str()),
            Some(Value::Array(list)) if list.len() == 1 => list[0].as_str(),
            _ => None,
        };
        let accepted = match one {
            Some(a) if a == issuer => true,
            Some(a) => self.assertions.token_endpoint_audience && a == token_endpoint,
            None => false,
        };
        if accepted {
            Ok(())
        } else {
            Err(OAuthError::invalid_client(format!(
                "the assertion's aud must be this server's issuer identifier, {issuer}, and nothing else"
            )))
        }
    }
}
