//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0).

use serde::Serialize;

const CLIENT_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// What Castellan supports today, and nothing more: clients decide what to try from this.
#[derive(Debug, Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    pub introspection_endpoint_auth_methods_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    /// Required by both specifications; empty until the authorization endpoint exists.
    pub response_types_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: &'static [&'static str],
}

impl ServerMetadata {
    pub fn for_issuer(issuer: &str) -> Self {
        let base = issuer.trim_end_matches('/');
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{base}/token"),
            jwks_uri: format!("{base}/jwks.json"),
            revocation_endpoint: format!("{base}/revoke"),
            introspection_endpoint: format!("{base}/introspect"),
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            grant_types_supported: &["client_credentials"],
            token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            response_types_supported: &[],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["RS256"],
        }
    }
}
