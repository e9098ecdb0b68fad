//! The audit trail's recorder: events queue without waiting, one writer task stores them in batches.
//!
//! [`Audit::record`] never awaits: it stamps the event and puts it on a bounded channel, or, when
//! the channel is full, drops it and counts the drop. [`Audit::record_token_issued`] only bumps a
//! counter, so the token hot path stays fast; each flush stores one row per client and grant with
//! the count. The writer stores a batch every [`FLUSH_INTERVAL`] or at [`BATCH_SIZE`] events; when
//! the database fails it keeps the batch (up to [`MAX_RETAINED`] events) and retries with backoff.
//!
//! No column may hold a password, secret or token: callers build `detail` from fixed text, and
//! every field is cut to [`MAX_FIELD_CHARS`] characters with control characters removed.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::Clock;
use crate::protocol::GrantType;
use crate::store::audit::AuditRow;
use crate::store::{self, Store};

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
const MAX_ISSUING_CLIENTS: usize = 10_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most one warning about dropped events per this many seconds.
const DROP_WARNING_SECS: i64 = 60;
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    SigninSuccess,
    SigninFailure,
    SigninLockout,
    ConsentGranted,
    ConsentDenied,
    TokenIssued,
    RefreshReuseDetected,
    TokenRevoked,
    ClientCreated,
    ClientChanged,
    ClientDeleted,
    UserCreated,
    UserChanged,
    UserDeleted,
    KeyRotated,
    KeyRevoked,
    KeyImported,
}

impl EventKind {
    pub const ALL: [Self; 17] = [
        Self::SigninSuccess,
        Self::SigninFailure,
        Self::SigninLockout,
        Self::ConsentGranted,
        Self::ConsentDenied,
        Self::TokenIssued,
        Self::RefreshReuseDetected,
        Self::TokenRevoked,
        Self::ClientCreated,
        Self::ClientChanged,
        Self::ClientDeleted,
        Self::UserCreated,
        Self::UserChanged,
        Self::UserDeleted,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::KeyImported,
    ];

    /// The name stored in the `event` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigninSuccess => "signin.success",
            Self::SigninFailure => "signin.failure",
            Self::SigninLockout => "signin.lockout",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentDenied => "consent.denied",
            Self::TokenIssued => "token.issued",
            Self::RefreshReuseDetected => "refresh.reuse_detected",
            Self::TokenRevoked => "token.revoked",
            Self::ClientCreated => "client.created",
            Self::ClientChanged => "client.changed",
            Self::ClientDeleted => "client.deleted",
            Self::UserCreated => "user.created",
            Self::UserChanged => "user.changed",
            Self::UserDeleted => "user.deleted",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyImported => "key.imported",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    /// The name stored in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security event, built with `new` and the optional fields that apply.
///
/// ```
/// use castellan::audit::{AuditEvent, EventKind, Outcome};
/// let event = AuditEvent::new(EventKind::SigninFailure, Outcome::Failure)
///     .tenant("default")
///     .ip("192.0.2.7")
///     .detail("bad password");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    kind: EventKind,
    outcome: Outcome,
    tenant: Option<String>,
    actor: Option<String>,
    client_id: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

impl AuditEvent {
    pub fn new(kind: EventKind, outcome: Outcome) -> Self {
        Self {
            kind,
            outcome,
            tenant: None,
            actor: None,
            client_id: None,
            ip: None,
            detail: None,
        }
    }

    /// The tenant's slug.
    pub fn tenant(mut self, tenant: impl fmt::Display) -> Self {
        self.tenant = Some(clean(tenant));
        self
    }

    /// Who acted: a user id, a client id, or [`CLI_ACTOR`]. Never a submitted username that
    /// matched no user (people type their password into the username field).
    pub fn actor(mut self, actor: impl fmt::Display) -> Self {
        self.actor = Some(clean(actor));
        self
    }

    /// The OAuth client involved.
    pub fn client(mut self, client_id: impl fmt::Display) -> Self {
        self.client_id = Some(clean(client_id));
        self
    }

    /// The peer's address.
    pub fn ip(mut self, ip: impl fmt::Display) -> Self {
        self.ip = Some(clean(ip));
        self
    }

    /// Short fixed text (`"bad password"`, `"kid 0193…"`); never a secret, token or password.
    /// Cut to [`MAX_FIELD_CHARS`] characters.
    pub fn detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(clean(detail));
        self
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The row to store, stamped `at` (unix seconds); the CLI can insert it directly.
    pub fn into_row(self, at: i64) -> AuditRow {
        AuditRow {
            at,
            event: self.kind.as_str().to_owned(),
            outcome: self.outcome.as_str().to_owned(),
            tenant: self.tenant,
            actor: self.actor,
            client_id: self.client_id,
            ip: self.ip,
            detail: self.detail,
            count: 1,
        }
    }
}

/// At most [`MAX_FIELD_CHARS`] characters, none of them control characters.
fn clean(value: impl fmt::Display) -> String {
    value
        .to_string()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect()
}

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

/// The task that owns the pending events and stores them.
struct Writer {
    store: Store,
    clock: Clock,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Message>,
    pending: Vec<AuditRow>,
    /// Failed writes in a row.
    failures: u32,
    /// After a failure, no timed or size-triggered write before this instant.
    retry_at: Option<Instant>,
}

impl Writer {
    async fn run(mut self) {
        let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(Message::Event(row)) => {
                        self.retain(row);
                        if self.pending.len() >= BATCH_SIZE && self.may_write() {
                            let _ = self.write().await;
                        }
                    }
                    Some(Message::Flush(reply)) => {
                        let result = self.write().await;
                        let _ = reply.send(result);
                    }
                    None => break,
                },
                _ = ticker.tick() => {
                    if self.may_write() {
                        let _ = self.write().await;
                    }
                }
            }
        }
        if self.write().await.is_err() {
            let lost = u64::try_from(self.pending.len()).unwrap_or(u64::MAX);
            self.shared.note_dropped(lost, self.clock.now());
        }
    }

    fn retain(&mut self, row: AuditRow) {
        if self.pending.len() < MAX_RETAINED {
            self.pending.push(row);
        } else {
            self.shared.note_dropped(1, self.clock.now());
        }
    }

    fn may_write(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Stores the pending events and the counted issuance in one transaction; keeps them on error.
    async fn write(&mut self) -> store::Result<()> {
        for row in self.shared.take_issued(self.clock.now()) {
            self.retain(row);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.store.insert_audit(&self.pending).await {
            Ok(()) => {
                self.pending.clear();
                self.failures = 0;
                self.retry_at = None;
                Ok(())
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let delay = backoff(self.failures);
                self.retry_at = Some(Instant::now() + delay);
                tracing::warn!(
                    error = %e,
                    pending = self.pending.len(),
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "cannot store audit events; keeping them and retrying"
                );
                Err(e)
            }
        }
    }
}

/// 200 ms after the first failure, doubling up to 30 s.
fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(8);
    (FLUSH_INTERVAL * factor).min(MAX_BACKOFF)
}

/// Deletes the events older than `retention` seconds before `now`; one step of [`retention_loop`].
pub async fn purge_expired(store: &Store, retention: i64, now: i64) -> store::Result<u64> {
    store.purge_audit(now.saturating_sub(retention)).await
}

/// Purges expired events at start and every hour; every node may run it.
pub async fn retention_loop(store: Store, retention: i64, clock: Clock) {
    let mut ticker = tokio::time::interval(RETENTION_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match purge_expired(&store, retention, clock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired audit events"),
            Err(e) => tracing::warn!(error = %e, "cannot purge expired audit events; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        Store::open(&url, 2).await.unwrap()
    }

    fn signin_failure() -> AuditEvent {
        AuditEvent::new(EventKind::SigninFailure, Outcome::Failure)
            .tenant("default")
            .ip("192.0.2.7")
            .detail("bad password")
    }

    #[test]
    fn event_names_are_distinct_and_dotted() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.iter().all(|n| n.contains('.')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }

    #[test]
    fn fields_are_cut_and_stripped_of_control_characters() {
        let row = AuditEvent::new(EventKind::ClientChanged, Outcome::Success)
            .actor("ev\nil\u{1b}[31m")
            .detail("x".repeat(500))
            .into_row(7);
        assert_eq!(row.actor.as_deref(), Some("evil[31m"));
        assert_eq!(row.detail.map(|d| d.chars().count()), Some(MAX_FIELD_CHARS));
        assert_eq!(
            (row.at, row.event.as_str(), row.outcome.as_str(), row.count),
            (7, "client.changed", "success", 1)
        );
    }

    #[test]
    fn issuance_is_counted_per_client_and_grant_until_taken() {
        let shared = Shared::new();
        for _ in 0..3 {
            shared.count_issued(Some("default"), "svc-a", GrantType::ClientCredentials);
        }
        shared.count_issued(Some("default"), "svc-a", GrantType::RefreshToken);
        shared.count_issued(Some("acme"), "svc-b", GrantType::ClientCredentials);
        shared.count_issued(Some("acme"), "svc-b", GrantType::ClientCredentials);

        let rows = shared.take_issued(100);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.at,
                    r.tenant.as_deref(),
                    r.client_id.as_deref(),
                    r.detail.as_deref(),
                    r.count,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    100,
                    Some("default"),
                    Some("svc-a"),
                    Some("grant client_credentials"),
                    3
                ),
                (
                    100,
                    Some("default"),
                    Some("svc-a"),
                    Some("grant refresh_token"),
                    1
                ),
                (
                    100,
                    Some("acme"),
                    Some("svc-b"),
                    Some("grant client_credentials"),
                    2
                ),
            ]
        );
        assert!(rows.iter().all(|r| r.event == "token.issued"));
        assert!(shared.take_issued(101).is_empty(), "counters start again");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(2);
        let audit = Audit {
            tx: Some(tx),
            shared: Arc::new(Shared::new()),
            clock: Clock::fixed(1),
        };
        for _ in 0..5 {
            audit.record(signin_failure());
        }
        assert_eq!(audit.dropped(), 3);
    }

    #[test]
    fn a_disabled_recorder_discards_everything() {
        let audit = Audit::disabled();
        audit.record(signin_failure());
        audit.record_token_issued(None, "svc", GrantType::ClientCredentials);
        assert_eq!(audit.dropped(), 0);
        assert!(audit.shared.take_issued(0).is_empty());
    }

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(4), Duration::from_millis(1600));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn events_and_counts_are_stored_on_flush_and_when_the_last_handle_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let (audit, writer) = Audit::spawn(store.clone(), Clock::fixed(1_000));
        audit.record(signin_failure());
        for _ in 0..3 {
            audit.record_token_issued(Some("default"), "svc", GrantType::ClientCredentials);
        }
        audit.flush().await.unwrap();
        let rows = store.audit_tail(None, None, 10).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0], signin_failure().into_row(1_000));
        assert_eq!((rows[1].event.as_str(), rows[1].count), ("token.issued", 3));

        audit.record(signin_failure().detail("after the flush"));
        drop(audit);
        writer.await.unwrap();
        let rows = store.audit_tail(None, None, 10).await.unwrap();
        assert_eq!(rows[2].detail.as_deref(), Some("after the flush"));
    }

    #[tokio::test]
    async fn a_failing_database_keeps_the_batch_and_the_writer_retries_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let (audit, _writer) = Audit::spawn(store.clone(), Clock::fixed(1_000));
        sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
            .execute(store.pool())
            .await
            .unwrap();
        for _ in 0..3 {
            audit.record(signin_failure());
        }
        audit.record_token_issued(Some("default"), "svc", GrantType::ClientCredentials);
        assert!(audit.flush().await.is_err(), "the table is gone");
        audit.record(signin_failure().detail("during the outage"));

        sqlx::query("ALTER TABLE audit_events_away RENAME TO audit_events")
            .execute(store.pool())
            .await
            .unwrap();
        // No flush: the writer's own retry stores the kept batch.
        let deadline = Instant::now() + Duration::from_secs(5);
        let rows = loop {
            let rows = store.audit_tail(None, None, 10).await.unwrap();
            if !rows.is_empty() || Instant::now() > deadline {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(rows.len(), 5, "{rows:?}");
        assert_eq!(rows.iter().map(|r| r.count).sum::<i64>(), 5);
        assert_eq!(rows[4].detail.as_deref(), Some("during the outage"));
        assert_eq!(audit.dropped(), 0);
    }
}
