//! `private_key_jwt` (RFC 7523 §3, OIDC Core §9, draft-ietf-oauth-rfc7523bis): a client proves
//! itself with a JWT signed by one of its registered keys. A workload's token from a trusted
//! issuer goes the same way in, and on to [`super::federation`].

use std::sync::Arc;

use serde_json::Value;

use super::Issuer;
use crate::audit::{AuditEvent, EventKind, Outcome};
use crate::crypto::client_assertion::{ClientKey, MAX_SET_KEYS, UnverifiedAssertion};
use crate::metrics::AuthMethodLabel;
use crate::protocol::OAuthError;
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

pub(super) const MAX_JTI_LEN: usize = 256;

fn refuse(why: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client(why)
}

/// How an assertion proved the client, for the audit trail and the metrics.
struct Proof {
    method: AuthMethodLabel,
    detail: String,
}

impl Issuer {
    /// Counts the outcome and audits each success with its method, `kid` and external identity.
    pub(super) async fn authenticate_assertion(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        match self.check_assertion(creds).await {
            Ok((client, proof)) => {
                self.ctx.metrics.client_authenticated(proof.method, true);
                self.ctx.audit.record(
                    AuditEvent::new(EventKind::ClientAuthenticated, Outcome::Success)
                        .tenant(client.tenant.as_str())
                        .client(client.client_id.as_str())
                        .detail(proof.detail),
                );
                Ok(client)
            }
            Err(e) => {
                self.ctx
                    .metrics
                    .client_authenticated(AuthMethodLabel::private_key_jwt, false);
                Err(e)
            }
        }
    }

    async fn check_assertion(
        &self,
        creds: &ClientCredentials,
    ) -> Result<(Arc<ClientRecord>, Proof), OAuthError> {
        let Some(assertion) = &creds.assertion else {
            return Err(refuse("the client assertion is missing"));
        };
        let client = self
            .ctx
            .clients
            .get(&creds.client_id)
            .await?
            .ok_or_else(|| refuse("unknown client"))?;
        let parsed = UnverifiedAssertion::parse(assertion.jwt()).map_err(|e| refuse(e.0))?;
        if let Some(typ) = &parsed.header.typ
            && !ACCEPTED_TYPES.iter().any(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(refuse(format!(
                "an assertion of typ {typ:?} is not a client authentication JWT"
            )));
        }
        // A token of another issuer than the client itself is a workload's, for a trust link.
        let iss = parsed.claims.get("iss").and_then(Value::as_str);
        let own = !assertion.spiffe && iss == Some(client.client_id.as_str());
        if !client.links.is_empty() && !own {
            let (link, kid) = self
                .authenticate_federated(&client, &parsed, assertion.spiffe)
                .await?;
            let detail = format!(
                "federated: trust {} issuer {:?} subject {:?} kid {kid:?}",
                link.trust.name,
                iss.unwrap_or(""),
                link.subject
            );
            let proof = Proof {
                method: AuthMethodLabel::federated,
                detail,
            };
            return Ok((client, proof));
        }
        if !client.private_key_jwt {
            return Err(refuse(
                "this client is not registered for private_key_jwt: it authenticates with its secret",
            ));
        }
        if assertion.spiffe {
            return Err(refuse(
                "a jwt-spiffe assertion is a workload's, for a trust link; this client has none",
            ));
        }
        // The cheap checks first, so a junk assertion costs no key fetch or signature check.
        let (jti, exp) = self.check_own_claims(&parsed.claims, client.client_id.as_str())?;
        let kid = match &client.jwks_uri {
            Some(uri) => {
                self.verify_fetched(&parsed, uri, client.client_id.as_str())
                    .await?
            }
            None => {
                let keys: Vec<ClientKey> = client
                    .keys
                    .iter()
                    .filter_map(|k| serde_json::from_str(&k.jwk).ok())
                    .filter_map(|jwk: Value| ClientKey::parse(&jwk).ok())
                    .collect();
                parsed
                    .verify_signature(&keys)
                    .map_err(|e| refuse(e.0))?
                    .kid
                    .clone()
            }
        };
        if client.disabled_at.is_some() {
            return Err(refuse("this client is disabled"));
        }
        self.consume_jti(client.client_id.as_str(), jti, exp)
            .await?;
        let proof = Proof {
            method: AuthMethodLabel::private_key_jwt,
            detail: format!("private_key_jwt: kid {kid:?}"),
        };
        Ok((client, proof))
    }

    /// Verifies with the key set published at `uri`: from the fetcher's cache, and if that
    /// fails (a key rotated since), once more from a fresh copy, at most once per
    /// `refetch_interval` for `who`.
    pub(super) async fn verify_fetched(
        &self,
        token: &UnverifiedAssertion<'_>,
        uri: &str,
        who: &str,
    ) -> Result<String, OAuthError> {
        // The reason goes to the operator's log, not to whoever sent the assertion.
        let unavailable = |e: crate::jwks_fetch::FetchError| {
            tracing::warn!(%who, error = %e, "published keys cannot be fetched");
            refuse("the published keys cannot be fetched now")
        };
        let text = self.fetcher.keys(uri).await.map_err(unavailable)?;
        let first = verify_text(token, &text);
        // A fresh copy can only help a kid the cached one lacks (or an assertion without one).
        let known_kid = token
            .header
            .kid
            .as_deref()
            .is_some_and(|kid| has_kid(&text, kid));
        if first.is_ok() || known_kid {
            return first;
        }
        match self.fetcher.refetch(uri, who).await.map_err(unavailable)? {
            Some(fresh) => verify_text(token, &fresh),
            None => first,
        }
    }

    /// Accepts `jti` once until its assertion has expired, on every node.
    pub(super) async fn consume_jti(
        &self,
        issuer: &str,
        jti: &str,
        exp: i64,
    ) -> Result<(), OAuthError> {
        let fresh = self
            .ctx
            .store
            .consume_assertion(issuer, jti, exp.saturating_add(self.assertions.skew))
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(refuse(
                "this client assertion was already used (jti replayed)",
            ))
        }
    }

    /// `iss` = `sub` = the client, `aud` = this issuer alone, a bounded life, and a `jti`.
    fn check_own_claims<'c>(
        &self,
        claims: &'c Value,
        client_id: &str,
    ) -> Result<(&'c str, i64), OAuthError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
            return Err(refuse(
                "the assertion's iss and sub must both be the client_id",
            ));
        }
        self.check_audience(claims.get("aud"))?;
        let exp = self.check_times(claims, self.assertions.max_lifetime)?;
        Ok((jti_of(claims)?, exp))
    }

    /// `exp` (required), `iat` and `nbf` against now and the clock skew, and a life of at most
    /// `max_lifetime`; returns `exp`.
    pub(super) fn check_times(&self, claims: &Value, max_lifetime: i64) -> Result<i64, OAuthError> {
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        let now = self.ctx.clock.now();
        let skew = self.assertions.skew;
        let exp = time("exp").ok_or_else(|| refuse("the assertion has no numeric exp"))?;
        if exp.saturating_add(skew) < now {
            return Err(refuse("the client assertion has expired"));
        }
        let too_long = || {
            refuse(format!(
                "the client assertion lives too long: at most {max_lifetime} seconds"
            ))
        };
        if exp.saturating_sub(now) > max_lifetime + skew {
            return Err(too_long());
        }
        match (claims.get("iat"), time("iat")) {
            (Some(_), None) => return Err(refuse("the assertion's iat is not a number")),
            (_, Some(iat)) if iat > now.saturating_add(skew) => {
                return Err(refuse("the client assertion was issued in the future"));
            }
            (_, Some(iat)) if exp.saturating_sub(iat) > max_lifetime => return Err(too_long()),
            _ => {}
        }
        match (claims.get("nbf"), time("nbf")) {
            (Some(_), None) => Err(refuse("the assertion's nbf is not a number")),
            (_, Some(nbf)) if nbf > now.saturating_add(skew) => {
                Err(refuse("the client assertion is not valid yet"))
            }
            _ => Ok(exp),
        }
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
            Err(refuse(format!(
                "the assertion's aud must be this server's issuer identifier, {issuer}, and nothing else"
            )))
        }
    }
}

/// Verifies `token` with a JWKS document; keys that cannot verify safely are skipped.
/// Returns the `kid` of the key that verified it.
pub(super) fn verify_text(
    token: &UnverifiedAssertion<'_>,
    jwks: &str,
) -> Result<String, OAuthError> {
    let keys: Vec<ClientKey> = match serde_json::from_str::<Value>(jwks) {
        Ok(doc) => doc
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(MAX_SET_KEYS)
            .filter_map(|jwk| ClientKey::parse(jwk).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    token
        .verify_signature(&keys)
        .map(|k| k.kid.clone())
        .map_err(|e| refuse(e.0))
}

/// Does the JWKS document hold a key with this `kid`?
fn has_kid(jwks: &str, kid: &str) -> bool {
    serde_json::from_str::<Value>(jwks).is_ok_and(|doc| {
        doc.get("keys")
            .and_then(Value::as_array)
            .is_some_and(|keys| {
                keys.iter()
                    .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            })
    })
}

/// The assertion's `jti`: required, 1 to [`MAX_JTI_LEN`] characters.
pub(super) fn jti_of(claims: &Value) -> Result<&str, OAuthError> {
    claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| refuse("the assertion needs a jti (1 to 256 characters)"))
}
