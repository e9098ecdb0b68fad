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
}

impl JwtType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "at+jwt",
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
