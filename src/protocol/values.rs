//! Newtypes for protocol values, each constructed through `parse` so an invalid one cannot exist.

use std::fmt;

use serde::Serialize;

/// The first `max` characters of untrusted input, for echoing it in an error description.
pub fn truncated(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Stands in for a secret (a code, token, verifier or password) in `Debug` output, so a request
/// or response printed while debugging cannot put the secret in a log.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a value was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A registered client's public identifier (RFC 6749 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Client ids are VSCHAR (RFC 6749 Appendix A.1); ours are short, so cap the length.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 128 {
            return Err(InvalidValue("client_id must be 1 to 128 characters".into()));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(InvalidValue("client_id contains invalid characters".into()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant's slug: the stable value of the `tenant_id` claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_edges = !s.starts_with('-') && !s.ends_with('-');
        if s.is_empty() || s.len() > 63 || !ok_chars || !ok_edges {
            return Err(InvalidValue(format!(
                "tenant slug {:?} must be 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
                truncated(s, 64)
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identifier of an API (resource server): the `aud` of tokens issued for it.
///
/// RFC 8707 §2 requires an absolute URI without a fragment; `urn:` identifiers are absolute too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ApiIdentifier(String);

impl ApiIdentifier {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| InvalidValue(format!("API identifier {:?} {why}", truncated(s, 128)));
        if s.is_empty() || s.len() > 512 {
            return Err(bad("must be 1 to 512 characters"));
        }
        if s.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(bad("must be printable ASCII without spaces"));
        }
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(bad(
                "must be an absolute URI (e.g. https://api.example.com)",
            ));
        };
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() {
            return Err(bad(
                "must be an absolute URI (e.g. https://api.example.com)",
            ));
        }
        if s.contains('#') {
            return Err(bad("must not contain a fragment"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Grant types a client may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "client_credentials" => Ok(Self::ClientCredentials),
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            other => Err(InvalidValue(format!(
                "unsupported grant type {:?} (supported: client_credentials, authorization_code, refresh_token)",
                truncated(other, 64)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_identifiers_must_be_absolute_without_fragment() {
        assert!(ApiIdentifier::parse("https://api.example.com").is_ok());
        assert!(ApiIdentifier::parse("urn:castellan:admin").is_ok());
        assert!(ApiIdentifier::parse("api.example.com").is_err());
        assert!(ApiIdentifier::parse("https://api.example.com/#x").is_err());
        assert!(ApiIdentifier::parse("https://a b").is_err());
        assert!(ApiIdentifier::parse("1http://x").is_err());
        assert!(ApiIdentifier::parse("https:").is_err());
    }

    #[test]
    fn tenant_slugs_are_dns_label_like() {
        assert!(TenantSlug::parse("acme-2").is_ok());
        assert!(TenantSlug::parse("Acme").is_err());
        assert!(TenantSlug::parse("-acme").is_err());
        assert!(TenantSlug::parse("").is_err());
        assert!(TenantSlug::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn client_ids_refuse_control_characters() {
        assert!(ClientId::parse("abc").is_ok());
        assert!(ClientId::parse("a\u{7f}").is_err());
        assert!(ClientId::parse("").is_err());
    }
}
