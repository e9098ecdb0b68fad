//! JWS compact serialisation (RFC 7515 §7.1) with a key parsed once and held in memory.
//!
//! jsonwebtoken's `encode` re-parses the private key on every call; on the hot path that cost
//! is avoidable, so signing happens here and jsonwebtoken stays the verifier's tool.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

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
