//! Client secrets: generated here, shown once, stored only as SHA-256, compared in constant time.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};

use super::{CryptoError, random};

/// A freshly generated secret; printed once to the operator and then forgotten.
pub struct GeneratedSecret(String);

impl GeneratedSecret {
    pub fn generate() -> Result<Self, CryptoError> {
        random::token().map(Self)
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for GeneratedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// SHA-256 of a secret. A slow hash adds nothing to 256 random bits (see DESIGN.md).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
        Self(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time in the contents; both sides are always 32 bytes.
    pub fn matches(&self, presented: &str) -> bool {
        verify_slices_are_equal(&self.0, &Self::of(presented).0).is_ok()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_verify_against_their_hash_only() {
        let s = GeneratedSecret::generate().unwrap();
        let h = s.hash();
        assert!(h.matches(s.secret()));
        assert!(!h.matches("wrong"));
        assert_eq!(s.secret().len(), 43);
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
