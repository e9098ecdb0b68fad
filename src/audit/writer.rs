//! The writer task: owns the pending events and stores them in batches, retrying with backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{BATCH_SIZE, FLUSH_INTERVAL, MAX_BACKOFF, MAX_RETAINED, Message, Shared};
use crate::clock::Clock;
use crate::store::audit::AuditRow;
use crate::store::{self, Store};

/// The task that owns the pending events and stores them.
pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) clock: Clock,
    pub(super) shared: Arc<Shared>,
    pub(super) rx: mpsc::Receiver<Message>,
    pub(super) pending: Vec<AuditRow>,
    /// Failed writes in a row.
    pub(super) failures: u32,
    /// After a failure, no timed or size-triggered write before this instant.
    pub(super) retry_at: Option<Instant>,
}

impl Writer {
    pub(super) async fn run(mut self) {
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
        self.retry_at
            .is_none_or(|at| Instant::from_std(crate::clock::monotonic()) >= at)
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
                self.retry_at = Some(Instant::from_std(crate::clock::monotonic()) + delay);
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
pub(super) fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(8);
    (FLUSH_INTERVAL * factor).min(MAX_BACKOFF)
}
