//! Passwords: argon2id with OWASP parameters in PHC strings, hashed off the async workers.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::{CryptoError, random};

/// OWASP's argon2id recommendation: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Longer passwords are refused rather than hashed: a megabyte "password" is an attack.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn argon2() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| CryptoError(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes on the calling thread (CPU and 19 MiB for tens of milliseconds): use [`Hasher`] in async code.
pub fn hash_blocking(password: &str) -> Result<String, CryptoError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CryptoError(format!(
            "passwords are at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let mut salt = [0u8; 16];
    random::fill(&mut salt)?;
    argon2()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError(format!("password hashing failed: {e}")))
}

/// Checks a password against a PHC string, with the parameters stored in it.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), phc).is_ok())
}

/// True when a stored hash predates the current parameters, so it is re-hashed at the next sign-in.
pub fn needs_rehash(phc: &str) -> bool {
    let current = format!("$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}$");
    !phc.starts_with(&current)
}

/// Bounds how many hashes run at once, so a burst of sign-ins cannot exhaust memory or
/// starve the token endpoint of threads.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, CryptoError> {
        self.run(move || hash_blocking(&password)).await?
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool, CryptoError> {
        self.run(move || verify_blocking(&password, &phc)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| CryptoError("password hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| CryptoError(format!("password task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_with_owasp_parameters() {
        let phc = hash_blocking("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse", &phc));
        assert!(!verify_blocking("correct hors", &phc));
        assert!(!needs_rehash(&phc));
        assert_ne!(phc, hash_blocking("correct horse").unwrap(), "salted");
    }

    #[test]
    fn weaker_old_hashes_ask_for_a_rehash_and_still_verify() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"pw", b"0123456789abcdef")
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        assert!(verify_blocking("pw", &weak));
    }

    #[test]
    fn garbage_and_oversized_input_never_verify() {
        assert!(!verify_blocking("pw", "not a phc string"));
        assert!(hash_blocking(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }

    #[tokio::test]
    async fn the_async_hasher_runs_off_the_workers() {
        let hasher = Hasher::new(2);
        let phc = hasher.hash("pw".into()).await.unwrap();
        assert!(hasher.verify("pw".into(), phc).await.unwrap());
    }
}
