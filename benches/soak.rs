//! Soak benchmark: client-credentials tokens at a steady rate for a long while, with no errors
//! and with the server's memory, open files and threads flat.
//!
//! `cargo bench --bench soak` starts the release server on SQLite as the issuance benchmark
//! does, then asks for tokens on a fixed timetable (open loop: a request goes out at its time
//! whether or not earlier ones have been answered) over a small pool of keep-alive connections;
//! see `support/load.rs`. Every answer must be 200 with an access token; anything else is an
//! error, counted by kind (status, body, connection, timeout).
//!
//! Every 10 s it samples the server's resident set (VmRSS), open file descriptors, threads, and
//! the tokens and errors so far; every minute it prints a line. At the end it reads the server's
//! own counters from `/metrics` and prints a summary, marking MET or MISSED:
//! - errors: none at all;
//! - flat memory: the least-squares slope of VmRSS from the end of the first minute (allocator
//!   arenas, caches and the database pool fill during it) to the end, within
//!   ±[`FLAT_SLOPE_KIB_PER_MIN`] KiB per minute. In runs too short for that to mean anything
//!   (under three minutes) the slope is shown from the first sample but not judged.
//!
//! The exit status is non-zero when a request failed, or the server failed to start or died.
//!
//! Environment (seconds may be fractional):
//! - `CASTELLAN_SOAK_RATE`: tokens per second on the timetable (default 400);
//! - `CASTELLAN_SOAK_SECS`: length of the run (default 600; e.g. 30 for a quick check);
//! - `CASTELLAN_SOAK_CONNECTIONS`: keep-alive connections in the pool (default 8);
//! - `CASTELLAN_SOAK_TIMEOUT_SECS`: a request's time limit once sent (default 5).
//!
//! Linux only: memory, threads and files are read from `/proc`.
// Benchmarks time themselves with the wall clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;

use support::Result;
use support::client::{Target, fetch};
use support::env::{count_from_env, positive_from_env, secs_from_env};
use support::load::{Finished, Minute, OpenLoop, Schedule};
use support::procfs::load_average;
use support::report::{met_or_missed, mib, millis, percentile};
use support::server::{Server, token_target, wait_for_first_token, wait_until_healthy};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const SAMPLES_PER_MINUTE: u32 = 6;
const MINUTE: Duration = Duration::from_secs(60);
/// The least time after the first minute over which memory's slope is judged.
const MIN_JUDGED_SPAN: Duration = Duration::from_secs(120);
/// Memory is flat when its least-squares slope is within this, either way: under 1 MiB over
/// the ten minutes of a default run.
const FLAT_SLOPE_KIB_PER_MIN: f64 = 100.0;
const TOKENS_ISSUED: &str = "castellan_tokens_issued_total";
const AUDIT_DROPPED: &str = "castellan_audit_events_dropped";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// True when every request got its token.
fn run() -> Result<bool> {
    let schedule = Schedule {
        rate: positive_from_env("CASTELLAN_SOAK_RATE", 400.0)?,
        duration: nonzero(
            secs_from_env("CASTELLAN_SOAK_SECS", 600.0)?,
            "CASTELLAN_SOAK_SECS",
        )?,
        connections: count_from_env("CASTELLAN_SOAK_CONNECTIONS", 8)?,
        timeout: nonzero(
            secs_from_env("CASTELLAN_SOAK_TIMEOUT_SECS", 5.0)?,
            "CASTELLAN_SOAK_TIMEOUT_SECS",
        )?,
    };
    println!(
        "soak benchmark: {} tokens/s for {:.0} s over {} keep-alive connections, {:.1} s limit per request",
        schedule.rate,
        schedule.duration.as_secs_f64(),
        schedule.connections,
        schedule.timeout.as_secs_f64()
    );
    println!(
        "machine: {} cores, load average {}",
        support::env::cores(),
        load_average()
    );
    let mut server = Server::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(soak(&mut server, schedule)).map_err(|e| {
        format!(
            "{e}\n--- server log (last lines) ---\n{}",
            server.log_tail()
        )
    })?;
    print_summary(&schedule, &report);
    let errors = report.load.tally.errors.total();
    if errors > 0 {
        eprintln!("soak benchmark: {errors} requests got no token");
    }
    Ok(errors == 0)
}

fn nonzero(d: Duration, name: &str) -> Result<Duration> {
    if d.is_zero() {
        return Err(format!("{name}: want more than 0 seconds").into());
    }
    Ok(d)
}

/// The server's figures at one moment, and the client's counts so far.
struct Sample {
    /// Since the timetable started.
    at: Duration,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tokens: u64,
    errors: u64,
}

struct Report {
    load: Finished,
    samples: Vec<Sample>,
    /// Every success's latency, sorted.
    latencies: Vec<Duration>,
    peak_rss_kib: u64,
    server_cpu: Duration,
    metrics_before: Metrics,
    metrics_after: Metrics,
}

async fn soak(server: &mut Server, schedule: Schedule) -> Result<Report> {
    let healthz = Target::get(server.addr, "/healthz")?;
    wait_until_healthy(server, &healthz).await?;
    let token = Arc::new(token_target(server).await?);
    wait_for_first_token(server, &token).await?;
    let metrics = Target::get(server.addr, "/metrics")?;
    let metrics_before = scrape(server.addr, &metrics).await?;
    let cpu_before = server.process().cpu_time()?;

    let load = OpenLoop::start(server.addr, token, check_token, schedule);
    let start = load.start;
    let mut minutes = MinuteLines::default();
    let mut samples = Vec::new();
    for k in 1.. {
        let at = SAMPLE_EVERY * k;
        if at >= schedule.duration {
            break;
        }
        tokio::time::sleep_until((start + at).into()).await;
        if let Err(e) = server.ensure_running() {
            let (tokens, errors) = load.totals();
            return Err(
                format!("{e} after {at:?}, with {tokens} tokens and {errors} errors").into(),
            );
        }
        let sample = take_sample(server, start, load.totals())?;
        if k % SAMPLES_PER_MINUTE == 0 {
            minutes.print(load.take_minute(), &sample);
        }
        samples.push(sample);
    }
    // Until the timetable ends and the last requests on it are answered; then the last sample,
    // with the pool's connections still open as in the others.
    let mut load = load.finish().await?;
    server.ensure_running()?;
    let sample = take_sample(server, start, (load.tally.ok, load.tally.errors.total()))?;
    load.connections.clear();
    minutes.print(std::mem::take(&mut load.last_minute), &sample);
    samples.push(sample);

    let server_cpu = server.process().cpu_time()?.saturating_sub(cpu_before);
    let peak_rss_kib = server.process().peak_rss_kib()?;
    let metrics_after = scrape(server.addr, &metrics).await?;
    let mut latencies = minutes.latencies;
    latencies.sort_unstable();
    Ok(Report {
        load,
        samples,
        latencies,
        peak_rss_kib,
        server_cpu,
        metrics_before,
        metrics_after,
    })
}

/// A 200 answer must hold an access token: three non-empty parts.
fn check_token(body: &[u8]) -> Result<(), String> {
    let answer: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("200 with a body that is not JSON: {e}"))?;
    match answer["access_token"].as_str() {
        Some(token) if token.split('.').filter(|p| !p.is_empty()).count() == 3 => Ok(()),
        _ => Err(format!("200 without an access token: {answer}")),
    }
}

fn take_sample(server: &Server, start: Instant, (tokens, errors): (u64, u64)) -> Result<Sample> {
    let process = server.process();
    let status = process.status()?;
    Ok(Sample {
        at: start.elapsed(),
        rss_kib: status.rss_kib,
        fds: process.open_fds()?,
        threads: status.threads,
        tokens,
        errors,
    })
}

/// The per-minute lines, and every success's latency for the whole run.
#[derive(Default)]
struct MinuteLines {
    printed: u32,
    /// When the minute being counted began, since the start.
    began: Duration,
    latencies: Vec<Duration>,
}

impl MinuteLines {
    /// One line for the minute (or the part-minute at the end) that `sample` closes.
    fn print(&mut self, minute: Minute, sample: &Sample) {
        self.printed += 1;
        let secs = sample.at.saturating_sub(self.began).as_secs_f64();
        self.began = sample.at;
        println!(
            "minute {:>2} ({secs:>4.1} s): {:>6} tokens, {:>6.1}/s, {} errors, p50 {:.2} ms, p99 {:.2} ms, RSS {:.1} MiB, {} fds, {} threads",
            self.printed,
            minute.ok,
            minute.ok as f64 / secs.max(f64::MIN_POSITIVE),
            minute.errors,
            millis(percentile(&minute.latencies, 0.50)),
            millis(percentile(&minute.latencies, 0.99)),
            mib(sample.rss_kib),
            sample.fds,
            sample.threads
        );
        self.latencies.extend(minute.latencies);
    }
}

/// The server's own counts, from `/metrics`.
struct Metrics {
    /// Summed over the grants; `None` before the first token.
    tokens_issued: Option<f64>,
    audit_dropped: Option<f64>,
}

async fn scrape(addr: SocketAddr, target: &Target) -> Result<Metrics> {
    let (status, body) = fetch(addr, target).await?;
    if status != StatusCode::OK {
        return Err(format!("GET /metrics: {status}").into());
    }
    let text = std::str::from_utf8(&body)?;
    // `name{labels} value` or `name value`, one a line; `#` lines describe them.
    let values = |name: &str| -> Option<f64> {
        let values: Vec<f64> = text
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    Ok(Metrics {
        tokens_issued: values(TOKENS_ISSUED),
        audit_dropped: values(AUDIT_DROPPED),
    })
}

/// The least-squares slope of `y` over `x`; `None` with fewer than two distinct `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_summary(schedule: &Schedule, report: &Report) {
    let load = &report.load;
    let tally = &load.tally;
    let errors = &tally.errors;
    let elapsed = load.elapsed.as_secs_f64();
    let achieved = tally.ok as f64 / schedule.duration.as_secs_f64();
    let lat = &report.latencies;
    let samples = &report.samples;

    println!();
    println!("---------------------------------------------------------------------------");
    println!(
        "duration:                   {elapsed:.1} s  (timetable {:.0} s, last answer {:.1} ms after it)",
        schedule.duration.as_secs_f64(),
        millis(load.elapsed.saturating_sub(schedule.duration))
    );
    println!(
        "tokens:                     {}  ({achieved:.1}/s against {} scheduled at {}/s: {:.2}%)",
        tally.ok,
        load.scheduled,
        schedule.rate,
        100.0 * tally.ok as f64 / load.scheduled.max(1) as f64
    );
    println!(
        "errors:                     {}  (status {}, body {}, connection {}, timeout {}; target 0)  {}",
        errors.total(),
        errors.status,
        errors.body,
        errors.connection,
        errors.timeout,
        met_or_missed(errors.total() == 0)
    );
    if let Some(why) = &errors.first {
        println!("  first error: {why}");
    }
    print_windows(samples);
    println!(
        "latency over the run:       p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms  (from when the timetable queued each request)",
        millis(percentile(lat, 0.50)),
        millis(percentile(lat, 0.99)),
        millis(percentile(lat, 1.0))
    );
    println!(
        "timetable kept:             queued at most {:.1} ms late; waited at most {:.1} ms for a connection; {} connections opened",
        millis(tally.max_lag),
        millis(tally.max_wait),
        load.connections_opened
    );
    println!(
        "server CPU:                 {:.1} s, {:.2} cores busy, {:.0} µs per token",
        report.server_cpu.as_secs_f64(),
        report.server_cpu.as_secs_f64() / elapsed,
        report.server_cpu.as_secs_f64() * 1e6 / tally.ok.max(1) as f64
    );
    print_memory(samples, report.peak_rss_kib);
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        println!(
            "open fds / threads:         {} / {} at {:.0} s, {} / {} at the end  ({} of the fds are the pool's connections)",
            first.fds,
            first.threads,
            first.at.as_secs_f64(),
            last.fds,
            last.threads,
            schedule.connections
        );
    }
    print_cross_check(tally.ok, &report.metrics_before, &report.metrics_after);
    println!("machine load average now:   {}", load_average());
    println!("---------------------------------------------------------------------------");
}

/// RSS after the first minute, at the end and at most, and whether it stayed flat: the
/// least-squares slope over the samples from the end of the first minute on. A run shorter than
/// [`MIN_JUDGED_SPAN`] after that minute is too short for a slope to mean much (a few pages
/// either way make 100 KiB/min); its slope is shown from the first sample, not judged.
fn print_memory(samples: &[Sample], peak_rss_kib: u64) {
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.at >= MINUTE).collect();
    let span = |s: &[&Sample]| match (s.first(), s.last()) {
        (Some(first), Some(last)) => last.at.saturating_sub(first.at),
        _ => Duration::ZERO,
    };
    let judged = span(&settled) >= MIN_JUDGED_SPAN;
    let settled = if judged {
        settled
    } else {
        samples.iter().collect()
    };
    let (Some(first), Some(last)) = (settled.first(), settled.last()) else {
        return;
    };
    let points: Vec<(f64, f64)> = settled
        .iter()
        .map(|s| (s.at.as_secs_f64() / 60.0, s.rss_kib as f64))
        .collect();
    let slope = slope(&points);
    let max_rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or_default();
    let verdict = match slope {
        Some(s) if judged => met_or_missed(s.abs() < FLAT_SLOPE_KIB_PER_MIN),
        _ => "not judged: too short a run",
    };
    println!(
        "server RSS:                 {:.1} MiB at {:.0} s, {:.1} MiB at the end, {:.1} MiB max sampled, {:.1} MiB peak (VmHWM)",
        mib(first.rss_kib),
        first.at.as_secs_f64(),
        mib(last.rss_kib),
        mib(max_rss),
        mib(peak_rss_kib)
    );
    println!(
        "RSS slope:                  {} KiB/min over {} samples from {:.0} s; end - start {:+.2} MiB  (target |slope| < {FLAT_SLOPE_KIB_PER_MIN:.0} KiB/min)  {verdict}",
        slope.map_or("n/a".into(), |s| format!("{s:+.1}")),
        points.len(),
        first.at.as_secs_f64(),
        (last.rss_kib as f64 - first.rss_kib as f64) / 1024.0,
    );
}

/// How steady the rate was from one sample to the next, and when errors first appeared.
fn print_windows(samples: &[Sample]) {
    let mut previous = (Duration::ZERO, 0, 0);
    let (mut slowest, mut fastest) = (f64::INFINITY, 0.0f64);
    let mut first_errors = None;
    for s in samples {
        let secs = s.at.saturating_sub(previous.0).as_secs_f64();
        // The last window may be a sliver (the drain after the timetable).
        if secs >= 1.0 {
            let rate = (s.tokens - previous.1) as f64 / secs;
            slowest = slowest.min(rate);
            fastest = fastest.max(rate);
        }
        if s.errors > previous.2 && first_errors.is_none() {
            first_errors = Some(s.at);
        }
        previous = (s.at, s.tokens, s.errors);
    }
    println!(
        "rate by {:.0} s sample:        {slowest:.1}/s slowest, {fastest:.1}/s fastest{}",
        SAMPLE_EVERY.as_secs_f64(),
        first_errors.map_or(String::new(), |at| format!(
            "; first errors by {:.0} s",
            at.as_secs_f64()
        ))
    );
}

/// The server's count of tokens issued during the run against the client's.
fn print_cross_check(client: u64, before: &Metrics, after: &Metrics) {
    let show = |v: Option<f64>| v.map_or("absent".into(), |v| format!("{v:.0}"));
    let during = after
        .tokens_issued
        .map(|a| a - before.tokens_issued.unwrap_or(0.0));
    let agrees = during.is_some_and(|d| d == client as f64);
    println!(
        "/metrics {TOKENS_ISSUED}: {} at the end, {} during the run; the client counted {client}  ({})",
        show(after.tokens_issued),
        show(during),
        if agrees { "agree" } else { "DIFFER" }
    );
    println!("/metrics {AUDIT_DROPPED}: {}", show(after.audit_dropped));
}
