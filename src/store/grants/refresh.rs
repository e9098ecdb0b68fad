//! Refresh tokens: stored, rotated once each (a retry in the grace window gets the same
//! successor), introspected and revoked with their whole family.

use sqlx::{Any, Transaction};

use super::{
    IssuedAccess, NewRefresh, Redemption, RefreshGrant, RefreshRow, insert_access, insert_refresh,
    replay_or_invalid, revoke_family,
};
use crate::store::{Result, Store};

impl Store {
    pub async fn insert_refresh(&self, token: &NewRefresh, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_refresh(&mut tx, token, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a refresh token once and stores its successor (and `access`) in the same
    /// transaction. A used token presented again revokes its whole family, unless it was spent
    /// less than `grace` seconds ago and `successor` derives the very successor stored then,
    /// still unused: a client retrying after a lost response gets that same successor again, so
    /// a replayer inside the window cannot take the family over. If `successor` declines (wrong
    /// client, wider scope), the transaction rolls back and the token stays usable; during the
    /// grace window a declined retry counts as a replay.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8],
        access: &IssuedAccess,
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
        if used.rows_affected() == 1 {
            let row: RefreshRow = sqlx::query_as(
                "SELECT family, client_id, user_id, scope, audience, auth_time, expires_at, successor_salt, sid FROM refresh_tokens WHERE token_hash = $1",
            )
                .bind(hash)
                .fetch_one(&mut *tx)
                .await?;
            let grant = RefreshGrant::from(row);
            let Some(next) = successor(&grant) else {
                tx.rollback().await?;
                return Ok(Redemption::Declined(grant));
            };
            insert_refresh(&mut tx, &next, now).await?;
            sqlx::query("UPDATE refresh_tokens SET replaced_by = $1 WHERE token_hash = $2")
                .bind(&next.hash)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            insert_access(&mut tx, access, &grant.family).await?;
            tx.commit().await?;
            return Ok(Redemption::Fresh(grant));
        }
        if grace > 0
            && let Some(grant) = retried(&mut tx, hash, now - grace, now, successor).await?
        {
            insert_access(&mut tx, access, &grant.family).await?;
            tx.commit().await?;
            return Ok(Redemption::Fresh(grant));
        }
        let seen = "SELECT family, used_at FROM refresh_tokens WHERE token_hash = $1";
        let outcome = replay_or_invalid(&mut tx, seen, hash, "refresh token reused", now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// A live refresh token's grant (not used, revoked or expired), for introspection.
    pub async fn live_refresh(&self, hash: &[u8], now: i64) -> Result<Option<RefreshGrant>> {
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT family, client_id, user_id, scope, audience, auth_time, expires_at, successor_salt, sid FROM refresh_tokens \
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

/// The grace window: the grant of a token spent at or after `since` whose stored successor is
/// still unused and is the one `successor` derives again (same client, same token); else none.
async fn retried(
    tx: &mut Transaction<'_, Any>,
    hash: &[u8],
    since: i64,
    now: i64,
    successor: impl FnOnce(&RefreshGrant) -> Option<NewRefresh>,
) -> Result<Option<RefreshGrant>> {
    let row: Option<RetriedRow> = sqlx::query_as(
        "SELECT family, client_id, user_id, scope, audience, auth_time, expires_at, successor_salt, sid, replaced_by FROM refresh_tokens WHERE token_hash = $1 AND used_at >= $2 \
         AND revoked_at IS NULL AND expires_at > $3 AND family NOT IN (SELECT family FROM revoked_families)",
    )
        .bind(hash)
        .bind(since)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(RetriedRow {
        row,
        replaced_by: Some(replaced_by),
    }) = row
    else {
        return Ok(None);
    };
    let grant = RefreshGrant::from(row);
    if grant.successor_salt.is_none() {
        return Ok(None);
    }
    let Some(next) = successor(&grant).filter(|n| n.hash == replaced_by) else {
        return Ok(None);
    };
    // A no-op update rather than a read: it takes the successor's row lock, so a use of the
    // successor racing this retry is waited for, and then the successor is seen as spent.
    let unused = sqlx::query(
        "UPDATE refresh_tokens SET used_at = used_at WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(&next.hash)
    .execute(&mut **tx)
    .await?;
    Ok((unused.rows_affected() == 1).then_some(grant))
}

#[derive(sqlx::FromRow)]
struct RetriedRow {
    #[sqlx(flatten)]
    row: RefreshRow,
    replaced_by: Option<Vec<u8>>,
}
