//! Closed-loop load: keep-alive connections each sending requests back to back, a slow probe
//! alongside, and what they saw as measured windows (successes, latencies, the server's CPU).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::body::Bytes;

use super::Result;
use super::client::{Target, connect, send};
use super::report::percentile;
use super::server::Server;

/// One or more measured windows: successes, their latencies, and the server's CPU time meanwhile.
#[derive(Default)]
pub struct Window {
    pub ok: u64,
    pub elapsed: Duration,
    pub server_cpu: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub sample: Option<Bytes>,
}

impl Window {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn server_cpu_per_request(&self) -> Duration {
        self.server_cpu.div_f64(self.ok as f64)
    }

    pub fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }

    pub fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.elapsed += other.elapsed;
        self.server_cpu += other.server_cpu;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.sample = self.sample.take().or(other.sample);
    }
}

/// What the connections saw.
#[derive(Default)]
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub latencies: Vec<Duration>,
    pub sample: Option<Bytes>,
}

impl Tally {
    pub fn record(&mut self, status: StatusCode, body: Bytes, latency: Duration) {
        if status == StatusCode::OK {
            self.ok += 1;
            self.latencies.push(latency);
            if self.sample.is_none() {
                self.sample = Some(body);
            }
        } else {
            self.fail(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
    }

    pub fn fail(&mut self, why: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why);
        }
    }

    pub fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies.extend(other.latencies);
        self.sample = self.sample.take().or(other.sample);
    }

    /// Any non-200 response, or none at all, fails the benchmark.
    pub fn into_result(self, path: &str) -> Result<Self> {
        if self.errors > 0 {
            return Err(format!(
                "{path}: {} non-200 responses ({} ok); first: {}",
                self.errors,
                self.ok,
                self.first_error.as_deref().unwrap_or("?")
            )
            .into());
        }
        if self.ok == 0 {
            return Err(format!("{path}: no successful responses").into());
        }
        Ok(self)
    }

    /// The successes, as a window of `elapsed` in which the server spent `server_cpu`.
    pub fn into_window(mut self, elapsed: Duration, server_cpu: Duration) -> Window {
        self.latencies.sort_unstable();
        Window {
            ok: self.ok,
            elapsed,
            server_cpu,
            latencies: self.latencies,
            sample: self.sample,
        }
    }
}

/// Unmeasured load, so connections, caches and the allocator are warm; errors still count.
pub async fn warm_up(
    server: &Server,
    target: &Arc<Target>,
    connections: usize,
    duration: Duration,
) -> Result<()> {
    if !duration.is_zero() {
        hammer(server.addr, target, connections, duration)
            .await?
            .into_result(target.path)?;
    }
    Ok(())
}

/// Loads the server for `duration`, reading its CPU time on either side.
pub async fn measure(
    server: &Server,
    target: &Arc<Target>,
    connections: usize,
    duration: Duration,
) -> Result<Window> {
    let cpu_before = server.process().cpu_time()?;
    let started = Instant::now();
    let tally = hammer(server.addr, target, connections, duration).await?;
    let elapsed = started.elapsed();
    let server_cpu = server.process().cpu_time()?.saturating_sub(cpu_before);
    Ok(tally
        .into_result(target.path)?
        .into_window(elapsed, server_cpu))
}

/// Loads every target for `duration` (after `warmup` each), in slices of about a second whose
/// order turns each round (A B C, B C A, C A B, ...), so that the shared machine's drifting
/// load weighs on all alike.
pub async fn compare_all(
    server: &Server,
    targets: &[&Arc<Target>],
    connections: usize,
    duration: Duration,
    warmup: Duration,
) -> Result<Vec<Window>> {
    for target in targets {
        warm_up(server, target, connections, warmup).await?;
    }
    let slices = (duration.as_secs_f64().round() as u32).max(1);
    let slice = duration / slices;
    let mut windows: Vec<Window> = targets.iter().map(|_| Window::default()).collect();
    for round in 0..slices as usize {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let window = measure(server, targets[i], connections, slice).await?;
            windows[i].merge(window);
        }
    }
    Ok(windows)
}

/// Loads two targets for `duration` each (after `warmup` each), alternating in slices of about
/// a second (A B, B A, A B, ...) so that the shared machine's drifting load weighs on both alike.
pub async fn compare(
    server: &Server,
    (a, b): (&Arc<Target>, &Arc<Target>),
    connections: usize,
    duration: Duration,
    warmup: Duration,
) -> Result<(Window, Window)> {
    warm_up(server, a, connections, warmup).await?;
    warm_up(server, b, connections, warmup).await?;
    let slices = (duration.as_secs_f64().round() as u32).max(1);
    let slice = duration / slices;
    let targets = [a, b];
    let mut windows = [Window::default(), Window::default()];
    for round in 0..slices {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let window = measure(server, targets[i], connections, slice).await?;
            windows[i].merge(window);
        }
    }
    let [wa, wb] = windows;
    Ok((wa, wb))
}

/// `connections` keep-alive connections, each sending requests back to back until the deadline.
pub async fn hammer(
    addr: SocketAddr,
    target: &Arc<Target>,
    connections: usize,
    duration: Duration,
) -> Result<Tally> {
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection_loop(addr, Arc::clone(target), deadline)))
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await??);
    }
    Ok(total)
}

async fn connection_loop(
    addr: SocketAddr,
    target: Arc<Target>,
    deadline: Instant,
) -> Result<Tally> {
    let mut sender = connect(addr).await?;
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let request = target.request()?;
        let started = Instant::now();
        let (status, body) = send(&mut sender, request).await?;
        tally.record(status, body, started.elapsed());
    }
    Ok(tally)
}

/// One request every `interval` on one keep-alive connection: a probe of latency, not a load.
pub struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<Tally>>,
    started: Instant,
}

impl Probe {
    pub fn start(addr: SocketAddr, target: &Arc<Target>, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(probe_loop(
            addr,
            Arc::clone(target),
            interval,
            Arc::clone(&stop),
        ));
        Self {
            stop,
            task,
            started: Instant::now(),
        }
    }

    /// Stops the probe; what it saw since it started.
    pub async fn finish(self) -> Result<Window> {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let probed = self.task.await??.into_result("/token (probe)")?;
        Ok(probed.into_window(elapsed, Duration::ZERO))
    }
}

async fn probe_loop(
    addr: SocketAddr,
    target: Arc<Target>,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> Result<Tally> {
    let mut sender = connect(addr).await?;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let started = Instant::now();
        let (status, body) = send(&mut sender, target.request()?).await?;
        tally.record(status, body, started.elapsed());
    }
    Ok(tally)
}
