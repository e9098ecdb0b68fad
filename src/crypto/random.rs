//! Values from the CSPRNG: opaque tokens and uuids.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::CryptoError;

/// The process's one CSPRNG handle.
pub struct Rng;

impl Rng {
    pub fn get() -> &'static SystemRandom {
        static RNG: std::sync::OnceLock<SystemRandom> = std::sync::OnceLock::new();
        RNG.get_or_init(SystemRandom::new)
    }
}

pub fn fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    Rng::get()
        .fill(buf)
        .map_err(|_| CryptoError("the system random number generator failed".into()))
}

/// 256 random bits, base64url: client secrets and other opaque values handed out.
pub fn token() -> Result<String, CryptoError> {
    let mut bytes = [0u8; 32];
    fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// An opaque value derived from another under a random salt (HMAC-SHA-256, base64url), so the
/// same pair always gives the same value: a refresh token's successor, a session's CSRF token.
/// Without the salt (or the value) nothing can be derived.
pub fn derived_token(salt: &[u8], from: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, salt);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, from.as_bytes()))
}

/// 32 random bytes, for salts.
pub fn salt() -> Result<Vec<u8>, CryptoError> {
    let mut bytes = vec![0u8; 32];
    fill(&mut bytes)?;
    Ok(bytes)
}

/// 128 random bits as 32 lowercase hex digits: public identifiers such as client ids.
///
/// Hex, not base64url: an id starting with `-` would read as an option on a command line.
pub fn short_id() -> Result<String, CryptoError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    fill(&mut bytes)?;
    // Every request gets one (its request id): no formatter, one allocation.
    let mut id = String::with_capacity(32);
    for b in bytes {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(id)
}

/// A random (v4) uuid, for `jti`.
pub fn uuid_v4() -> Result<Uuid, CryptoError> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// A time-ordered (v7) uuid, for row ids.
pub fn uuid_v7(unix_millis: u64) -> Result<Uuid, CryptoError> {
    let mut bytes = [0u8; 10];
    fill(&mut bytes)?;
    Ok(uuid::Builder::from_unix_timestamp_millis(unix_millis, &bytes).into_uuid())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_ids_are_hex_and_never_look_like_options() {
        for _ in 0..200 {
            let id = super::short_id().unwrap();
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
        }
    }
}
