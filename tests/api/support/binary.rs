//! The real `castellan` binary as a child process: the management commands against a test's
//! database, and `castellan serve` for the tests that need a process of its own (signals, logs,
//! several nodes).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{BufReader, Lines};
use tokio::process::{ChildStdout, Command};

/// The binary, run from `dir`, with none of this process's `CASTELLAN_*` settings (the test
/// runner's own, such as `CASTELLAN_TEST_POSTGRES_URL`, included) and no backtraces.
pub fn castellan(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_castellan"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CASTELLAN_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .kill_on_drop(true);
    command
}

/// `castellan serve` listening on a port free right now, and that address (`127.0.0.1:PORT`);
/// the database and the key are the caller's to set, as are standard output and error.
pub fn serve(dir: &Path) -> (Command, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = castellan(dir);
    command.arg("serve").env("CASTELLAN_LISTEN", &addr);
    (command, addr)
}

/// The settings of a server on a SQLite database in `dir`, with its key file there too.
pub fn sqlite_in(dir: &Path) -> [(&'static str, String); 2] {
    [
        (
            "CASTELLAN_DATABASE_URL",
            format!("sqlite://{}/castellan.db", dir.display()),
        ),
        (
            "CASTELLAN_MASTER_KEY_FILE",
            dir.join("keys/master.key").display().to_string(),
        ),
    ]
}

/// Runs a management command against `database_url` from `dir` with `extra` settings (an inline
/// `CASTELLAN_MASTER_KEY` replaces the key file in `dir`) and `input` on its standard input.
/// Fails the test if it panics or takes more than a minute.
pub async fn run(
    dir: &Path,
    database_url: &str,
    args: &[&str],
    extra: &[(&str, &str)],
    input: &[u8],
) -> CliOutput {
    let mut command = castellan(dir);
    command
        .args(args)
        .env("CASTELLAN_DATABASE_URL", database_url);
    if !extra.iter().any(|(k, _)| *k == "CASTELLAN_MASTER_KEY") {
        command.env("CASTELLAN_MASTER_KEY_FILE", dir.join("keys/master.key"));
    }
    command
        .envs(extra.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, input)
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("castellan {args:?} did not finish within 60 s"))
        .unwrap();
    let out = CliOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "castellan {args:?} panicked: {}",
        out.stderr
    );
    out
}

/// What a `castellan` command printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(self.success, "command failed: {self:?}");
        &self.stdout
    }

    /// Asserts success and parses stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts a clear refusal (a failure that is no internal error) and returns its message.
    pub fn refusal(&self) -> &str {
        assert!(!self.success, "succeeded: {self:?}");
        assert!(!self.stderr.contains("internal"), "{self:?}");
        self.stderr.trim()
    }
}

/// A port free on 127.0.0.1 right now, for a real `castellan serve` to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The bootstrap admin client's id and secret, which `castellan serve` prints once on stdout
/// on first start; fails unless both come within 30 s.
pub async fn bootstrap_credentials(stdout: &mut Lines<BufReader<ChildStdout>>) -> (String, String) {
    let (mut id, mut secret) = (String::new(), String::new());
    while id.is_empty() || secret.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the server starts within 30 s")
            .unwrap()
            .expect("the bootstrap credentials on stdout");
        if let Some(value) = line.trim().strip_prefix("client_id:") {
            id = value.trim().to_owned();
        } else if let Some(value) = line.trim().strip_prefix("client_secret:") {
            secret = value.trim().to_owned();
        }
    }
    (id, secret)
}

/// Sends SIGTERM to a child, as an orchestrator stopping a container would.
pub fn terminate(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}
