//! Readings from `/proc` (Linux only): a process's CPU time, memory, threads and open files,
//! the calling thread's CPU time, and the machine's load.

use std::process::Command;
use std::time::Duration;

use super::Result;

/// A running process, read through `/proc/<pid>`.
#[derive(Clone, Copy)]
pub struct Process {
    pid: u32,
    clock_ticks_per_sec: u64,
}

/// Figures from `/proc/<pid>/status`.
#[derive(Clone, Copy)]
pub struct Status {
    /// VmRSS: resident set size now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident set size so far.
    pub peak_rss_kib: u64,
    pub threads: u64,
}

impl Process {
    pub fn new(pid: u32) -> Self {
        Self {
            pid,
            clock_ticks_per_sec: clock_ticks_per_sec(),
        }
    }

    /// User plus system CPU time of the whole process (every thread, live or exited).
    pub fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the parenthesised command name start at field 3 (state);
        // utime and stime are fields 14 and 15.
        let after_comm = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or("unreadable /proc/<pid>/stat")?;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64> {
            Ok(fields
                .get(i)
                .ok_or("short /proc/<pid>/stat")?
                .parse::<u64>()?)
        };
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_nanos(
            total * 1_000_000_000 / self.clock_ticks_per_sec,
        ))
    }

    pub fn peak_rss_kib(&self) -> Result<u64> {
        Ok(self.status()?.peak_rss_kib)
    }

    pub fn status(&self) -> Result<Status> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("no {name} in /proc/<pid>/status").into())
        };
        Ok(Status {
            rss_kib: field("VmRSS")?,
            peak_rss_kib: field("VmHWM")?,
            threads: field("Threads")?,
        })
    }

    /// The number of open file descriptors: the entries of `/proc/<pid>/fd`.
    pub fn open_fds(&self) -> Result<u64> {
        let mut count = 0;
        for entry in std::fs::read_dir(format!("/proc/{}/fd", self.pid))? {
            entry?;
            count += 1;
        }
        Ok(count)
    }
}

/// CPU time of the calling thread: the first field of its schedstat, in nanoseconds.
pub fn thread_cpu_time() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or("unreadable /proc/thread-self/schedstat")?;
    Ok(Duration::from_nanos(nanos))
}

/// The machine's load averages over 1, 5 and 15 minutes, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}
