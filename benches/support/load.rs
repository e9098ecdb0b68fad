//! Open-loop load: requests on a fixed timetable over a small pool of keep-alive connections,
//! every answer checked and counted, latencies kept by the minute.
//!
//! A timetable task puts each request on a queue at its time, whether or not earlier ones have
//! been answered; one task per connection takes them off in turn. When every connection is busy
//! a request waits on the queue, and its latency runs from when it was queued: a slow server
//! shows in the latencies instead of slowing the timetable down.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Result;
use super::client::{Target, connect, send};

/// Checks the body of a 200 answer; an `Err` counts as a bad answer.
pub type Check = fn(&[u8]) -> Result<(), String>;

#[derive(Clone, Copy)]
pub struct Schedule {
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    /// A request's time limit, from when a connection takes it.
    pub timeout: Duration,
}

impl Schedule {
    /// When request `n` is due, counted from the start.
    fn due(&self, n: u64) -> Duration {
        Duration::from_secs_f64(n as f64 / self.rate)
    }
}

/// The load while it runs.
pub struct OpenLoop {
    pub start: Instant,
    recorder: Arc<Recorder>,
    timetable: JoinHandle<u64>,
    connections: Vec<JoinHandle<Option<Connection>>>,
}

type Connection = SendRequest<Full<Bytes>>;

/// The load once every request has been answered or has failed.
pub struct Finished {
    /// Requests the timetable issued.
    pub scheduled: u64,
    /// From the start until the last answer.
    pub elapsed: Duration,
    pub tally: Tally,
    /// The successes and failures since the last [`OpenLoop::take_minute`].
    pub last_minute: Minute,
    /// Connections opened: the pool's, plus one for each that failed and was replaced.
    pub connections_opened: u64,
    /// The pool's connections, still open, so that a last look at the server sees them as
    /// earlier ones did; dropping them closes them.
    pub connections: Vec<Connection>,
}

/// Counts so far, and the latencies of successes since the minute began.
#[derive(Default)]
pub struct Tally {
    pub ok: u64,
    pub errors: Errors,
    /// Since the last [`OpenLoop::take_minute`].
    minute: Minute,
    /// The most the timetable task fell behind its timetable (this process being starved).
    pub max_lag: Duration,
    /// The longest a request waited on the queue for a free connection.
    pub max_wait: Duration,
}

/// Failures by kind, and the first one's description.
#[derive(Default)]
pub struct Errors {
    /// An answer other than 200.
    pub status: u64,
    /// A 200 whose body failed the check.
    pub body: u64,
    /// No connection, or it broke before the answer was complete.
    pub connection: u64,
    /// No complete answer within the time limit.
    pub timeout: u64,
    pub first: Option<String>,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.status + self.body + self.connection + self.timeout
    }
}

/// One minute's (or the last part-minute's) successes and failures.
#[derive(Default)]
pub struct Minute {
    pub ok: u64,
    pub errors: u64,
    /// Sorted, once taken.
    pub latencies: Vec<Duration>,
}

/// What became of one request.
enum Outcome {
    Ok,
    Status(String),
    Body(String),
    Connection(String),
    /// The time limit.
    Timeout(Duration),
}

/// What the connection tasks share.
#[derive(Default)]
struct Recorder {
    tally: Mutex<Tally>,
    connections_opened: AtomicU64,
}

impl OpenLoop {
    pub fn start(addr: SocketAddr, target: Arc<Target>, check: Check, schedule: Schedule) -> Self {
        let recorder = Arc::new(Recorder::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(tokio::sync::Mutex::new(rx));
        let connections = (0..schedule.connections)
            .map(|_| {
                tokio::spawn(connection_loop(
                    addr,
                    Arc::clone(&target),
                    check,
                    Arc::clone(&queue),
                    Arc::clone(&recorder),
                    schedule.timeout,
                ))
            })
            .collect();
        let start = Instant::now();
        let timetable = tokio::spawn(timetable(tx, start, schedule, Arc::clone(&recorder)));
        Self {
            start,
            recorder,
            timetable,
            connections,
        }
    }

    /// Successes and errors so far.
    pub fn totals(&self) -> (u64, u64) {
        let tally = self.recorder.lock();
        (tally.ok, tally.errors.total())
    }

    /// The minute so far, with its latencies sorted; the next minute starts empty.
    pub fn take_minute(&self) -> Minute {
        let mut minute = std::mem::take(&mut self.recorder.lock().minute);
        minute.latencies.sort_unstable();
        minute
    }

    /// Waits for the timetable to end and every request on it to be answered or to fail.
    pub async fn finish(self) -> Result<Finished> {
        let scheduled = self.timetable.await?;
        let mut connections = Vec::with_capacity(self.connections.len());
        for connection in self.connections {
            connections.extend(connection.await?);
        }
        let elapsed = self.start.elapsed();
        let recorder = Arc::try_unwrap(self.recorder).map_err(|_| "the load is still running")?;
        let mut tally = recorder
            .tally
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let mut last_minute = std::mem::take(&mut tally.minute);
        last_minute.latencies.sort_unstable();
        Ok(Finished {
            scheduled,
            elapsed,
            tally,
            last_minute,
            connections_opened: recorder.connections_opened.into_inner(),
            connections,
        })
    }
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, outcome: Outcome, latency: Duration, wait: Duration) {
        let mut tally = self.lock();
        tally.max_wait = tally.max_wait.max(wait);
        let why = match outcome {
            Outcome::Ok => {
                tally.ok += 1;
                tally.minute.ok += 1;
                tally.minute.latencies.push(latency);
                return;
            }
            Outcome::Status(why) => {
                tally.errors.status += 1;
                why
            }
            Outcome::Body(why) => {
                tally.errors.body += 1;
                why
            }
            Outcome::Connection(why) => {
                tally.errors.connection += 1;
                why
            }
            Outcome::Timeout(limit) => {
                tally.errors.timeout += 1;
                format!(
                    "no answer within {:.1} ms of sending",
                    limit.as_secs_f64() * 1e3
                )
            }
        };
        tally.minute.errors += 1;
        if tally.errors.first.is_none() {
            tally.errors.first = Some(why);
        }
    }
}

/// Queues each request at its time until the duration is over; returns how many it queued.
async fn timetable(
    queue: mpsc::UnboundedSender<Instant>,
    start: Instant,
    schedule: Schedule,
    recorder: Arc<Recorder>,
) -> u64 {
    let mut n = 0;
    loop {
        let offset = schedule.due(n);
        if offset >= schedule.duration {
            return n;
        }
        let due = start + offset;
        tokio::time::sleep_until(due.into()).await;
        let queued = Instant::now();
        {
            let mut tally = recorder.lock();
            tally.max_lag = tally.max_lag.max(queued.saturating_duration_since(due));
        }
        if queue.send(queued).is_err() {
            return n;
        }
        n += 1;
    }
}

/// One keep-alive connection taking requests off the queue until the timetable ends; returns
/// the connection, if open. A broken connection is dropped and a new one opened for the next
/// request.
async fn connection_loop(
    addr: SocketAddr,
    target: Arc<Target>,
    check: Check,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Instant>>>,
    recorder: Arc<Recorder>,
    timeout: Duration,
) -> Option<Connection> {
    let mut sender = None;
    loop {
        let Some(queued) = queue.lock().await.recv().await else {
            return sender;
        };
        let wait = queued.elapsed();
        let outcome = request(&mut sender, addr, &target, check, timeout, &recorder).await;
        // From when it was queued: the timetable's own lateness is this process's, not the
        // server's, and is reported apart.
        let latency = queued.elapsed();
        recorder.record(outcome, latency, wait);
    }
}

/// One request within the time limit, its answer checked. After a failure or a timeout the
/// connection is in an unknown state and dropped.
async fn request(
    sender: &mut Option<Connection>,
    addr: SocketAddr,
    target: &Target,
    check: Check,
    timeout: Duration,
    recorder: &Recorder,
) -> Outcome {
    match tokio::time::timeout(timeout, exchange(sender, addr, target, recorder)).await {
        Ok(Ok((StatusCode::OK, body))) => match check(&body) {
            Ok(()) => Outcome::Ok,
            Err(why) => Outcome::Body(why),
        },
        Ok(Ok((status, body))) => {
            Outcome::Status(format!("{status}: {}", String::from_utf8_lossy(&body)))
        }
        Ok(Err(e)) => {
            *sender = None;
            Outcome::Connection(e.to_string())
        }
        Err(_) => {
            *sender = None;
            Outcome::Timeout(timeout)
        }
    }
}

/// One request on the connection, opening it first if there is none or the server closed it.
async fn exchange(
    sender: &mut Option<Connection>,
    addr: SocketAddr,
    target: &Target,
    recorder: &Recorder,
) -> Result<(StatusCode, Bytes)> {
    let conn = match sender.take() {
        Some(conn) if !conn.is_closed() => sender.insert(conn),
        _ => {
            recorder.connections_opened.fetch_add(1, Ordering::Relaxed);
            sender.insert(connect(addr).await?)
        }
    };
    send(conn, target.request()?).await
}
