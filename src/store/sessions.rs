//! Browser sessions (by the SHA-256 of the cookie value) and remembered consent.

use super::{Result, Store};

/// A live session: who signed in, and when (`auth_time` of ID tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_row: String,
    pub auth_time: i64,
    pub expires_at: i64,
    /// The session's public name in ID tokens; sessions from before it was kept have none.
    pub sid: Option<String>,
    /// SHA-256 of the authorization request this sign-in was made for.
    pub login_request_hash: Option<Vec<u8>>,
}

/// A session to store.
pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub sid: &'a str,
    pub user_row: &'a str,
    pub login_request_hash: &'a [u8],
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: String,
    auth_time: i64,
    expires_at: i64,
    sid: Option<String>,
    login_request_hash: Option<Vec<u8>>,
}

impl Store {
    pub async fn create_session(
        &self,
        new: &NewSession<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, ended_at, sid, \
             login_request_hash) VALUES ($1, $2, $3, $3, $4, NULL, $5, $6)",
        )
        .bind(new.id_hash)
        .bind(new.user_row)
        .bind(now)
        .bind(expires_at)
        .bind(new.sid)
        .bind(new.login_request_hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session if it exists, has not ended or expired, and its user is still enabled.
    pub async fn find_session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.user_id, s.auth_time, s.expires_at, s.sid, s.login_request_hash \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Session {
            user_row: r.user_id,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
            sid: r.sid,
            login_request_hash: r.login_request_hash,
        }))
    }

    /// Ends a session (logout); ending an unknown or ended session is not an error.
    pub async fn end_session(&self, id_hash: &[u8], now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Remembers that the user granted the client these scopes for tokens meant for `audience`;
    /// the empty scope stands for the audience itself.
    pub async fn record_consent(
        &self,
        user_row: &str,
        client_row: &str,
        audience: &str,
        scopes: &[&str],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for scope in scopes {
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, audience, scope, granted_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, client_id, audience, scope) DO UPDATE SET granted_at = excluded.granted_at",
            )
            .bind(user_row)
            .bind(client_row)
            .bind(audience)
            .bind(*scope)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The scopes the user has granted the client for `audience` at or after `since`, sorted
    /// (the empty scope first, when the audience itself was granted).
    pub async fn consented_scopes(
        &self,
        user_row: &str,
        client_row: &str,
        audience: &str,
        since: i64,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND audience = $3 \
             AND granted_at >= $4 ORDER BY scope",
        )
        .bind(user_row)
        .bind(client_row)
        .bind(audience)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }
}
