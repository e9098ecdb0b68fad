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
//! account exists, and a locked attempt is refused before any password is hashed.

use std::net::IpAddr;

use crate::config::LockoutPolicy;
use crate::crypto::SecretHash;
use crate::store::{self, Store};

/// Pair counters forget after a day without failures.
const FORGET_AFTER: i64 = 86_400;

/// May this attempt be checked at all?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refused without checking the password; try again in this many seconds.
    Closed {
        retry_after: i64,
    },
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

    pub async fn gate(
        &self,
        store: &Store,
        account: &SecretHash,
        address: IpAddr,
        now: i64,
    ) -> store::Result<Gate> {
        let p = &self.policy;
        let counts = store
            .login_failure_counts(
                account.as_bytes(),
                &network(address),
                now - p.window,
                p.threshold,
            )
            .await?;
        Ok(if counts.locked_until > now {
            Gate::Closed {
                retry_after: counts.locked_until - now,
            }
        } else if counts.account >= p.account_threshold || counts.address >= p.address_threshold {
            Gate::Closed {
                retry_after: p.window,
            }
        } else {
            Gate::Open
        })
    }

    /// Counts a failure; returns the lock's end if this failure locks the pair.
    pub async fn failed(
        &self,
        store: &Store,
        account: &SecretHash,
        address: IpAddr,
        now: i64,
    ) -> store::Result<Option<i64>> {
        let address = network(address);
        let failures = store
            .add_login_failure(account.as_bytes(), &address, now, now - FORGET_AFTER)
            .await?;
        let Some(delay) = self.delay(failures) else {
            return Ok(None);
        };
        store
            .lock_login(account.as_bytes(), &address, now + delay)
            .await?;
        Ok(Some(now + delay))
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
