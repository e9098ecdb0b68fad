//! Throttling of failed sign-ins, in the store so every node agrees.
//!
//! - An account is locked *for one address* after `threshold` failures from it, for a delay that
//!   doubles with each further failure up to `max_delay`; other addresses are unaffected, so a
//!   guesser cannot lock its victim out.
//! - An account is locked *everywhere* once failures from several addresses add up to
//!   `account_threshold` within `window` (each address counts at most `threshold`, so one address
//!   alone never gets there); the lock lifts as those failures age out of the window.
//! - An address is throttled once its failures across accounts reach `address_threshold` within
//!   `window` (password spraying).
//!
//! An "address" here is an IPv4 address or an IPv6 /64 (`crate::address::network`).
//!
//! Unknown usernames are counted exactly like real ones, so a lock tells nothing about whether an
//! account exists. Each attempt is counted before its password is hashed, and a locked attempt is
//! refused without hashing.

use std::net::IpAddr;

use crate::config::LockoutPolicy;
use crate::crypto::SecretHash;
use crate::store::login_failures::{AttemptLimits, Reservation};
use crate::store::{self, Store};

/// Pair counters forget after a day without failures.
const FORGET_AFTER: i64 = 86_400;

/// May this attempt be checked at all?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check the password; the attempt is already counted as a failure, and `locks_until` is
    /// set when counting it locked the pair (the lock to report if the password is wrong).
    Open { locks_until: Option<i64> },
    /// Refused without checking the password; try again in this many seconds.
    Closed { retry_after: i64 },
}

pub struct Lockout {
    policy: LockoutPolicy,
}

/// The key an account is counted under: a hash, since people type passwords into the username
/// field. Tenant slugs cannot contain the newline, so the pair maps to one key.
pub fn account_key(tenant: &str, username: &str) -> SecretHash {
    SecretHash::of(&format!("{tenant}\n{username}"))
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self { policy }
    }

    /// Counts the attempt before its password is checked (a success clears it again), so
    /// concurrent guesses, on any number of nodes, never get past the thresholds.
    pub async fn gate(
        &self,
        store: &Store,
        account: &SecretHash,
        address: IpAddr,
        now: i64,
    ) -> store::Result<Gate> {
        let p = &self.policy;
        let limits = AttemptLimits {
            window_start: now - p.window,
            forget_before: now - FORGET_AFTER,
            per_address_cap: p.threshold,
            account: p.account_threshold,
            address: p.address_threshold,
        };
        let reserved = store
            .reserve_login_attempt(account.as_bytes(), &network(address), now, limits, |n| {
                self.delay(n)
            })
            .await?;
        Ok(match reserved {
            Reservation::Granted { locked_until } => Gate::Open {
                locks_until: locked_until,
            },
            Reservation::PairLocked { until } => Gate::Closed {
                retry_after: until - now,
            },
            Reservation::OverThreshold => Gate::Closed {
                retry_after: p.window,
            },
        })
    }

    pub async fn succeeded(
        &self,
        store: &Store,
        account: &SecretHash,
        address: IpAddr,
    ) -> store::Result<()> {
        store
            .clear_login_failures(account.as_bytes(), &network(address))
            .await
    }

    /// The lock after the `failures`-th failure: none below the threshold, then doubling.
    fn delay(&self, failures: i64) -> Option<i64> {
        let p = &self.policy;
        let beyond = failures.checked_sub(p.threshold).filter(|n| *n >= 0)?;
        let factor = 1_i64.checked_shl(u32::try_from(beyond.min(62)).unwrap_or(62))?;
        Some(p.base_delay.saturating_mul(factor).min(p.max_delay))
    }
}

/// Failures count per network (an IPv6 /64), stored as text.
fn network(address: IpAddr) -> String {
    crate::address::network(address).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout() -> Lockout {
        Lockout::new(LockoutPolicy {
            threshold: 3,
            base_delay: 2,
            max_delay: 60,
            account_threshold: 10,
            address_threshold: 20,
            window: 900,
        })
    }

    #[test]
    fn delays_start_at_the_threshold_double_and_stop_at_the_cap() {
        let l = lockout();
        let delays: Vec<Option<i64>> = (1..=10).map(|n| l.delay(n)).collect();
        assert_eq!(
            delays,
            [
                None,
                None,
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60)
            ]
        );
        assert_eq!(l.delay(i64::MAX), Some(60));
    }

    #[test]
    fn account_keys_separate_tenants() {
        // Tenant slugs cannot hold the separator, so (tenant, username) maps to one key.
        assert_ne!(
            account_key("acme", "ada").as_bytes(),
            account_key("other", "ada").as_bytes()
        );
        assert_eq!(
            account_key("acme", "ada").as_bytes(),
            account_key("acme", "ada").as_bytes()
        );
    }
}
