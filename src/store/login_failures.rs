//! Failed sign-ins per (account, client address), the memory behind `signin::lockout`.
//!
//! An attempt is counted *before* its password is checked, in one write transaction that also
//! checks every threshold, so attempts racing on any number of nodes can never together exceed
//! what the policy allows.

use sqlx::{Any, Transaction};

use super::{Backend, Result, Store};
use crate::crypto::SecretHash;

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

/// The thresholds a reservation checks; counts are of failures since `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    pub window_start: i64,
    /// A pair quiet since then starts counting over.
    pub forget_before: i64,
    /// One pair's share of the account and address sums.
    pub per_address_cap: i64,
    pub account: i64,
    pub address: i64,
}

/// The outcome of asking to check one password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted; `locked_until` is set when this very attempt locked the pair.
    Granted { locked_until: Option<i64> },
    /// The pair is locked until then; nothing was counted.
    PairLocked { until: i64 },
    /// The account or the address is over its threshold; nothing was counted.
    OverThreshold,
}

impl Store {
    /// Counts an attempt at (account, address) as a failure unless a lock or a threshold refuses
    /// it; a later success clears it. `lock_for(n)` is the lock, in seconds, that the pair's
    /// `n`-th failure sets, applied in the same transaction.
    pub async fn reserve_login_attempt(
        &self,
        account_hash: &[u8],
        address: &str,
        now: i64,
        limits: AttemptLimits,
        lock_for: impl FnOnce(i64) -> Option<i64>,
    ) -> Result<Reservation> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // SQLite's IMMEDIATE transaction serializes every writer; on PostgreSQL these locks
            // make the account-wide and address-wide sums exact. Always account first, so two
            // reservations never wait on each other in opposite orders.
            let address_hash = SecretHash::of(&format!("address\n{address}"));
            for key in [
                advisory_key(account_hash),
                advisory_key(address_hash.as_bytes()),
            ] {
                sqlx::query(
                    "SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_xact_lock($1)) AS l",
                )
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
        }
        let counts = counts(&mut tx, account_hash, address, limits).await?;
        if counts.locked_until > now {
            return Ok(Reservation::PairLocked {
                until: counts.locked_until,
            });
        }
        if counts.account >= limits.account || counts.address >= limits.address {
            return Ok(Reservation::OverThreshold);
        }
        // The WHERE re-checks the lock under the row's lock, should anything have slipped by.
        let counted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO login_failures (account_hash, address, failures, last_failure_at, locked_until) \
             VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (account_hash, address) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_failure_at < $4 THEN 1 ELSE login_failures.failures + 1 END, \
             last_failure_at = $3 \
             WHERE login_failures.locked_until <= $3 \
             RETURNING failures",
        )
        .bind(account_hash)
        .bind(address)
        .bind(now)
        .bind(limits.forget_before)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((failures,)) = counted else {
            let until = locked_until(&mut tx, account_hash, address).await?;
            return Ok(Reservation::PairLocked { until });
        };
        let locked_until = lock_for(failures).map(|delay| now.saturating_add(delay));
        if let Some(until) = locked_until {
            sqlx::query(
                "UPDATE login_failures SET locked_until = $3 WHERE account_hash = $1 AND address = $2",
            )
            .bind(account_hash)
            .bind(address)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Reservation::Granted { locked_until })
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

/// Counts around (account, address). Capping each row's share means one address alone can never
/// reach an account-wide lock, and one account cannot dominate an address's spraying count.
async fn counts(
    tx: &mut Transaction<'_, Any>,
    account_hash: &[u8],
    address: &str,
    limits: AttemptLimits,
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
    .bind(limits.per_address_cap)
    .bind(limits.window_start)
    .fetch_one(&mut **tx)
    .await?;
    Ok(FailureCounts {
        locked_until: row.0,
        account: row.1,
        address: row.2,
    })
}

async fn locked_until(
    tx: &mut Transaction<'_, Any>,
    account_hash: &[u8],
    address: &str,
) -> Result<i64> {
    let (until,): (i64,) = sqlx::query_as(
        "SELECT locked_until FROM login_failures WHERE account_hash = $1 AND address = $2",
    )
    .bind(account_hash)
    .bind(address)
    .fetch_one(&mut **tx)
    .await?;
    Ok(until)
}

/// A PostgreSQL advisory-lock key: the first 64 bits of a hash. A collision only makes two
/// unrelated reservations wait for each other.
fn advisory_key(hash: &[u8]) -> i64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(hash) {
        *to = *from;
    }
    i64::from_be_bytes(first)
}
