//! One operation done back to back on every core at once, timed by each thread's own CPU time:
//! the baselines (a raw signature, a raw password hash) that the server's figures are set
//! against.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use super::Result;
use super::procfs::thread_cpu_time;

/// What the threads did: how many operations, over how long, and their CPU time.
#[derive(Default)]
pub struct Spin {
    pub count: u64,
    pub elapsed: Duration,
    pub cpu: Duration,
    pub threads: usize,
}

impl Spin {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    pub fn cpu_per_op(&self) -> Duration {
        self.cpu.div_f64(self.count.max(1) as f64)
    }

    /// Below `threads` when other processes took some of the cores.
    pub fn cores_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    pub fn merge(&mut self, other: Self) {
        self.count += other.count;
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.threads = other.threads;
    }
}

/// On each of `threads` threads: `prepare` (unmeasured: warm caches, map memory) makes the
/// operation, then, all threads starting together, runs it back to back for about `duration`.
pub fn spin<P, O>(threads: usize, duration: Duration, prepare: P) -> Result<Spin>
where
    P: Fn() -> Result<O> + Sync,
    O: FnMut() -> Result<()>,
{
    let start = Barrier::new(threads + 1);
    let (results, elapsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let op = prepare();
                    // Past the barrier before any error returns, so no thread waits forever.
                    start.wait();
                    spin_one(op?, duration)
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let results: Vec<Result<(u64, Duration)>> = workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect();
        (results, started.elapsed())
    });
    let mut spin = Spin {
        elapsed,
        threads,
        ..Spin::default()
    };
    for result in results {
        let (count, cpu) = result?;
        spin.count += count;
        spin.cpu += cpu;
    }
    Ok(spin)
}

/// `op` back to back for about `duration` on this thread: how many times, and the CPU time.
fn spin_one(mut op: impl FnMut() -> Result<()>, duration: Duration) -> Result<(u64, Duration)> {
    let cpu_before = thread_cpu_time()?;
    let started = Instant::now();
    let mut count = 0;
    loop {
        op()?;
        count += 1;
        if started.elapsed() >= duration {
            break;
        }
    }
    Ok((count, thread_cpu_time()?.saturating_sub(cpu_before)))
}
