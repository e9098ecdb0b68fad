//! The audit trail: its events, the recorder that queues them, the writer that stores them: events queue without waiting, one writer task stores them in batches.
//!
//! [`Audit::record`] never awaits: it stamps the event and puts it on a bounded channel, or, when
//! the channel is full, drops it and counts the drop. [`Audit::record_token_issued`] only bumps a
//! counter, so the token hot path stays fast; each flush stores one row per client and grant with
//! the count. The writer stores a batch every [`FLUSH_INTERVAL`] or at [`BATCH_SIZE`] events; when
//! the database fails it keeps the batch (up to [`MAX_RETAINED`] events) and retries with backoff.
//!
//! No column may hold a password, secret or token: callers build `detail` from fixed text, and
//! every field is cut to [`MAX_FIELD_CHARS`] characters with control characters removed.

mod event;
mod retention;
mod writer;

use event::clean;
pub use event::{AuditEvent, EventKind, Outcome};
pub use retention::purge_expired;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::protocol::GrantType;
use crate::store::audit::AuditRow;
use crate::store::{self, Store};
use writer::Writer;

/// The longest `detail` (and any other field) stored, in characters.
pub const MAX_FIELD_CHARS: usize = 200;
/// The actor of changes made through the command line.
pub const CLI_ACTOR: &str = "cli";
/// Events waiting for the writer before `record` starts dropping them.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Events that make the writer store a batch before the next tick.
pub const BATCH_SIZE: usize = 256;
/// The longest an event waits before the writer tries to store it.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Events the writer keeps while the database is failing; later ones are dropped and counted.
pub const MAX_RETAINED: usize = 10_000;
/// Clients with uncounted issuance kept between flushes; more are dropped and counted.
pub(super) const MAX_ISSUING_CLIENTS: usize = 10_000;
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most one warning about dropped events per this many seconds.
pub(super) const DROP_WARNING_SECS: i64 = 60;

/// The handle that records events; cheap to clone. See the module documentation.
#[derive(Clone, Debug)]
pub struct Audit {
    /// `None` when disabled: everything is discarded.
    tx: Option<mpsc::Sender<Message>>,
    shared: Arc<Shared>,
    clock: Clock,
}

#[derive(Debug)]
enum Message {
    Event(AuditRow),
    Flush(oneshot::Sender<store::Result<()>>),
}

/// What the handles and the writer both touch.
#[derive(Debug)]
struct Shared {
    /// Token issuance not yet stored, by client id.
    issued: Mutex<HashMap<String, Issued>>,
    dropped: AtomicU64,
    last_drop_warning: AtomicI64,
}

#[derive(Debug)]
struct Issued {
    tenant: Option<String>,
    counts: Vec<(GrantType, i64)>,
}

impl Audit {
    /// Starts the writer on `store`; events are stamped by `clock`. The task ends once every
    /// handle is gone and what was pending is stored (or could not be).
    pub fn spawn(store: Store, clock: Clock) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let audit = Self {
            tx: Some(tx),
            shared: Arc::new(Shared::new()),
            clock: clock.clone(),
        };
        let writer = Writer {
            store,
            clock,
            shared: Arc::clone(&audit.shared),
            rx,
            pending: Vec::new(),
            failures: 0,
            retry_at: None,
        };
        (audit, tokio::spawn(writer.run()))
    }

    /// A recorder that discards everything, for tests and tools that keep no trail.
    pub fn disabled() -> Self {
        Self {
            tx: None,
            shared: Arc::new(Shared::new()),
            clock: Clock::System,
        }
    }

    /// Queues the event, stamped now; never waits. A full queue drops it (see [`Audit::dropped`]).
    pub fn record(&self, event: AuditEvent) {
        let Some(tx) = &self.tx else { return };
        let now = self.clock.now();
        if tx.try_send(Message::Event(event.into_row(now))).is_err() {
            self.shared.note_dropped(1, now);
        }
    }

    /// Counts one issued token; the writer stores the count per client and grant at each flush.
    pub fn record_token_issued(&self, tenant: Option<&str>, client_id: &str, grant: GrantType) {
        if self.tx.is_none() {
            return;
        }
        let counted = self.shared.count_issued(tenant, client_id, grant);
        if !counted {
            self.shared.note_dropped(1, self.clock.now());
        }
    }

    /// Stores everything recorded so far, now; waits for the database. An error means the events
    /// are still pending and the writer retries them.
    pub async fn flush(&self) -> store::Result<()> {
        let Some(tx) = &self.tx else { return Ok(()) };
        let stopped = || store::Error::unavailable("the audit writer has stopped");
        let (reply, done) = oneshot::channel();
        tx.send(Message::Flush(reply))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Events lost so far (queue full, database down too long, writer stopped); for metrics.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            issued: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
            last_drop_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// False when too many clients are waiting to be counted.
    fn count_issued(&self, tenant: Option<&str>, client_id: &str, grant: GrantType) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = issued.get_mut(client_id) {
            match entry.counts.iter_mut().find(|(g, _)| *g == grant) {
                Some((_, n)) => *n += 1,
                None => entry.counts.push((grant, 1)),
            }
            return true;
        }
        if issued.len() >= MAX_ISSUING_CLIENTS {
            return false;
        }
        issued.insert(
            client_id.to_owned(),
            Issued {
                tenant: tenant.map(clean),
                counts: vec![(grant, 1)],
            },
        );
        true
    }

    /// The counted issuance as rows stamped `at`; the counters start again from zero.
    fn take_issued(&self, at: i64) -> Vec<AuditRow> {
        let issued =
            std::mem::take(&mut *self.issued.lock().unwrap_or_else(PoisonError::into_inner));
        let mut rows = Vec::new();
        for (client_id, entry) in issued {
            let client_id = clean(client_id);
            for (grant, count) in entry.counts {
                rows.push(AuditRow {
                    at,
                    event: EventKind::TokenIssued.as_str().to_owned(),
                    outcome: Outcome::Success.as_str().to_owned(),
                    tenant: entry.tenant.clone(),
                    actor: Some(client_id.clone()),
                    client_id: Some(client_id.clone()),
                    ip: None,
                    detail: Some(format!("grant {grant}")),
                    count,
                });
            }
        }
        rows.sort_by(|a, b| (&a.client_id, &a.detail).cmp(&(&b.client_id, &b.detail)));
        rows
    }

    fn note_dropped(&self, n: u64, now: i64) {
        let total = self
            .dropped
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        let last = self.last_drop_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= DROP_WARNING_SECS
            && self
                .last_drop_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = total,
                "audit events dropped: the audit writer cannot keep up or the database is unavailable"
            );
        }
    }
}

#[cfg(test)]
mod tests;
