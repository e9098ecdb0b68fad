//! Percentiles and the units and marks the reports print.

use std::time::Duration;

/// The `q` quantile (0 to 1) of sorted durations, by the nearest-rank method; zero if empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

/// Nothing when a target is met, a mark to follow the figure when it is not.
pub fn missed(met: bool) -> &'static str {
    if met { "" } else { "  MISSED" }
}

pub fn met_or_missed(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
