//! Single-use authorization codes and rotating refresh tokens, with replay detection.
//!
//! Each redemption is one conditional update, so two nodes (or two racing requests) can never
//! both succeed; the loser learns the value was already used and the whole family is revoked.

use sqlx::{Any, Transaction};

use super::{Result, Store};

/// What presenting a code or refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Redemption<T> {
    /// First use: here is what it grants.
    Fresh(T),
    /// Used before: the family it belongs to is now revoked (RFC 9700 §2.2.2, §4.14.2).
    Replayed { family: String },
    /// Unknown, expired or revoked.
    Invalid,
    /// Valid, but the caller's check refused it; nothing was spent.
    Declined(T),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub family: String,
    pub client_row: String,
    pub user_row: String,
    pub redirect_uri: String,
    pub scope: String,
    /// The access token's `aud`.
    pub audience: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub family: String,
    pub client_row: String,
    pub user_row: String,
    pub scope: String,
    pub audience: String,
    pub auth_time: i64,
    /// The family's absolute end, inherited by every rotation.
    pub expires_at: i64,
}

/// A refresh token to store: its hash, what it grants and until when.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: Vec<u8>,
    pub grant: RefreshGrant,
    pub idle_expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    family: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scope: String,
    audience: String,
    nonce: Option<String>,
    code_challenge: String,
    auth_time: i64,
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    family: String,
    client_id: String,
    user_id: String,
    scope: String,
    audience: String,
    auth_time: i64,
    expires_at: i64,
}

impl From<RefreshRow> for RefreshGrant {
    fn from(row: RefreshRow) -> Self {
        Self {
            family: row.family,
            client_row: row.client_id,
            user_row: row.user_id,
            scope: row.scope,
            audience: row.audience,
            auth_time: row.auth_time,
            expires_at: row.expires_at,
        }
    }
}

impl Store {
    pub async fn insert_code(
        &self,
        hash: &[u8],
        grant: &CodeGrant,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, family, client_id, user_id, redirect_uri, scope, nonce, \
             code_challenge, auth_time, created_at, expires_at, used_at, audience) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)",
        )
        .bind(hash)
        .bind(&grant.family)
        .bind(&grant.client_row)
        .bind(&grant.user_row)
        .bind(&grant.redirect_uri)
        .bind(&grant.scope)
        .bind(grant.nonce.as_deref())
        .bind(&grant.code_challenge)
        .bind(grant.auth_time)
        .bind(now)
        .bind(expires_at)
        .bind(&grant.audience)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user a live, unused code was issued for; reads only, so a failure spends nothing.
    pub async fn code_user(&self, hash: &[u8], now: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT user_id FROM authorization_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(user,)| user))
    }

    /// Uses a code once, storing the refresh token `issue` makes from it (if any) in the same
    /// transaction: either the code is spent and its refresh token exists, or neither. A second
    /// presentation revokes everything issued from the first.
    pub async fn redeem_code(
        &self,
        hash: &[u8],
        now: i64,
        issue: impl FnOnce(&CodeGrant) -> Option<NewRefresh>,
    ) -> Result<Redemption<CodeGrant>> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() == 1 {
            let row: CodeRow = sqlx::query_as(
                "SELECT family, client_id, user_id, redirect_uri, scope, audience, nonce, code_challenge, auth_time \
                 FROM authorization_codes WHERE code_hash = $1",
            )
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            let grant = CodeGrant {
                family: row.family,
                client_row: row.client_id,
                user_row: row.user_id,
                redirect_uri: row.redirect_uri,
                scope: row.scope,
                audience: row.audience,
                nonce: row.nonce,
                code_challenge: row.code_challenge,
                auth_time: row.auth_time,
            };
            if let Some(refresh) = issue(&grant) {
                insert_refresh(&mut tx, &refresh, now).await?;
            }
            tx.commit().await?;
            return Ok(Redemption::Fresh(grant));
        }
        let seen = "SELECT family, used_at FROM authorization_codes WHERE code_hash = $1";
        let outcome =
            replay_or_invalid(&mut tx, seen, hash, "authorization code replayed", now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn insert_refresh(&self, token: &NewRefresh, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_refresh(&mut tx, token, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a refresh token once and stores its successor in the same transaction. A used token
    /// presented again revokes its whole family, unless it was spent less than `grace` seconds
    /// ago and its successor is still unused: then that successor is revoked and replaced (a
    /// client retrying after a lost response). If `successor` declines (wrong client, wider
    /// scope), the transaction rolls back and the token stays usable; during the grace window a
    /// declined retry counts as a replay.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8],
        successor: impl FnOnce(&RefreshGrant) -> Option<NewRefresh>,
        grace: i64,
        now: i64,
    ) -> Result<Redemption<RefreshGrant>> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL \
             AND expires_at > $1 AND idle_expires_at > $1 \
             AND family NOT IN (SELECT family FROM revoked_families)",
        )
        .bind(now)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        let spent = used.rows_affected() == 1
            || (grace > 0 && replace_unused_successor(&mut tx, hash, now - grace, now).await?);
        if spent {
            let row: RefreshRow = sqlx::query_as(
                "SELECT family, client_id, user_id, scope, audience, auth_time, expires_at FROM refresh_tokens \
                 WHERE token_hash = $1",
            )
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            let grant = RefreshGrant::from(row);
            match successor(&grant) {
                Some(next) => {
                    insert_refresh(&mut tx, &next, now).await?;
                    sqlx::query("UPDATE refresh_tokens SET replaced_by = $1 WHERE token_hash = $2")
                        .bind(&next.hash)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(Redemption::Fresh(grant));
                }
                None if used.rows_affected() == 1 => {
                    tx.rollback().await?;
                    return Ok(Redemption::Declined(grant));
                }
                None => {}
            }
        }
        let seen = "SELECT family, used_at FROM refresh_tokens WHERE token_hash = $1";
        let outcome = replay_or_invalid(&mut tx, seen, hash, "refresh token reused", now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// A live refresh token's grant (not used, revoked or expired), for introspection.
    pub async fn live_refresh(&self, hash: &[u8], now: i64) -> Result<Option<RefreshGrant>> {
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT family, client_id, user_id, scope, audience, auth_time, expires_at FROM refresh_tokens \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             AND idle_expires_at > $2 AND family NOT IN (SELECT family FROM revoked_families)",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(RefreshGrant::from))
    }

    /// RFC 7009 for refresh tokens: ends the whole grant family of a token owned by `client_row`.
    /// Returns whether there was such a token.
    pub async fn revoke_refresh(&self, hash: &[u8], client_row: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT family FROM refresh_tokens WHERE token_hash = $1 AND client_id = $2",
        )
        .bind(hash)
        .bind(client_row)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family,)) = row else {
            return Ok(false);
        };
        revoke_family(&mut tx, &family, "revoked by the client", now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Has a replay (or a revocation) ended this family?
    pub async fn family_revoked(&self, family: &str) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT family FROM revoked_families WHERE family = $1")
                .bind(family)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}

async fn insert_refresh(tx: &mut Transaction<'_, Any>, token: &NewRefresh, now: i64) -> Result<()> {
    let g = &token.grant;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family, client_id, user_id, scope, auth_time, created_at, \
         idle_expires_at, expires_at, used_at, revoked_at, audience) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)",
    )
    .bind(&token.hash)
    .bind(&g.family)
    .bind(&g.client_row)
    .bind(&g.user_row)
    .bind(&g.scope)
    .bind(g.auth_time)
    .bind(now)
    .bind(token.idle_expires_at.min(g.expires_at))
    .bind(g.expires_at)
    .bind(&g.audience)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The grace window: revokes the unused successor of a token spent at or after `since`, and
/// says whether there was one. A successor already used means the retry is not a retry.
async fn replace_unused_successor(
    tx: &mut Transaction<'_, Any>,
    hash: &[u8],
    since: i64,
    now: i64,
) -> Result<bool> {
    let replaced = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE used_at IS NULL AND revoked_at IS NULL \
         AND token_hash = (SELECT replaced_by FROM refresh_tokens WHERE token_hash = $2 AND used_at >= $3 \
         AND revoked_at IS NULL AND expires_at > $1 \
         AND family NOT IN (SELECT family FROM revoked_families))",
    )
    .bind(now)
    .bind(hash)
    .bind(since)
    .execute(&mut **tx)
    .await?;
    Ok(replaced.rows_affected() == 1)
}

/// After a redemption found nothing usable: a value used before is a replay, and its family is
/// revoked; anything else (unknown, expired) is merely invalid. `seen` selects `family, used_at`.
async fn replay_or_invalid<T>(
    tx: &mut Transaction<'_, Any>,
    seen: &'static str,
    hash: &[u8],
    reason: &str,
    now: i64,
) -> Result<Redemption<T>> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(seen)
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some((family, Some(_))) => {
            revoke_family(tx, &family, reason, now).await?;
            Redemption::Replayed { family }
        }
        _ => Redemption::Invalid,
    })
}

async fn revoke_family(
    tx: &mut Transaction<'_, Any>,
    family: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO revoked_families (family, revoked_at, reason) VALUES ($1, $2, $3) ON CONFLICT (family) DO NOTHING")
        .bind(family)
        .bind(now)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
