//! Client assertions accepted once: their `jti` is remembered until they have expired.

use super::{Error, Result, Store};

impl Store {
    /// Records that the assertion `jti` of `issuer` was used; `false` if it already was. One
    /// insert that conflicts on a replay, so two nodes racing on one assertion accept it once.
    pub async fn consume_assertion(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool> {
        let key = format!("{issuer}\n{jti}");
        let done = sqlx::query(
            "INSERT INTO client_assertion_jtis (assertion, expires_at) VALUES ($1, $2) \
             ON CONFLICT (assertion) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(self.pool())
        .await
        .map_err(Error::from)?;
        Ok(done.rows_affected() == 1)
    }
}
