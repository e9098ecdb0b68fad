//! Signing keys at rest: sealed private keys and their lifecycle state.

use super::{Error, Result, Store, bump_generation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signs every new token; exactly one.
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
    pub state: KeyState,
    pub bits: i64,
    /// `nonce || ciphertext || tag` under the key-encryption key.
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

type KeyRow = (String, String, i64, Vec<u8>, i64, Option<i64>, Option<i64>);

impl Store {
    pub async fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, state, bits, private_key, created_at, activated_at, retired_at \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(
                |(kid, state, bits, sealed_private_key, created_at, activated_at, retired_at)| {
                    let state = KeyState::parse(&state).ok_or_else(|| {
                        Error::Internal(format!("signing key {kid} has unknown state {state:?}"))
                    })?;
                    Ok(StoredKey {
                        kid,
                        state,
                        bits,
                        sealed_private_key,
                        created_at,
                        activated_at,
                        retired_at,
                    })
                },
            )
            .collect()
    }

    /// Inserts a first active key; `Conflict` if another node got there first.
    pub async fn insert_active_key(&self, key: &StoredKey) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, state, bits, private_key, created_at, activated_at, retired_at) \
             VALUES ($1, 'active', $2, $3, $4, $4, NULL)",
        )
        .bind(&key.kid)
        .bind(key.bits)
        .bind(&key.sealed_private_key)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
