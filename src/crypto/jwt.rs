//! JWS compact serialisation (RFC 7515 §7.1) with a key parsed once and held in memory.
//!
//! jsonwebtoken's `encode` re-parses the private key on every call; on the hot path that cost
//! is avoidable, so signing happens here and jsonwebtoken stays the verifier's tool.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{CryptoError, SigningKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtType {
    /// RFC 9068 §2.1: `typ: at+jwt`.
    AccessToken,
    /// OIDC Core §2: a plain `JWT`, so no validator mistakes one for an access token.
    IdToken,
}

impl JwtType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "at+jwt",
            Self::IdToken => "JWT",
        }
    }
}

pub fn sign<T: Serialize>(
    key: &SigningKey,
    typ: JwtType,
    claims: &T,
) -> Result<String, CryptoError> {
    let payload = serde_json::to_vec(claims)
        .map_err(|e| CryptoError(format!("cannot serialise claims: {e}")))?;
    let header = key.header(typ);
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token's ASCII.
pub fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// Why one of our tokens was not accepted; callers answer "inactive" rather than the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub &'static str);

/// Tokens longer than this are not ours; refuse them before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Verifies an access token Castellan issued: `typ: at+jwt`, RS256 by a published key (`keys`
/// by `kid`), our issuer, and within its lifetime at `now` (the server's clock, not the machine's).
pub fn verify_access_token(
    token: &str,
    keys: &HashMap<String, DecodingKey>,
    issuer: &str,
    now: i64,
) -> Result<Map<String, Value>, Rejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejected("too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected("malformed"))?;
    if header.alg != Algorithm::RS256
        || header.typ.as_deref() != Some(JwtType::AccessToken.as_str())
    {
        return Err(Rejected("not an access token"));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(Rejected("unknown key"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "jti"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map_err(|_| Rejected("bad signature or claims"))?
        .claims;
    // jsonwebtoken accepts an `iss` array that contains ours and ignores required claims other
    // than its own; both are checked here.
    if claims.get("iss").and_then(Value::as_str) != Some(issuer)
        || !claims.get("jti").is_some_and(Value::is_string)
    {
        return Err(Rejected("bad signature or claims"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Rejected("no exp"))?;
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN);
    if now >= exp || now < nbf {
        return Err(Rejected("outside its lifetime"));
    }
    Ok(claims)
}

/// The claims of an ID token we issued, for `id_token_hint` at logout: signature and issuer
/// are checked, expiry is not (OIDC RP-Initiated Logout §2 allows expired hints).
pub fn id_token_hint(
    token: &str,
    keys: &HashMap<String, DecodingKey>,
    issuer: &str,
) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(JwtType::IdToken.as_str()) {
        return None;
    }
    let key = keys.get(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .ok()?
        .claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return None;
    }
    claims.get("aud").and_then(Value::as_str)?;
    Some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::signing_key::KeyBits;

    #[test]
    fn access_and_id_tokens_differ_in_typ_and_verify_accordingly() {
        let key = SigningKey::generate(KeyBits::Rsa2048).unwrap();
        let keys = HashMap::from([(key.kid().to_owned(), key.decoding_key().unwrap())]);
        let claims = serde_json::json!({ "iss": "https://id", "sub": "s", "jti": "j", "exp": 200, "nbf": 100 });
        let access = sign(&key, JwtType::AccessToken, &claims).unwrap();
        let id = sign(&key, JwtType::IdToken, &claims).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&id).unwrap().typ.as_deref(),
            Some("JWT")
        );
        assert!(verify_access_token(&access, &keys, "https://id", 150).is_ok());
        assert_eq!(
            verify_access_token(&id, &keys, "https://id", 150).unwrap_err(),
            Rejected("not an access token")
        );
        assert!(verify_access_token(&access, &keys, "https://other", 150).is_err());
        assert!(
            verify_access_token(&access, &keys, "https://id", 200).is_err(),
            "exp is exclusive"
        );
        assert!(
            verify_access_token(&access, &keys, "https://id", 99).is_err(),
            "not before nbf"
        );
    }

    /// The worked example of OIDC Core §A.3 (at_hash of its access token).
    #[test]
    fn at_hash_matches_the_oidc_example() {
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    /// Found by `fuzz/` (target `token`): jsonwebtoken's `set_required_spec_claims` knows only
    /// exp, nbf, aud, iss and sub and skips any other name, so `jti` is not required at all; and
    /// it takes an `iss` array holding our issuer among others as our issuer. Only tokens signed
    /// with our key get this far, so it is a broken promise rather than a forgery.
    #[test]
    fn jti_is_required_and_iss_is_one_string() {
        let key = SigningKey::generate(KeyBits::Rsa2048).unwrap();
        let keys = HashMap::from([(key.kid().to_owned(), key.decoding_key().unwrap())]);
        let cases = [
            (
                "no jti",
                serde_json::json!({ "iss": "https://id", "sub": "s", "exp": 200 }),
            ),
            (
                "an iss list",
                serde_json::json!({ "iss": ["https://other", "https://id"], "sub": "s", "jti": "j", "exp": 200 }),
            ),
        ];
        let accepted: Vec<&str> = cases
            .iter()
            .filter(|(_, claims)| {
                let token = sign(&key, JwtType::AccessToken, claims).unwrap();
                verify_access_token(&token, &keys, "https://id", 150).is_ok()
            })
            .map(|(what, _)| *what)
            .collect();
        assert!(accepted.is_empty(), "accepted: {accepted:?}");
    }
}
