//! Federated workload identity: a workload presents the token its platform gave it (a
//! Kubernetes service-account token, a SPIFFE JWT-SVID, a CI job's OIDC token), and is
//! authenticated as the client linked to that external subject of a trusted issuer. Nothing in
//! the external token widens what the client may get: its grants, roles and tenant are its own.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Issuer;
use super::client_assertion::{jti_of, verify_text};
use crate::crypto::client_assertion::UnverifiedAssertion;
use crate::protocol::OAuthError;
use crate::store::clients::ClientRecord;
use crate::store::trusts::{Trust, TrustKeys, TrustLink};

fn refuse(why: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client(why)
}

impl Issuer {
    /// The link that accepted the token and the `kid` that verified it; every check of its
    /// trust has passed.
    pub(super) async fn authenticate_federated<'c>(
        &self,
        client: &'c ClientRecord,
        token: &UnverifiedAssertion<'_>,
        spiffe: bool,
    ) -> Result<(&'c TrustLink, String), OAuthError> {
        let text = |name: &str| token.claims.get(name).and_then(Value::as_str);
        let sub = text("sub").ok_or_else(|| refuse("the workload token has no sub"))?;
        let iss = text("iss");
        let link = client
            .links
            .iter()
            .find(|l| l.subject == sub && accepts_issuer(&l.trust, iss, sub, spiffe))
            .ok_or_else(|| {
                refuse(format!(
                    "no trust of this client accepts subject {sub:?} from issuer {:?}",
                    iss.unwrap_or("(none)")
                ))
            })?;
        let trust = &link.trust;
        let audience = trust.audience.as_deref().unwrap_or(&self.ctx.issuer_url);
        if !carries_audience(token.claims.get("aud"), audience) {
            return Err(refuse(format!(
                "the workload token's aud must include {audience}"
            )));
        }
        let exp = self.check_times(&token.claims, trust.max_lifetime)?;
        for (name, expected) in trust.claims.iter().chain(link.claims.iter()) {
            if !claim_equals(token.claims.get(name), expected) {
                return Err(refuse(format!(
                    "the workload token's {name} must be {expected:?}"
                )));
            }
        }
        // Keys last: a junk token costs no key fetch or signature check.
        let kid = match &trust.keys {
            TrustKeys::Jwks(text) => verify_text(token, text)?,
            TrustKeys::JwksUri(uri) => {
                let who = format!("trust {}/{}", trust.tenant, trust.name);
                self.verify_fetched(token, uri, &who).await?
            }
            TrustKeys::Discovery => {
                let who = format!("trust {}/{}", trust.tenant, trust.name);
                let uri = self
                    .fetcher
                    .discovered_jwks_uri(&trust.issuer)
                    .await
                    .map_err(|e| {
                        tracing::warn!(%who, error = %e, "the issuer's discovery document cannot be used");
                        refuse("the issuer's published keys cannot be fetched now")
                    })?;
                self.verify_fetched(token, &uri, &who).await?
            }
        };
        if client.disabled_at.is_some() {
            return Err(refuse("this client is disabled"));
        }
        if !trust.reusable_jti {
            let jti = jti_of(&token.claims)?;
            // Keyed by the issuer, not the trust: two trusts of one issuer accept a token once.
            let issuer = format!("issuer {}", trust.issuer);
            self.consume_jti(&issuer, jti, exp).await?;
        }
        Ok((link, kid))
    }
}

/// A trust's issuer is the token's `iss`; a SPIFFE trust's is the trust domain its `sub` is in
/// (JWT-SVIDs may carry no `iss`, so the trust anchor is the operator's alone).
fn accepts_issuer(trust: &Trust, iss: Option<&str>, sub: &str, spiffe: bool) -> bool {
    if spiffe != trust.spiffe {
        return false;
    }
    if trust.spiffe {
        let domain = trust.issuer.trim_end_matches('/');
        return sub
            .strip_prefix(domain)
            .is_some_and(|rest| rest.starts_with('/'));
    }
    iss == Some(trust.issuer.as_str())
}

/// Workload tokens name their audiences in a string or a list (Kubernetes: a list).
fn carries_audience(aud: Option<&Value>, audience: &str) -> bool {
    match aud {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// A condition holds when the claim is that string, or a number or boolean written so.
fn claim_equals(claim: Option<&Value>, expected: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == expected,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => *v == expected_value(expected),
        _ => false,
    }
}

/// `expected` read as JSON (`42`, `true`), or as the string it is.
fn expected_value(expected: &str) -> Value {
    serde_json::from_str(expected).unwrap_or_else(|_| Value::String(expected.to_owned()))
}

/// `NAME=VALUE` conditions as the CLI takes them.
pub fn parse_conditions(list: &[String]) -> Result<BTreeMap<String, String>, String> {
    list.iter()
        .map(|c| {
            c.split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("claim condition {c:?} must be NAME=VALUE"))
        })
        .collect()
}
