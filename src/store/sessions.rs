//! Browser sessions (by the SHA-256 of the cookie value) and remembered consent.

use super::{Result, Store};

/// A live session: who signed in, and when (`auth_time` of ID tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_row: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        user_row: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, ended_at) \
             VALUES ($1, $2, $3, $3, $4, NULL)",
        )
        .bind(id_hash)
        .bind(user_row)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session if it exists, has not ended or expired, and its user is still enabled.
    pub async fn find_session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.user_id, s.auth_time, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(user_row, auth_time, expires_at)| Session {
            user_row,
            auth_time,
            expires_at,
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

    /// Remembers that the user granted these scopes to the client.
    pub async fn record_consent(
        &self,
        user_row: &str,
        client_row: &str,
        scopes: &[&str],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for scope in scopes {
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, client_id, scope) DO UPDATE SET granted_at = excluded.granted_at",
            )
            .bind(user_row)
            .bind(client_row)
            .bind(*scope)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The scopes the user has granted the client at or after `since`, sorted.
    pub async fn consented_scopes(
        &self,
        user_row: &str,
        client_row: &str,
        since: i64,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND granted_at >= $3 ORDER BY scope",
        )
        .bind(user_row)
        .bind(client_row)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }
}
