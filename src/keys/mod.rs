//! The signing-key ring: keys loaded from the store, decrypted once, held in memory, swapped atomically.

pub mod rotation;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::crypto::signing_key::{KeyBits, PublicJwk};
use crate::crypto::{CryptoError, MasterKey, SigningKey};
use crate::store::keys::{KeyState, StoredKey};
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("no active signing key in the database")]
    NoActiveKey,
}

/// One consistent view: the key that signs, and the JWKS document that publishes the set.
#[derive(Debug)]
pub struct KeySet {
    pub active: Arc<SigningKey>,
    /// When the active key began signing (unix seconds), for its age in the metrics.
    pub active_since: i64,
    /// Every published key (next, active, retired), in the JWKS's order.
    pub published: Vec<Arc<SigningKey>>,
    /// The serialised JWKS, shared by every response without copying.
    pub jwks_json: bytes::Bytes,
    /// Strong validator of `jwks_json` (RFC 9110 §8.8.3), quoted.
    pub etag: String,
    /// Verification keys of every published key, by `kid`.
    pub verifiers: HashMap<String, jsonwebtoken::DecodingKey>,
}

#[derive(Serialize)]
struct Jwks<'a> {
    keys: Vec<&'a PublicJwk>,
}

pub struct KeyRing {
    master: MasterKey,
    current: RwLock<Arc<KeySet>>,
    /// Serialises reloads, so a slow reload cannot overwrite a newer set with an older one.
    reload: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("published", &self.current().published.len())
            .finish()
    }
}

impl KeyRing {
    /// Loads the published keys, creating the first active key on an empty database.
    ///
    /// A key that cannot be decrypted is an error, never a reason to generate new keys:
    /// a silently replaced key set would strand every validator.
    pub async fn load(
        store: &Store,
        master: MasterKey,
        bits: KeyBits,
        now: i64,
    ) -> Result<Self, Error> {
        let mut stored = store.list_keys().await?;
        if !stored.iter().any(|k| k.state == KeyState::Active) {
            create_first_key(store, &master, bits, now).await?;
            stored = store.list_keys().await?;
        }
        let set = build(&master, &stored, &HashMap::new())?;
        Ok(Self {
            master,
            current: RwLock::new(Arc::new(set)),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    /// The current set; the lock is held only to clone an `Arc`.
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the store; keys already decrypted are reused, so this is cheap.
    pub async fn refresh(&self, store: &Store) -> Result<(), Error> {
        let _reloading = self.reload.lock().await;
        let stored = store.list_keys().await?;
        let known: HashMap<String, Arc<SigningKey>> = self
            .current()
            .published
            .iter()
            .map(|k| (k.kid().to_owned(), Arc::clone(k)))
            .collect();
        let set = build(&self.master, &stored, &known)?;
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(set);
        Ok(())
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Decrypts every stored key: proves the key-encryption key is the right one before
    /// anything new is sealed with it.
    pub async fn verify_master(store: &Store, master: &MasterKey) -> Result<(), Error> {
        for row in store.list_keys().await? {
            open(master, &row)?;
        }
        Ok(())
    }
}

async fn create_first_key(
    store: &Store,
    master: &MasterKey,
    bits: KeyBits,
    now: i64,
) -> Result<(), Error> {
    let key = rotation::new_key(master, bits, now, None).await?;
    match store.insert_active_key(&key).await {
        // Another node created the first key at the same moment; theirs wins.
        Ok(()) | Err(store::Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn build(
    master: &MasterKey,
    stored: &[StoredKey],
    known: &HashMap<String, Arc<SigningKey>>,
) -> Result<KeySet, Error> {
    let mut active = None;
    let mut published: Vec<Arc<SigningKey>> = Vec::with_capacity(stored.len());
    for row in stored {
        let key = match known.get(&row.kid) {
            Some(key) => Arc::clone(key),
            None => Arc::new(open(master, row)?),
        };
        if row.state == KeyState::Active {
            active = Some((Arc::clone(&key), row.activated_at.unwrap_or(row.created_at)));
        }
        published.push(key);
    }
    let (active, active_since) = active.ok_or(Error::NoActiveKey)?;
    let jwks = Jwks {
        keys: published.iter().map(|k| k.public_jwk()).collect(),
    };
    let json = serde_json::to_string(&jwks)
        .map_err(|e| CryptoError(format!("cannot serialise the JWKS: {e}")))?;
    let etag = format!(
        "\"{}\"",
        URL_SAFE_NO_PAD.encode(&digest(&SHA256, json.as_bytes()).as_ref()[..16])
    );
    let verifiers = published
        .iter()
        .map(|k| Ok((k.kid().to_owned(), k.decoding_key()?)))
        .collect::<Result<_, CryptoError>>()?;
    Ok(KeySet {
        active,
        active_since,
        jwks_json: bytes::Bytes::from(json),
        etag,
        published,
        verifiers,
    })
}

fn open(master: &MasterKey, row: &StoredKey) -> Result<SigningKey, Error> {
    let der = master.open(&row.kid, &row.sealed_private_key)?;
    let key = SigningKey::from_der(&der)
        .map_err(|e| CryptoError(format!("signing key {}: {e}", row.kid)))?;
    if key.kid() != row.kid {
        return Err(CryptoError(format!(
            "signing key {} does not match its stored kid",
            row.kid
        ))
        .into());
    }
    Ok(key)
}
