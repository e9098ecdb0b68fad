//! Failed sign-ins per (account, client address), the memory behind `signin::lockout`.

use super::{Result, Store};

/// What the store knows about recent failures around one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureCounts {
    /// Until when this account is locked for this address (0 if never).
    pub locked_until: i64,
    /// Recent failures of the account, each address counting at most `per_address_cap`.
    pub account: i64,
    /// Recent failures from the address, each account counting at most `per_address_cap`.
    pub address: i64,
}

impl Store {
    /// Counts around (account, address) since `window_start`. Capping each row's share means one
    /// address alone can never reach an account-wide lock, and one account cannot dominate an
    /// address's spraying count.
    pub async fn login_failure_counts(
        &self,
        account_hash: &[u8],
        address: &str,
        window_start: i64,
        per_address_cap: i64,
    ) -> Result<FailureCounts> {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT \
             CAST(COALESCE((SELECT locked_until FROM login_failures WHERE account_hash = $1 AND address = $2), 0) AS BIGINT), \
             (SELECT CAST(COALESCE(SUM(CASE WHEN failures > $3 THEN $3 ELSE failures END), 0) AS BIGINT) \
              FROM login_failures WHERE account_hash = $1 AND last_failure_at >= $4), \
             (SELECT CAST(COALESCE(SUM(CASE WHEN failures > $3 THEN $3 ELSE failures END), 0) AS BIGINT) \
              FROM login_failures WHERE address = $2 AND last_failure_at >= $4)",
        )
        .bind(account_hash)
        .bind(address)
        .bind(per_address_cap)
        .bind(window_start)
        .fetch_one(self.pool())
        .await?;
        Ok(FailureCounts {
            locked_until: row.0,
            account: row.1,
            address: row.2,
        })
    }

    /// Adds a failure and returns the pair's count; a pair quiet since `forget_before` starts over.
    pub async fn add_login_failure(
        &self,
        account_hash: &[u8],
        address: &str,
        now: i64,
        forget_before: i64,
    ) -> Result<i64> {
        let (failures,): (i64,) = sqlx::query_as(
            "INSERT INTO login_failures (account_hash, address, failures, last_failure_at, locked_until) \
             VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (account_hash, address) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_failure_at < $4 THEN 1 ELSE login_failures.failures + 1 END, \
             last_failure_at = $3 \
             RETURNING failures",
        )
        .bind(account_hash)
        .bind(address)
        .bind(now)
        .bind(forget_before)
        .fetch_one(self.pool())
        .await?;
        Ok(failures)
    }

    pub async fn lock_login(&self, account_hash: &[u8], address: &str, until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE login_failures SET locked_until = $3 WHERE account_hash = $1 AND address = $2",
        )
        .bind(account_hash)
        .bind(address)
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A successful sign-in clears the pair's failures.
    pub async fn clear_login_failures(&self, account_hash: &[u8], address: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE account_hash = $1 AND address = $2")
            .bind(account_hash)
            .bind(address)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Drops rows quiet since `before`; housekeeping, so the table follows recent traffic.
    pub async fn purge_login_failures(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM login_failures WHERE last_failure_at < $1 AND locked_until < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
