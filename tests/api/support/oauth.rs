//! The client's side of OAuth: credentials, the token endpoint's answers (RFC 6749 §5) and an
//! access token validated as a resource server would validate it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::html::urlencode;

/// The `grant_type` of a client-credentials request, the commonest form pair in the tests.
pub const CC: (&str, &str) = ("grant_type", "client_credentials");

/// A registered client's id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl TestClient {
    /// The credentials in the output of `castellan client create --json`.
    pub fn from_created(created: &Value) -> Self {
        Self {
            id: text(created, "client_id"),
            secret: text(created, "client_secret"),
        }
    }

    /// Its `Authorization` header for `client_secret_basic`, each part form-urlencoded first.
    pub fn basic(&self) -> String {
        basic(&urlencode(&self.id), &urlencode(&self.secret))
    }
}

/// An `Authorization: Basic` value of `id:secret`, as given (no encoding).
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// The string `name` of a JSON body, failing the test if it is not there.
pub fn text(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

/// Asserts a 200 token response with `Cache-Control: no-store` and returns its body.
pub async fn token_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let cache_control = header(&response, "cache-control");
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "expected a token, got {body}");
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    body
}

/// Asserts an RFC 6749 §5.2 error: status, `error`, a non-empty `error_description`, JSON,
/// `Cache-Control: no-store`; returns the headers and the body.
pub async fn expect_oauth_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let headers = response.headers().clone();
    let (actual, body) = error_of(response).await;
    assert_eq!(
        (actual, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(
        !description.trim().is_empty(),
        "no error_description: {body}"
    );
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    if status == 401 {
        assert!(
            headers.contains_key("www-authenticate"),
            "a 401 without a challenge: {headers:?}"
        );
    }
    (headers, body)
}

/// [`expect_oauth_error`] for a 400 `invalid_grant` that says the code or token was used.
pub async fn expect_already_used(response: reqwest::Response) {
    let (_, body) = expect_oauth_error(response, 400, "invalid_grant").await;
    assert!(
        text(&body, "error_description").contains("already used"),
        "{body}"
    );
}

/// For [`super::eventually`]: a token response that is no longer a success, 5xx counting as
/// "not yet" (a transient outage is not a refusal).
pub fn refused(response: reqwest::Response) -> Option<reqwest::Response> {
    let status = response.status();
    (!status.is_success() && !status.is_server_error()).then_some(response)
}

pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

/// The key published under `kid` in a JWKS document, of whatever type.
pub fn key_for(jwks: &Value, kid: &str) -> Option<DecodingKey> {
    jwk_key(jwks, kid).map(|(key, _)| key)
}

/// The key published under `kid` and the algorithm its JWK names, as a resource server reads
/// them: `use` must be `sig`, and `kty` (and `crv`) must fit the algorithm.
pub fn jwk_key(jwks: &Value, kid: &str) -> Option<(DecodingKey, Algorithm)> {
    let jwk = jwks["keys"].as_array()?.iter().find(|k| k["kid"] == kid)?;
    assert_eq!(jwk["use"], "sig", "{jwk}");
    let alg: Algorithm = jwk["alg"].as_str()?.parse().unwrap();
    let field = |name: &str| {
        jwk[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {jwk}"))
    };
    let key = match (jwk["kty"].as_str()?, alg) {
        ("RSA", Algorithm::RS256 | Algorithm::PS256) => {
            DecodingKey::from_rsa_components(field("n"), field("e")).unwrap()
        }
        ("EC", Algorithm::ES256) => {
            assert_eq!(jwk["crv"], "P-256", "{jwk}");
            DecodingKey::from_ec_components(field("x"), field("y")).unwrap()
        }
        ("OKP", Algorithm::EdDSA) => {
            assert_eq!(jwk["crv"], "Ed25519", "{jwk}");
            DecodingKey::from_ed_components(field("x")).unwrap()
        }
        other => panic!("a JWK of an unexpected type: {other:?} in {jwk}"),
    };
    Some((key, alg))
}

/// The `kid` of every key in a JWKS document, in order.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| text(k, "kid"))
        .collect()
}

/// A JWT's claims, read without verifying it (for tests that check what a token carries; the
/// signature is checked elsewhere, as a resource server would).
pub fn claims_unverified(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("the payload is base64url");
    serde_json::from_slice(&bytes).expect("the payload is JSON")
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// A resource server's rules: RS256, this issuer and audience, no leeway, every time claim checked.
pub fn validation(issuer: &str, audience: &str) -> Validation {
    validation_for(Algorithm::RS256, issuer, audience)
}

/// [`validation`] for tokens of `alg`.
pub fn validation_for(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation
}
