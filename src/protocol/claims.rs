//! JWT access-token claims (RFC 9068 §2.2).

use std::fmt;

use serde::Serialize;

use super::values::Redacted;

/// Claims of an RFC 9068 access token; `roles` and `permissions` are omitted when empty (strict
/// validators, such as authlib's, refuse an empty array for a claim they check).
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub roles: &'a [String],
    pub tenant_id: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub permissions: &'a [String],
}

/// ID-token claims (OIDC Core §2, §5.1); profile and email claims appear by granted scope.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub at_hash: &'a str,
    /// The client the token was issued to; equal to `aud` (OIDC Core §2).
    pub azp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    /// With `profile` (OIDC Core §5.1): when the user's profile last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    /// Sent with `email`, never alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub roles: &'a [String],
    pub tenant_id: &'a str,
    /// The session that approved the sign-in (OIDC Front-Channel Logout §3), which
    /// `id_token_hint` at logout is checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
}

/// The successful token response (RFC 6749 §5.1); `Debug` hides the tokens.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &Redacted)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| Redacted))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_tokens() {
        let response = TokenResponse {
            access_token: "at-SECRET".into(),
            token_type: "Bearer",
            expires_in: 300,
            scope: "openid".into(),
            id_token: Some("id-SECRET".into()),
            refresh_token: Some("rt-SECRET".into()),
        };
        let printed = format!("{response:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(printed.contains("expires_in: 300"), "{printed}");
    }
}
