//! Client authentication parameters (RFC 6749 §2.3.1): `client_secret_basic` and `client_secret_post`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use super::client_assertion::{JWT_BEARER, JWT_SPIFFE, unverified_subject};
use super::form::FormParams;
use super::{ClientId, OAuthError};

/// A presented client secret; never printed.
pub struct PresentedSecret(String);

impl PresentedSecret {
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresentedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A presented client assertion; never printed (it is a bearer credential until it expires).
pub struct PresentedAssertion {
    jwt: String,
    /// Sent as a SPIFFE JWT-SVID (`…:jwt-spiffe`), whose `iss` may be absent.
    pub spiffe: bool,
}

impl PresentedAssertion {
    pub fn jwt(&self) -> &str {
        &self.jwt
    }
}

impl fmt::Debug for PresentedAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    /// RFC 7523 §2.2: `client_assertion_type` jwt-bearer and a `client_assertion`.
    PrivateKeyJwt,
    /// `client_id` alone: a public client (RFC 6749 §2.1), which proves itself with PKCE.
    None,
}

/// The credentials a client presented, before they are checked.
#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: ClientId,
    /// Absent for a public client.
    pub secret: Option<PresentedSecret>,
    /// Present for `private_key_jwt`, and then the only credential.
    pub assertion: Option<PresentedAssertion>,
    pub method: AuthMethod,
}

/// What the `Authorization` header held, as far as client authentication is concerned.
pub enum AuthorizationHeader<'a> {
    Absent,
    Present(&'a [u8]),
}

impl ClientCredentials {
    /// Finds the client's credentials in the header or the body; using both is refused (§2.3).
    pub fn extract(header: AuthorizationHeader<'_>, form: &FormParams) -> Result<Self, OAuthError> {
        let in_body = form.get("client_secret").is_some();
        if form.get("client_assertion").is_some() || form.get("client_assertion_type").is_some() {
            if in_body || matches!(header, AuthorizationHeader::Present(_)) {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: a client assertion, HTTP Basic or client_secret, not several",
                ));
            }
            return Self::assertion(form);
        }
        match header {
            AuthorizationHeader::Present(value) => {
                let fail = |why: &str| OAuthError::invalid_client(why);
                if in_body {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method: HTTP Basic or client_secret in the body, not both",
                    ));
                }
                let creds = parse_basic(value).map_err(|why| fail(&why))?;
                if let Some(body_id) = form.get("client_id")
                    && body_id != creds.client_id.as_str()
                {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the one in the Authorization header",
                    ));
                }
                Ok(creds)
            }
            AuthorizationHeader::Absent => {
                let missing = || {
                    OAuthError::invalid_client(
                        "client authentication required: HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)",
                    )
                };
                let id = form.get("client_id").ok_or_else(missing)?;
                let client_id = ClientId::parse(id)
                    .map_err(|_| OAuthError::invalid_client("unknown client or wrong secret"))?;
                let secret = form
                    .get("client_secret")
                    .map(|s| PresentedSecret(s.to_owned()));
                let method = if secret.is_some() {
                    AuthMethod::Post
                } else {
                    AuthMethod::None
                };
                Ok(Self {
                    client_id,
                    secret,
                    assertion: None,
                    method,
                })
            }
        }
    }
}

impl ClientCredentials {
    /// RFC 7523 §2.2. The client is the assertion's `sub` (checked against its signature
    /// later); a `client_id` in the body must name the same client.
    fn assertion(form: &FormParams) -> Result<Self, OAuthError> {
        let (Some(kind), Some(assertion)) = (
            form.get("client_assertion_type"),
            form.get("client_assertion"),
        ) else {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        };
        let spiffe = match kind {
            JWT_BEARER => false,
            JWT_SPIFFE => true,
            _ => {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {JWT_BEARER} (or {JWT_SPIFFE} for a SPIFFE JWT-SVID)"
                )));
            }
        };
        // A workload's own token names its external subject, so the body names the client;
        // a client's own assertion names it as `sub`.
        let named = match form.get("client_id") {
            Some(id) => id.to_owned(),
            None => unverified_subject(assertion).map_err(OAuthError::invalid_client)?,
        };
        let client_id =
            ClientId::parse(&named).map_err(|_| OAuthError::invalid_client("unknown client"))?;
        Ok(Self {
            client_id,
            secret: None,
            assertion: Some(PresentedAssertion {
                jwt: assertion.to_owned(),
                spiffe,
            }),
            method: AuthMethod::PrivateKeyJwt,
        })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 spells it.
fn parse_basic(value: &[u8]) -> Result<ClientCredentials, String> {
    let value = std::str::from_utf8(value).map_err(|_| "malformed Authorization header")?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or("malformed Authorization header: expected `Basic <credentials>`")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(format!(
            "unsupported authorization scheme {scheme:?}: the token endpoint takes HTTP Basic"
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| "malformed Basic credentials: not base64")?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| "malformed Basic credentials: not UTF-8")?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or("malformed Basic credentials: expected client_id:client_secret")?;
    let urldecode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "malformed Basic credentials: bad percent-encoding".to_owned())
    };
    let client_id =
        ClientId::parse(&urldecode(id)?).map_err(|_| "unknown client or wrong secret")?;
    let secret = urldecode(secret)?;
    if secret.is_empty() {
        return Err("client secret missing from Basic credentials".into());
    }
    Ok(ClientCredentials {
        client_id,
        secret: Some(PresentedSecret(secret)),
        assertion: None,
        method: AuthMethod::Basic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let header = basic("my%3Aclient:s%2Bcr+t");
        let creds = ClientCredentials::extract(
            AuthorizationHeader::Present(header.as_bytes()),
            &FormParams::default(),
        )
        .unwrap();
        assert_eq!(creds.client_id.as_str(), "my:client");
        assert!(
            !format!("{creds:?}").contains("cr t"),
            "Debug hides the secret"
        );
        assert_eq!(creds.secret.unwrap().secret(), "s+cr t");
        assert_eq!(creds.method, AuthMethod::Basic);
    }

    #[test]
    fn both_methods_at_once_are_refused() {
        let header = basic("a:b");
        let form = FormParams::parse(b"client_id=a&client_secret=b").unwrap();
        let err =
            ClientCredentials::extract(AuthorizationHeader::Present(header.as_bytes()), &form)
                .unwrap_err();
        assert_eq!(err.code, super::super::ErrorCode::InvalidRequest);
    }

    #[test]
    fn bearer_is_not_client_authentication() {
        let err = ClientCredentials::extract(
            AuthorizationHeader::Present(b"Bearer abc"),
            &FormParams::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, super::super::ErrorCode::InvalidClient);
    }

    #[test]
    fn a_bare_client_id_is_a_public_client() {
        let form = FormParams::parse(b"client_id=a").unwrap();
        let creds = ClientCredentials::extract(AuthorizationHeader::Absent, &form).unwrap();
        assert_eq!(creds.method, AuthMethod::None);
        assert!(creds.secret.is_none());
        let err = ClientCredentials::extract(AuthorizationHeader::Absent, &FormParams::default())
            .unwrap_err();
        assert_eq!(err.code, super::super::ErrorCode::InvalidClient);
    }
}
