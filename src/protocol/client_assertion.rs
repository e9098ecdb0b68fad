//! RFC 7523 client assertions (`private_key_jwt`): the names the protocol gives them, and the
//! client an assertion claims to speak for, read before anything is verified (to find the
//! client whose keys verify it; see `crypto::client_assertion`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The SPIFFE client-authentication draft's type for a JWT-SVID.
pub const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// The algorithms a client's key may sign with, as discovery lists them.
pub const SIGNING_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// Assertions are short; anything longer is refused before it is decoded.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// The `sub` of an assertion, unverified: only to find which client's keys to check it with.
pub fn unverified_subject(assertion: &str) -> Result<String, String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err("the client assertion is too long".into());
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    let [_, payload, _] = parts[..] else {
        return Err("the client assertion is not a signed JWT (three parts)".into());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the assertion's payload is not base64url")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "the assertion's payload is not JSON")?;
    claims
        .get("sub")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the client assertion has no sub".into())
}
