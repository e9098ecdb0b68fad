//! Settings read from the environment, and the machine's core count.

use std::time::Duration;

use super::Result;

pub fn count_from_env(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{name}={v:?}: want a count").into()),
        Err(_) => Ok(default),
    }
}

pub fn secs_from_env(name: &str, default: f64) -> Result<Duration> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| format!("{name}={v:?}: want seconds, e.g. 2.5").into()),
        Err(_) => Ok(Duration::from_secs_f64(default)),
    }
}

/// A positive number, fractions allowed (a rate per second, say).
pub fn positive_from_env(name: &str, default: f64) -> Result<f64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or_else(|| format!("{name}={v:?}: want a positive number").into()),
        Err(_) => Ok(default),
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
