//! Revoked access tokens, shared by every node through the database.

use super::{Result, Store};

impl Store {
    /// Records a revocation; revoking twice is not an error (RFC 7009 §2.2).
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        // Rows past their token's expiry say nothing any more.
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}
