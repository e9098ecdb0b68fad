//! Single-use authorization codes and rotating refresh tokens, with replay detection. Codes
//! and what both share are here; refresh-token rotation is in `refresh.rs`.
//!
//! Each redemption is one conditional update, so two nodes (or two racing requests) can never
//! both succeed; the loser learns the value was already used and the whole family is revoked.

use sqlx::{Any, Transaction};

mod refresh;

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
    /// The approving session's `sid`, for the ID token.
    pub sid: Option<String>,
    /// Whether the authorization request named `redirect_uri` (then the token request must).
    pub redirect_uri_given: bool,
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
    /// What this token's successor is derived from; none for tokens stored before it was kept.
    pub successor_salt: Option<Vec<u8>>,
    /// The session of the sign-in, for ID tokens issued on refresh.
    pub sid: Option<String>,
}

/// A refresh token to store: its hash, what it grants and until when.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: Vec<u8>,
    pub grant: RefreshGrant,
    pub idle_expires_at: i64,
    /// The salt its own successor will be derived with.
    pub salt: Vec<u8>,
}

/// An access token issued to a grant, remembered so that revoking the grant revokes it.
#[derive(Debug, Clone)]
pub struct IssuedAccess {
    pub jti: String,
    /// The public `client_id`, as in revoked tokens.
    pub client_id: String,
    pub expires_at: i64,
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
    sid: Option<String>,
    redirect_uri_given: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct RefreshRow {
    family: String,
    client_id: String,
    user_id: String,
    scope: String,
    audience: String,
    auth_time: i64,
    expires_at: i64,
    successor_salt: Option<Vec<u8>>,
    sid: Option<String>,
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
            successor_salt: row.successor_salt,
            sid: row.sid,
        }
    }
}

impl From<CodeRow> for CodeGrant {
    fn from(row: CodeRow) -> Self {
        Self {
            family: row.family,
            client_row: row.client_id,
            user_row: row.user_id,
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            audience: row.audience,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            auth_time: row.auth_time,
            sid: row.sid,
            redirect_uri_given: row.redirect_uri_given != 0,
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
             code_challenge, auth_time, created_at, expires_at, used_at, audience, sid, redirect_uri_given) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13, $14)",
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
        .bind(grant.sid.as_deref())
        .bind(i64::from(grant.redirect_uri_given))
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
    /// presentation revokes everything issued from the first, `access` included.
    pub async fn redeem_code(
        &self,
        hash: &[u8],
        now: i64,
        access: &IssuedAccess,
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
                "SELECT family, client_id, user_id, redirect_uri, scope, audience, nonce, code_challenge, auth_time, \
                 sid, redirect_uri_given FROM authorization_codes WHERE code_hash = $1",
            )
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            let grant = CodeGrant::from(row);
            if let Some(refresh) = issue(&grant) {
                insert_refresh(&mut tx, &refresh, now).await?;
            }
            insert_access(&mut tx, access, &grant.family).await?;
            tx.commit().await?;
            return Ok(Redemption::Fresh(grant));
        }
        let seen = "SELECT family, used_at FROM authorization_codes WHERE code_hash = $1";
        let outcome =
            replay_or_invalid(&mut tx, seen, hash, "authorization code replayed", now).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

pub(super) async fn insert_refresh(
    tx: &mut Transaction<'_, Any>,
    token: &NewRefresh,
    now: i64,
) -> Result<()> {
    let g = &token.grant;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family, client_id, user_id, scope, auth_time, created_at, \
         idle_expires_at, expires_at, used_at, revoked_at, audience, successor_salt, sid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11, $12)",
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
    .bind(&token.salt)
    .bind(g.sid.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_access(
    tx: &mut Transaction<'_, Any>,
    access: &IssuedAccess,
    family: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO grant_access_tokens (jti, family, client_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&access.jti)
    .bind(family)
    .bind(&access.client_id)
    .bind(access.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// After a redemption found nothing usable: a value used before is a replay, and its family is
/// revoked; anything else (unknown, expired) is merely invalid. `seen` selects `family, used_at`.
pub(super) async fn replay_or_invalid<T>(
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

pub(super) async fn revoke_family(
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
    // The grant's access tokens end with it (RFC 7009 §2.1, RFC 9700 §4.14.2).
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, client_id, revoked_at, expires_at) \
         SELECT jti, client_id, $1, expires_at FROM grant_access_tokens WHERE family = $2 AND expires_at > $1 \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(now)
    .bind(family)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
