//! The key-encryption key: AES-256-GCM over signing keys at rest.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{CryptoError, random};
use crate::private_file;

pub struct MasterKey(LessSafeKey);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// The key itself, base64 of 32 bytes (as in `CASTELLAN_MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError("the master key is not valid base64".into()))?;
        if bytes.len() != 32 {
            return Err(CryptoError(format!(
                "the master key must be 32 bytes (base64 of 32 random bytes), got {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| CryptoError("the master key was refused by AES-256-GCM".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Reads an existing key file; management commands never create one.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let file = std::fs::File::open(path)
            .map_err(|e| CryptoError(format!("cannot read {}: {e}", path.display())))?;
        Self::read(file, path)
    }

    /// Reads the key file, creating it (mode 0600, in a 0700 folder) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        match std::fs::File::open(path) {
            Ok(file) => Self::read(file, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(CryptoError(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// A key file others may read is refused: whoever reads it can decrypt every signing key.
    fn read(mut file: std::fs::File, path: &Path) -> Result<Self, CryptoError> {
        private_file::ensure_private(&file, path).map_err(CryptoError)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text)
            .map_err(|e| CryptoError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_base64(&text).map_err(|e| CryptoError(format!("{}: {e}", path.display())))
    }

    fn create(path: &Path) -> Result<Self, CryptoError> {
        let io_err =
            |e: std::io::Error| CryptoError(format!("cannot create {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_file::create_dir_all(dir).map_err(io_err)?;
        }
        let mut bytes = [0u8; 32];
        random::fill(&mut bytes)?;
        let text = STANDARD.encode(bytes);
        match private_file::create_new(path) {
            Ok(mut file) => {
                file.write_all(format!("{text}\n").as_bytes())
                    .map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                Self::from_base64(&text)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(io_err(e)),
        }
    }

    /// `nonce || ciphertext || tag`, bound to `context` (the key id) as associated data.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random::fill(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| CryptoError("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let wrong = || {
            CryptoError(format!(
                "cannot decrypt signing key {context}: the master key is not the one it was stored with, or the stored key is corrupt"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = key.seal("kid-1", b"secret").unwrap();
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"secret");
        assert!(key.open("kid-2", &sealed).is_err());
        let other = MasterKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
    }

    #[test]
    fn creates_a_private_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let sealed = first.seal("k", b"x").unwrap();
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("k", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        MasterKey::load_or_create(&path).unwrap();
        let folder = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for refused in [MasterKey::load_or_create(&path), MasterKey::load(&path)] {
            let err = refused.unwrap_err().0;
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        MasterKey::load_or_create(&path).unwrap();
    }

    #[test]
    fn refuses_short_keys() {
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
