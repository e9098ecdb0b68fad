//! Signing keys at rest: sealed private keys and their lifecycle state.

use sqlx::{Any, Transaction};

use super::{Error, Result, Store, commit_change};
use crate::protocol::SigningAlg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signs every new token of its algorithm; exactly one per algorithm.
    Active,
    /// Published until the tokens it signed have expired; no longer signing.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub bits: i64,
    /// `nonce || ciphertext || tag` under the key-encryption key.
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// For a `next` key: the earliest time it may start signing.
    pub activate_after: Option<i64>,
    /// For a `retired` key: when every token it signed has expired.
    pub remove_after: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    bits: i64,
    private_key: Vec<u8>,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    activate_after: Option<i64>,
    remove_after: Option<i64>,
}

/// Which key takes over when the active one stops signing.
pub enum Successor<'a> {
    /// The published `next` key with this kid.
    Next(&'a str),
    /// A key never published before (`rotate --now` without a next key, or a revocation).
    New(&'a StoredKey),
}

impl Store {
    pub async fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, state, bits, private_key, created_at, activated_at, retired_at, \
             activate_after, remove_after FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let state = KeyState::parse(&row.state).ok_or_else(|| {
                    Error::internal(format!(
                        "signing key {} has unknown state {:?}",
                        row.kid, row.state
                    ))
                })?;
                let alg = SigningAlg::from_header(&row.alg).ok_or_else(|| {
                    Error::internal(format!(
                        "signing key {} has unknown algorithm {:?}",
                        row.kid, row.alg
                    ))
                })?;
                Ok(StoredKey {
                    kid: row.kid,
                    alg,
                    state,
                    bits: row.bits,
                    sealed_private_key: row.private_key,
                    created_at: row.created_at,
                    activated_at: row.activated_at,
                    retired_at: row.retired_at,
                    activate_after: row.activate_after,
                    remove_after: row.remove_after,
                })
            })
            .collect()
    }

    /// Inserts the first active keys of a fresh database, all or none; `Conflict` if another
    /// node got there first.
    pub async fn insert_active_keys(&self, keys: &[StoredKey]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            insert(&mut tx, key, KeyState::Active).await?;
        }
        commit_change(tx).await?;
        Ok(())
    }

    /// Makes a published `next` key the first active key of its algorithm (an algorithm
    /// enabled on an existing deployment); false if another node did it first.
    pub async fn activate_first(&self, kid: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = match activate(&mut tx, Successor::Next(kid), now).await {
            Ok(done) => done,
            // The algorithm has an active key already (the unique index).
            Err(Error::Conflict(_)) => false,
            Err(e) => return Err(e),
        };
        if !done {
            return Ok(false);
        }
        commit_change(tx).await?;
        Ok(true)
    }

    /// Publishes a successor; `Conflict` if a `next` key already exists.
    pub async fn insert_next_key(&self, key: &StoredKey) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert(&mut tx, key, KeyState::Next).await?;
        commit_change(tx).await?;
        Ok(())
    }

    /// Moves a `next` key's activation time; false if it is no longer `next`.
    pub async fn set_activate_after(&self, kid: &str, at: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE signing_keys SET activate_after = $1 WHERE kid = $2 AND state = 'next'",
        )
        .bind(at)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        commit_change(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Retires `old` (still published until `remove_after`) and makes `successor` active, atomically.
    ///
    /// A conditional update: if another node already did this step, nothing changes and the
    /// result is `false`. A process killed half-way leaves the transaction unapplied.
    pub async fn replace_active(
        &self,
        old: &str,
        successor: Successor<'_>,
        now: i64,
        remove_after: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let retired = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1, remove_after = $2 \
             WHERE kid = $3 AND state = 'active'",
        )
        .bind(now)
        .bind(remove_after)
        .bind(old)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() != 1 {
            return Ok(false);
        }
        if !activate(&mut tx, successor, now).await? {
            return Ok(false);
        }
        commit_change(tx).await?;
        Ok(true)
    }

    /// Removes a key from the JWKS at once (a compromised key). If it was active, `successor`
    /// takes over in the same transaction, so there is never a moment without an active key.
    /// Only an active key of an algorithm no longer enabled may go without one, never RS256's.
    pub async fn revoke_key(
        &self,
        kid: &str,
        successor: Option<Successor<'_>>,
        now: i64,
    ) -> Result<KeyState> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT state, alg FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((state, alg)) = row else {
            return Err(Error::NotFound(format!("no signing key with kid {kid}")));
        };
        let state = KeyState::parse(&state)
            .ok_or_else(|| Error::internal(format!("key {kid} has state {state:?}")))?;
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        if state == KeyState::Active {
            let Some(successor) = successor else {
                if alg == SigningAlg::RS256.as_str() {
                    return Err(Error::Invalid(format!(
                        "key {kid} is the active RS256 key: a successor is required"
                    )));
                }
                commit_change(tx).await?;
                return Ok(state);
            };
            if !activate(&mut tx, successor, now).await? {
                return Err(Error::Conflict(
                    "the key set changed meanwhile; try again".into(),
                ));
            }
        }
        commit_change(tx).await?;
        Ok(state)
    }

    /// Deletes retired keys whose tokens have all expired; returns their kids.
    pub async fn remove_expired_keys(&self, now: i64) -> Result<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let gone: Vec<(String,)> = sqlx::query_as(
            "SELECT kid FROM signing_keys WHERE state = 'retired' AND remove_after <= $1",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND remove_after <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await?;
        Ok(gone.into_iter().map(|(k,)| k).collect())
    }
}

async fn insert(tx: &mut Transaction<'_, Any>, key: &StoredKey, state: KeyState) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, bits, private_key, created_at, activated_at, retired_at, \
         activate_after, remove_after) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, NULL)",
    )
    .bind(&key.kid)
    .bind(key.alg.as_str())
    .bind(state.as_str())
    .bind(key.bits)
    .bind(&key.sealed_private_key)
    .bind(key.created_at)
    .bind((state == KeyState::Active).then_some(key.created_at))
    .bind(key.activate_after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes the successor active; false if the `next` key is gone (another node used it).
async fn activate(
    tx: &mut Transaction<'_, Any>,
    successor: Successor<'_>,
    now: i64,
) -> Result<bool> {
    match successor {
        Successor::Next(kid) => {
            let done = sqlx::query(
                "UPDATE signing_keys SET state = 'active', activated_at = $1, activate_after = NULL \
                 WHERE kid = $2 AND state = 'next'",
            )
            .bind(now)
            .bind(kid)
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() == 1)
        }
        Successor::New(key) => {
            let key = StoredKey {
                created_at: now,
                ..key.clone()
            };
            insert(tx, &key, KeyState::Active).await?;
            Ok(true)
        }
    }
}
