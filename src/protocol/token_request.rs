//! The token request, typed per grant (RFC 6749 §4.4, RFC 8707 `resource`).

use super::form::FormParams;
use std::fmt;

use super::values::{Redacted, truncated};
use super::{ApiIdentifier, ErrorCode, GrantType, OAuthError, ScopeSet};

/// The API a client asked for, by RFC 8707 `resource` or the widespread `audience` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(ApiIdentifier),
    Audience(String),
}

impl Target {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Resource(id) => id.as_str(),
            Self::Audience(a) => a,
        }
    }
}

/// `Debug` shows which values were sent, never the code, verifier or refresh token themselves.
pub enum TokenRequest {
    ClientCredentials {
        scope: Option<ScopeSet>,
        target: Option<Target>,
    },
    /// RFC 6749 §4.1.3 with RFC 7636's `code_verifier`.
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    /// RFC 6749 §6: `scope`, if sent, may only narrow the original grant.
    RefreshToken {
        refresh_token: String,
        scope: Option<ScopeSet>,
    },
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientCredentials { scope, target } => f
                .debug_struct("ClientCredentials")
                .field("scope", scope)
                .field("target", target)
                .finish(),
            Self::AuthorizationCode {
                code: _,
                redirect_uri,
                code_verifier,
            } => f
                .debug_struct("AuthorizationCode")
                .field("code", &Redacted)
                .field("redirect_uri", redirect_uri)
                .field("code_verifier", &code_verifier.as_ref().map(|_| Redacted))
                .finish(),
            Self::RefreshToken {
                refresh_token: _,
                scope,
            } => f
                .debug_struct("RefreshToken")
                .field("refresh_token", &Redacted)
                .field("scope", scope)
                .finish(),
        }
    }
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
        }
    }
}

impl TryFrom<&FormParams> for TokenRequest {
    type Error = OAuthError;

    fn try_from(form: &FormParams) -> Result<Self, OAuthError> {
        let grant = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("missing grant_type"))?;
        match grant {
            "client_credentials" => Ok(Self::ClientCredentials {
                scope: parse_scope(form)?,
                target: parse_target(form)?,
            }),
            "authorization_code" => Ok(Self::AuthorizationCode {
                code: form
                    .get("code")
                    .ok_or_else(|| OAuthError::invalid_request("missing code"))?
                    .to_owned(),
                redirect_uri: form.get("redirect_uri").map(str::to_owned),
                code_verifier: form.get("code_verifier").map(str::to_owned),
            }),
            "refresh_token" => Ok(Self::RefreshToken {
                refresh_token: form
                    .get("refresh_token")
                    .ok_or_else(|| OAuthError::invalid_request("missing refresh_token"))?
                    .to_owned(),
                scope: parse_scope(form)?,
            }),
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {:?} is not supported", truncated(other, 64)),
            )),
        }
    }
}

fn parse_scope(form: &FormParams) -> Result<Option<ScopeSet>, OAuthError> {
    let Some(raw) = form.get("scope") else {
        return Ok(None);
    };
    let scope = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.0))?;
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "scope holds only spaces: name at least one scope, or leave the parameter out",
        ));
    }
    Ok(Some(scope))
}

fn parse_target(form: &FormParams) -> Result<Option<Target>, OAuthError> {
    match (form.get("resource"), form.get("audience")) {
        (None, None) => Ok(None),
        (Some(r), None) => ApiIdentifier::parse(r)
            .map(|id| Some(Target::Resource(id)))
            .map_err(|e| OAuthError::invalid_target(format!("resource: {e}"))),
        (None, Some(a)) => Ok(Some(Target::Audience(a.to_owned()))),
        (Some(r), Some(a)) if r == a => ApiIdentifier::parse(r)
            .map(|id| Some(Target::Resource(id)))
            .map_err(|e| OAuthError::invalid_target(format!("resource: {e}"))),
        (Some(_), Some(_)) => Err(OAuthError::invalid_target(
            "resource and audience name different APIs; a token is issued for one API",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::try_from(&FormParams::parse(body.as_bytes())?)
    }

    #[test]
    fn debug_output_never_holds_the_code_verifier_or_refresh_token() {
        let code = request(
            "grant_type=authorization_code&code=c0de-SECRET&code_verifier=v3rifier-SECRET&redirect_uri=https%3A%2F%2Fa.example",
        )
        .unwrap();
        let refresh = request("grant_type=refresh_token&refresh_token=rt-SECRET&scope=a").unwrap();
        for printed in [format!("{code:?}"), format!("{refresh:#?}")] {
            assert!(!printed.contains("SECRET"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
        assert!(
            format!("{code:?}").contains("https://a.example"),
            "the rest is shown"
        );
    }

    #[test]
    fn missing_and_unknown_grants_are_distinct_errors() {
        assert_eq!(request("").unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            request("grant_type=password").unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
    }

    #[test]
    fn resource_must_be_an_absolute_uri() {
        let err = request("grant_type=client_credentials&resource=api").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn conflicting_resource_and_audience_are_refused() {
        let err =
            request("grant_type=client_credentials&resource=urn%3Aa&audience=urn%3Ab").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        let Ok(TokenRequest::ClientCredentials { target, .. }) =
            request("grant_type=client_credentials&resource=urn%3Aa&audience=urn%3Aa")
        else {
            panic!("a client-credentials request");
        };
        assert_eq!(target.unwrap().as_str(), "urn:a");
    }
}
