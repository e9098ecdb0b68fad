//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0).

use serde::Serialize;

use super::SigningAlg;

const CLIENT_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
/// Public clients may revoke their own tokens (RFC 7009 §2.1), presenting only `client_id`.
const REVOCATION_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
use crate::protocol::client_assertion::SIGNING_ALGS as ASSERTION_ALGS;

/// What Castellan supports today, and nothing more: clients decide what to try from this.
#[derive(Debug, Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub end_session_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    pub introspection_endpoint_auth_methods_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    /// What `private_key_jwt` assertions may be signed with (RFC 8414 §2).
    pub token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub introspection_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub revocation_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub response_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    pub scopes_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
    /// RFC 9207: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub subject_types_supported: &'static [&'static str],
    /// Request objects (by value or by reference) and the `claims` parameter are refused, and
    /// discovery says so rather than leave relying parties to the defaults (OIDC Discovery §3).
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    /// Every enabled signing algorithm: a client may ask for any of them.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// The same list for access tokens (an API chooses one); not registered by an RFC, but the
    /// name the `*_signing_alg_values_supported` family suggests, as other providers use it.
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
}

impl ServerMetadata {
    /// `algs` are the enabled signing algorithms, RS256 first.
    pub fn for_issuer(issuer: &str, algs: &[SigningAlg]) -> Self {
        let algs: Vec<&'static str> = algs.iter().map(|a| a.as_str()).collect();
        let base = issuer.trim_end_matches('/');
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{base}/authorize"),
            token_endpoint: format!("{base}/token"),
            userinfo_endpoint: format!("{base}/userinfo"),
            end_session_endpoint: format!("{base}/logout"),
            jwks_uri: format!("{base}/jwks.json"),
            revocation_endpoint: format!("{base}/revoke"),
            introspection_endpoint: format!("{base}/introspect"),
            revocation_endpoint_auth_methods_supported: REVOCATION_AUTH_METHODS,
            introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            grant_types_supported: &["client_credentials", "authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported: &[
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
            introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
            revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
            response_types_supported: &["code"],
            response_modes_supported: crate::protocol::authorize::ResponseMode::SUPPORTED,
            code_challenge_methods_supported: &["S256"],
            scopes_supported: &["openid", "profile", "email", "offline_access"],
            claims_supported: &[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "azp",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "updated_at",
                "email",
                "email_verified",
                "roles",
                "tenant_id",
                "sid",
            ],
            authorization_response_iss_parameter_supported: true,
            subject_types_supported: &["public"],
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
            id_token_signing_alg_values_supported: algs.clone(),
            access_token_signing_alg_values_supported: algs,
        }
    }
}
