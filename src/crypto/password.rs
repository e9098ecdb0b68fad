//! Passwords: argon2id with OWASP parameters in PHC strings, hashed off the async workers.

use std::sync::{Arc, Mutex};

use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::Semaphore;

use super::{CryptoError, random};

/// OWASP's argon2id recommendation: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Longer passwords are refused rather than hashed: a megabyte "password" is an attack.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn params() -> Result<Params, CryptoError> {
    Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| CryptoError(format!("argon2 parameters: {e}")))
}

/// Argon2's memory (19 MiB), zeroed; [`Hasher`] reuses these rather than allocating per hash.
fn work_area(params: &Params) -> Vec<Block> {
    vec![Block::default(); params.block_count()]
}

/// Hashes on the calling thread (CPU and 19 MiB for tens of milliseconds): use [`Hasher`] in async code.
pub fn hash_blocking(password: &str) -> Result<String, CryptoError> {
    hash_in(&mut work_area(&params()?), password)
}

/// Checks a password against a PHC string, with the parameters stored in it.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    params().is_ok_and(|p| verify_in(&mut work_area(&p), password, phc))
}

fn hash_in(area: &mut [Block], password: &str) -> Result<String, CryptoError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CryptoError(format!(
            "passwords are at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let mut salt = [0u8; 16];
    random::fill(&mut salt)?;
    let params = params()?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, area)
        .map_err(|e| CryptoError(format!("password hashing failed: {e}")))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| CryptoError(format!("{e}")))?,
        salt: Some(
            argon2::password_hash::phc::Salt::new(&salt)
                .map_err(|e| CryptoError(format!("{e}")))?,
        ),
        hash: Some(
            argon2::password_hash::phc::Output::new(&out)
                .map_err(|e| CryptoError(format!("{e}")))?,
        ),
    };
    Ok(phc.to_string())
}

fn verify_in(area: &mut [Block], password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm.as_str()),
    ) else {
        return false;
    };
    let Ok(version) = Version::try_from(parsed.version.unwrap_or(0x13)) else {
        return false;
    };
    let mut own;
    let area = if area.len() == params.block_count() {
        area
    } else {
        own = work_area(&params);
        &mut own[..]
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, area)
        .is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// True when a stored hash predates the current parameters, so it is re-hashed at the next sign-in.
pub fn needs_rehash(phc: &str) -> bool {
    let current = format!("$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}$");
    !phc.starts_with(&current)
}

/// Bounds how many hashes run at once, so a burst of sign-ins cannot exhaust memory or
/// starve the token endpoint of threads. Each hash borrows a work area from a pool that never
/// holds more than one per permit: allocating 19 MiB per hash left the freed buffers scattered
/// over malloc's per-thread arenas, and a login burst grew the process to over 500 MiB.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, CryptoError> {
        self.run(move |area| hash_in(area, &password)).await?
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool, CryptoError> {
        self.run(move |area| verify_in(area, &password, &phc)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        // Held by the blocking task itself: a caller that goes away mid-hash frees no permit
        // while the hash still runs.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| CryptoError("password hasher closed".into()))?;
        let params = params()?;
        let areas = Arc::clone(&self.areas);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut area = areas
                .lock()
                .ok()
                .and_then(|mut a| a.pop())
                .unwrap_or_else(|| work_area(&params));
            let result = work(&mut area);
            if let Ok(mut a) = areas.lock() {
                a.push(area);
            }
            result
        })
        .await
        .map_err(|e| CryptoError(format!("password task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

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

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_encoding() {
        use argon2::password_hash::PasswordVerifier as _;
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap())
            .hash_password_with_salt(b"pw", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify_blocking("pw", &theirs));
        let ours = hash_blocking("pw").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"px", &parsed).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_async_hasher_keeps_one_work_area_per_permit() {
        let hasher = Hasher::new(2);
        let phc = hasher.hash("pw".into()).await.unwrap();
        let checks: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, phc) = (hasher.clone(), phc.clone());
                tokio::spawn(async move { hasher.verify("pw".into(), phc).await.unwrap() })
            })
            .collect();
        for check in checks {
            assert!(check.await.unwrap());
        }
        let pooled = hasher.areas.lock().unwrap().len();
        assert!((1..=2).contains(&pooled), "{pooled} work areas");
    }
}
