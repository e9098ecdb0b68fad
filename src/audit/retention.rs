//! Retention: events older than the configured age are deleted (the job runs it hourly).

use crate::store::{self, Store};

/// Deletes the events older than `retention` seconds before `now`; the hourly job's one step.
pub async fn purge_expired(store: &Store, retention: i64, now: i64) -> store::Result<u64> {
    store.purge_audit(now.saturating_sub(retention)).await
}
