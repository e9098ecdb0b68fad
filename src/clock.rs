//! The one place that reads the time, so expiry and rotation are testable without sleeping.
//! `clippy.toml` forbids reading it anywhere else.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of UTC unix seconds: the system clock, or a fixed one tests move by hand.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Fixed(Arc<AtomicI64>),
}

impl Clock {
    pub fn fixed(unix_seconds: i64) -> Self {
        Self::Fixed(Arc::new(AtomicI64::new(unix_seconds)))
    }

    pub fn now(&self) -> i64 {
        match self {
            Self::System => time::OffsetDateTime::now_utc().unix_timestamp(),
            Self::Fixed(t) => t.load(Ordering::Relaxed),
        }
    }

    pub fn now_millis(&self) -> u64 {
        match self {
            Self::System => {
                let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                u64::try_from(nanos / 1_000_000).unwrap_or(0)
            }
            Self::Fixed(t) => u64::try_from(t.load(Ordering::Relaxed)).unwrap_or(0) * 1000,
        }
    }

    /// Moves a fixed clock forward; does nothing to the system clock.
    pub fn advance(&self, seconds: i64) {
        if let Self::Fixed(t) = self {
            t.fetch_add(seconds, Ordering::Relaxed);
        }
    }
}

/// A monotonic instant, for measuring durations (latencies, backoff), never for dates.
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}
