//! The server under test: the release `castellan` binary as a child process on SQLite in a
//! temporary directory, its management commands, and the steps that ready it for token load.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use super::Result;
use super::client::{Target, fetch};
use super::procfs::Process;

/// The API that the benchmark clients get tokens for, and its scope.
pub const API: &str = "https://bench.example.com";
pub const SCOPE: &str = "bench:read";
/// What the server enables: the algorithms the benchmark compares.
pub const SIGNING_ALGS: &str = "RS256,ES256,EdDSA";

/// The `castellan serve` child, killed when dropped, with its own temporary directory.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    process: Process,
    // Dropped after the child is killed in `Drop::drop`.
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let addr = free_local_addr()?;
        let log = File::create(dir.path().join("server.log"))?;
        let child = castellan(dir.path(), addr)
            .arg("serve")
            .stdin(Stdio::null())
            // The bootstrap admin credentials are printed there; nothing else.
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let process = Process::new(child.id());
        Ok(Self {
            child,
            addr,
            process,
            dir,
        })
    }

    /// The server's process, for its CPU time, memory, threads and files.
    pub fn process(&self) -> Process {
        self.process
    }

    /// Runs a management command (whitespace-separated words) against the server's database;
    /// returns its stdout.
    pub async fn cli(&self, args: &str) -> Result<String> {
        self.cli_with_input(args, None).await
    }

    /// [`Server::cli`], with `input` written to the command's standard input.
    pub async fn cli_with_input(&self, args: &str, input: Option<&str>) -> Result<String> {
        let mut command = tokio::process::Command::from(castellan(self.dir.path(), self.addr));
        let mut child = command
            .args(args.split_whitespace())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // Dropping `stdin` afterwards closes it, so the command sees the end of its input.
            stdin.write_all(input.as_bytes()).await?;
        }
        let output = child.wait_with_output().await?;
        if !output.status.success() {
            return Err(format!(
                "castellan {args} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("the server exited early ({status})").into()),
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        if lines.is_empty() {
            return "(empty)".into();
        }
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The castellan binary configured for the benchmark's directory and address, and nothing else.
fn castellan(dir: &Path, addr: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_castellan"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("CASTELLAN_")) {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .env("CASTELLAN_LISTEN", addr.to_string())
        .env(
            "CASTELLAN_DATABASE_URL",
            format!("sqlite://{}/castellan.db", dir.display()),
        )
        .env("CASTELLAN_MASTER_KEY_FILE", dir.join("keys/master.key"))
        // All the load comes from one address, which per-address limits would answer with 429.
        .env("CASTELLAN_RATE_LIMIT_TOKEN", "0")
        .env("CASTELLAN_RATE_LIMIT_AUTHORIZE", "0")
        .env("CASTELLAN_RATE_LIMIT_LOGIN", "0")
        // Every algorithm's first key is active at once on the fresh database.
        .env("CASTELLAN_SIGNING_ALGS", SIGNING_ALGS)
        .env("RUST_LOG", "warn");
    command
}

fn free_local_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

// ---------------------------------------------------------------------------------------------
// Readying the server for token load

pub async fn wait_until_healthy(server: &mut Server, healthz: &Target) -> Result<()> {
    let addr = server.addr;
    let what = "GET /healthz did not answer 200 within 20 s";
    retry_for(server, (20, 100), what, async || {
        Ok(match fetch(addr, healthz).await {
            Ok((StatusCode::OK, _)) => Ok(()),
            Ok((status, _)) => Err(status.to_string().into()),
            Err(e) => Err(e),
        })
    })
    .await
}

/// Tries `attempt` until it succeeds, for at most `secs` seconds with `pause_ms` between tries,
/// while the server stays up. `attempt` answers `Ok(Err(why))` for "not yet"; its own `Err`
/// ends the wait at once.
pub async fn retry_for(
    server: &mut Server,
    (secs, pause_ms): (u64, u64),
    what: &str,
    mut attempt: impl AsyncFnMut() -> Result<Result<()>>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        server.ensure_running()?;
        let why = match attempt().await? {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            return Err(format!("{what}: {why}").into());
        }
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
}

/// Registers the API and a client with the CLI; returns the token request for that client.
pub async fn token_target(server: &Server) -> Result<Target> {
    token_target_for(server, API, "RS256").await
}

/// [`token_target`] for an API `api` whose access tokens are signed with `alg`.
pub async fn token_target_for(server: &Server, api: &str, alg: &str) -> Result<Target> {
    server
        .cli(&format!(
            "api create --identifier {api} --scope {SCOPE} --signing-alg {alg}"
        ))
        .await?;
    let created = server
        .cli(&format!(
            "client create --tenant default --name bench-{alg} --grant client_credentials \
             --api {api} --scope {SCOPE} --json"
        ))
        .await?;
    let (_, authorization) = client_credentials(&created)?;
    Ok(Target {
        method: Method::POST,
        path: "/token",
        host: HeaderValue::from_str(&server.addr.to_string())?,
        authorization: Some(authorization),
        form: Some("grant_type=client_credentials"),
    })
}

/// The client_id and HTTP Basic credentials in `client create --json`'s output.
pub fn client_credentials(created: &str) -> Result<(String, HeaderValue)> {
    let created: serde_json::Value = serde_json::from_str(created)?;
    let field = |name: &str| {
        created[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("client create printed no {name}: {created}"))
    };
    let client_id = field("client_id")?;
    let credentials = format!("{client_id}:{}", field("client_secret")?);
    let authorization = format!("Basic {}", STANDARD.encode(credentials));
    Ok((client_id, HeaderValue::from_str(&authorization)?))
}

/// The server notices the new client within about a second; a first 200 is the real signal.
pub async fn wait_for_first_token(server: &mut Server, token: &Target) -> Result<()> {
    let addr = server.addr;
    let what = "POST /token did not answer 200 within 15 s";
    retry_for(server, (15, 200), what, async || {
        let (status, body) = fetch(addr, token).await?;
        Ok(if status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into())
        })
    })
    .await
}
