//! The signing-key ring: keys loaded from the store, decrypted once, held in memory, swapped atomically.

pub mod rotation;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::crypto::jwt::Verifiers;
use crate::crypto::signing_key::PublicJwk;
use crate::crypto::{CryptoError, MasterKey, SigningKey};
use crate::protocol::SigningAlg;
use crate::store::keys::{KeyState, StoredKey};
use crate::store::{self, Store};
use rotation::Policy;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("no active RS256 signing key in the database")]
    NoActiveKey,
}

/// One consistent view: the keys that sign, and the JWKS document that publishes the set.
#[derive(Debug)]
pub struct KeySet {
    /// The active RS256 key: there always is one.
    pub active: Arc<SigningKey>,
    /// When the oldest active key began signing (unix seconds), for its age in the metrics.
    pub active_since: i64,
    /// The active key of each algorithm that has one, by [`alg_index`].
    signers: [Option<Arc<SigningKey>>; SigningAlg::ALL.len()],
    /// Every published key (next, active, retired), in the JWKS's order.
    pub published: Vec<Arc<SigningKey>>,
    /// The serialised JWKS, shared by every response without copying.
    pub jwks_json: bytes::Bytes,
    /// Strong validator of `jwks_json` (RFC 9110 §8.8.3), quoted.
    pub etag: String,
    /// Verification keys of every published key, by `kid`.
    pub verifiers: Verifiers,
}

impl KeySet {
    /// The active key of `alg`, if it has one yet.
    pub fn signer(&self, alg: SigningAlg) -> Option<&Arc<SigningKey>> {
        self.signers[alg_index(alg)].as_ref()
    }
}

fn alg_index(alg: SigningAlg) -> usize {
    SigningAlg::ALL.iter().position(|a| *a == alg).unwrap_or(0)
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
    /// Per algorithm: has the RS256 fallback been logged since its key was last active?
    fallback_logged: [AtomicBool; SigningAlg::ALL.len()],
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("published", &self.current().published.len())
            .finish()
    }
}

impl KeyRing {
    /// Loads the published keys. On a fresh database every enabled algorithm's first key is
    /// created active (nothing can hold a cached JWKS yet); an algorithm enabled on an existing
    /// deployment gets its first key as `next`, signing only after the publish-ahead window.
    ///
    /// A key that cannot be decrypted is an error, never a reason to generate new keys:
    /// a silently replaced key set would strand every validator.
    pub async fn load(
        store: &Store,
        master: MasterKey,
        policy: &Policy,
        now: i64,
    ) -> Result<Self, Error> {
        let mut stored = store.list_keys().await?;
        let has_rs256 = |keys: &[StoredKey]| {
            keys.iter()
                .any(|k| k.alg == SigningAlg::RS256 && k.state == KeyState::Active)
        };
        if stored.is_empty() {
            create_first_keys(store, &master, policy, &policy.algs, now).await?;
            stored = store.list_keys().await?;
        } else if !has_rs256(&stored) {
            create_first_keys(store, &master, policy, &[SigningAlg::RS256], now).await?;
            stored = store.list_keys().await?;
        }
        let missing: Vec<SigningAlg> = policy
            .algs
            .iter()
            .copied()
            .filter(|alg| !stored.iter().any(|k| k.alg == *alg))
            .collect();
        for alg in missing {
            let key = rotation::new_key(
                &master,
                alg,
                policy.bits,
                now,
                Some(now + policy.publish_ahead),
            )
            .await?;
            match store.insert_next_key(&key).await {
                Ok(()) => tracing::info!(
                    kid = key.kid,
                    %alg,
                    activate_after = now + policy.publish_ahead,
                    "published the first key of a newly enabled algorithm"
                ),
                // Another node published it first.
                Err(store::Error::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            stored = store.list_keys().await?;
        }
        let set = build(&master, &stored, &HashMap::new())?;
        Ok(Self {
            master,
            current: RwLock::new(Arc::new(set)),
            reload: tokio::sync::Mutex::new(()),
            fallback_logged: Default::default(),
        })
    }

    /// The key that signs tokens meant to be `alg`: its active key, or the RS256 key until it
    /// has one (said once in the log, per algorithm, until its key is active).
    pub fn signer(&self, alg: SigningAlg) -> Arc<SigningKey> {
        let set = self.current();
        if let Some(key) = set.signer(alg) {
            return Arc::clone(key);
        }
        if !self.fallback_logged[alg_index(alg)].swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %alg,
                "no active {alg} signing key (not enabled, or its first key is not yet past the \
                 publish-ahead window): signing with RS256 meanwhile"
            );
        }
        Arc::clone(&set.active)
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
        for alg in SigningAlg::ALL {
            if set.signer(alg).is_some() {
                self.fallback_logged[alg_index(alg)].store(false, Ordering::Relaxed);
            }
        }
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

async fn create_first_keys(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    algs: &[SigningAlg],
    now: i64,
) -> Result<(), Error> {
    let mut keys = Vec::with_capacity(algs.len());
    for &alg in algs {
        keys.push(rotation::new_key(master, alg, policy.bits, now, None).await?);
    }
    match store.insert_active_keys(&keys).await {
        // Another node created the first keys at the same moment; theirs win.
        Ok(()) | Err(store::Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn build(
    master: &MasterKey,
    stored: &[StoredKey],
    known: &HashMap<String, Arc<SigningKey>>,
) -> Result<KeySet, Error> {
    let mut signers: [Option<Arc<SigningKey>>; SigningAlg::ALL.len()] = Default::default();
    let mut active_since = i64::MAX;
    let mut published: Vec<Arc<SigningKey>> = Vec::with_capacity(stored.len());
    for row in stored {
        let key = match known.get(&row.kid) {
            Some(key) => Arc::clone(key),
            None => Arc::new(open(master, row)?),
        };
        if row.state == KeyState::Active {
            signers[alg_index(row.alg)] = Some(Arc::clone(&key));
            active_since = active_since.min(row.activated_at.unwrap_or(row.created_at));
        }
        published.push(key);
    }
    let active = signers[alg_index(SigningAlg::RS256)]
        .clone()
        .ok_or(Error::NoActiveKey)?;
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
        .map(|k| Ok((k.kid().to_owned(), k.verifier()?)))
        .collect::<Result<_, CryptoError>>()?;
    Ok(KeySet {
        active,
        active_since,
        signers,
        jwks_json: bytes::Bytes::from(json),
        etag,
        published,
        verifiers,
    })
}

fn open(master: &MasterKey, row: &StoredKey) -> Result<SigningKey, Error> {
    let der = master.open(&row.kid, &row.sealed_private_key)?;
    let key = SigningKey::from_der(&der, row.alg)
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
