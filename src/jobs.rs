//! Scheduled work, spawned in one place: each job is one step that [`every`] repeats.
//!
//! Every node runs every job; the steps are idempotent or guarded in the database (rotation's
//! conditional updates keep one winner), so several nodes need no coordination here.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::error_chain::report;
use crate::http::state::AppState;
use crate::keys::rotation::Rotator;

/// How often a node looks for changes made by the CLI or other nodes.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How often a node checks whether a rotation step is due.
pub const ROTATION_INTERVAL: Duration = Duration::from_secs(2);
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs `step` now and then every `period`; a step that overruns delays the next one rather
/// than letting them pile up. The task runs until aborted.
pub fn every<F, Fut>(period: Duration, mut step: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            step().await;
        }
    })
}

/// The server's jobs. Rotation runs on its own only on the system clock: a fixed clock belongs
/// to its owner (a test), who drives the rotator as it moves time.
pub fn spawn(state: &AppState, config: &Config, rotator: &Arc<Rotator>) -> Vec<JoinHandle<()>> {
    let clock = state.ctx.clock.clone();
    let mut jobs = vec![
        every(REFRESH_INTERVAL, refresh(state.clone())),
        every(HOUSEKEEPING_INTERVAL, {
            let (state, window) = (state.clone(), config.lockout.window);
            move || housekeeping(state.clone(), window)
        }),
        every(RETENTION_INTERVAL, {
            let (state, retention) = (state.clone(), config.audit_retention);
            move || audit_retention(state.clone(), retention)
        }),
        every(Duration::from_secs(config.purge_interval), {
            let state = state.clone();
            move || purge(state.clone())
        }),
    ];
    if let Clock::System = clock {
        let rotator = Arc::clone(rotator);
        jobs.push(every(ROTATION_INTERVAL, move || {
            rotate(Arc::clone(&rotator))
        }));
    }
    jobs
}

/// Picks up changes made by the CLI or other nodes: clients and keys are reloaded on a new
/// generation. The first step only notes the generation it starts from.
fn refresh(state: AppState) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    const UNSEEN: i64 = i64::MIN;
    let seen = Arc::new(AtomicI64::new(UNSEEN));
    move || {
        let (state, seen) = (state.clone(), Arc::clone(&seen));
        Box::pin(async move {
            let generation = match state.store.generation().await {
                Ok(generation) => generation,
                Err(e) => {
                    tracing::warn!(error = %report(&e), "cannot check the store for changes");
                    return;
                }
            };
            match seen.load(Ordering::Relaxed) {
                UNSEEN => return seen.store(generation, Ordering::Relaxed),
                known if known == generation => return,
                _ => {}
            }
            state.ctx.clients.invalidate();
            match state.keys.refresh(&state.store).await {
                Ok(()) => seen.store(generation, Ordering::Relaxed),
                Err(e) => tracing::error!(
                    error = %report(&e),
                    "cannot reload signing keys; keeping the current set"
                ),
            }
        })
    }
}

/// Forgets idle rate-limit entries and old failed-login counts.
async fn housekeeping(state: AppState, lockout_window: i64) {
    state.limiters.forget_idle();
    let now = state.ctx.clock.now();
    // Pair counters are kept a day (`signin::lockout`), longer than any window.
    let before = now - lockout_window.max(86_400);
    if let Err(e) = state.store.purge_login_failures(before).await {
        tracing::warn!(error = %report(&e), "cannot purge old failed sign-ins");
    }
}

/// Deletes audit events past their retention.
async fn audit_retention(state: AppState, retention: i64) {
    let now = state.ctx.clock.now();
    match audit::purge_expired(&state.store, retention, now).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged expired audit events"),
        Err(e) => {
            tracing::warn!(error = %report(&e), "cannot purge expired audit events; retrying")
        }
    }
}

/// Deletes expired codes, sessions, refresh tokens and revocations; deleting what another node
/// already deleted is harmless.
async fn purge(state: AppState) {
    match state.store.purge_expired(state.ctx.clock.now()).await {
        Ok(counts) if counts.total() > 0 => {
            tracing::debug!(deleted = counts.total(), "purged expired rows")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %report(&e), "cannot purge expired rows; retrying later"),
    }
}

/// Performs a scheduled rotation step, if one is due.
async fn rotate(rotator: Arc<Rotator>) {
    if let Err(e) = rotator.tick().await {
        tracing::warn!(error = %e, "key rotation step failed; retrying");
    }
}
