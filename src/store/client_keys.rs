//! The public keys of `private_key_jwt` clients: several at once, so a client rotates its key
//! by adding the new one, switching, then removing the old.

use sqlx::{Any, Transaction};

use super::clients::{ClientJwk, ClientRecord, commit_loaded, no_such_client};
use super::error::ResultExt;
use super::{Error, Result, Store};
use crate::protocol::ClientId;

/// No client needs more keys at once than this; the bound keeps assertion checks cheap.
pub const MAX_CLIENT_KEYS: usize = 10;

impl Store {
    pub async fn add_client_keys(
        &self,
        client_id: &ClientId,
        keys: &[ClientJwk],
        now: i64,
    ) -> Result<ClientRecord> {
        let mut tx = self.begin_write().await?;
        let (row, current) = key_client(&mut tx, client_id).await?;
        if current.len() + keys.len() > MAX_CLIENT_KEYS {
            return Err(Error::Invalid(format!(
                "a client holds at most {MAX_CLIENT_KEYS} keys; remove one first"
            )));
        }
        for key in keys {
            insert_key(&mut tx, &row, key, now).await?;
        }
        commit_loaded(tx, &row, client_id).await
    }

    /// Removes a key; the client's last key stays, or it could never authenticate again.
    pub async fn remove_client_key(&self, client_id: &ClientId, kid: &str) -> Result<ClientRecord> {
        let mut tx = self.begin_write().await?;
        let (row, current) = key_client(&mut tx, client_id).await?;
        if !current.iter().any(|k| k == kid) {
            return Err(Error::NotFound(format!(
                "client {client_id} has no key {kid:?}"
            )));
        }
        if current.len() == 1 {
            return Err(Error::Invalid(format!(
                "{kid:?} is the last key of client {client_id}: add its successor first"
            )));
        }
        sqlx::query("DELETE FROM client_keys WHERE client_id = $1 AND kid = $2")
            .bind(&row)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        commit_loaded(tx, &row, client_id).await
    }
}

pub(super) async fn insert_key(
    tx: &mut Transaction<'_, Any>,
    client_row: &str,
    key: &ClientJwk,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO client_keys (client_id, kid, jwk, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(client_row)
    .bind(&key.kid)
    .bind(&key.jwk)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(Error::from)
    .on_conflict(|| format!("the client already has a key with kid {:?}", key.kid))?;
    Ok(())
}

/// The row id and key ids of a `private_key_jwt` client.
async fn key_client(
    tx: &mut Transaction<'_, Any>,
    client_id: &ClientId,
) -> Result<(String, Vec<String>)> {
    let row: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, auth_method, jwks_uri FROM clients WHERE client_id = $1")
            .bind(client_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    let Some((row, method, uri)) = row else {
        return Err(no_such_client(client_id));
    };
    if let Some(uri) = uri {
        return Err(Error::Invalid(format!(
            "client {client_id} publishes its keys at {uri}: rotate them there"
        )));
    }
    if method != super::clients::PRIVATE_KEY_JWT {
        return Err(Error::Invalid(format!(
            "client {client_id} authenticates with a secret, not with keys"
        )));
    }
    let kids: Vec<(String,)> = sqlx::query_as("SELECT kid FROM client_keys WHERE client_id = $1")
        .bind(&row)
        .fetch_all(&mut **tx)
        .await?;
    Ok((row, kids.into_iter().map(|(k,)| k).collect()))
}
