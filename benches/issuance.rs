//! Token-issuance benchmark: how close the server's cost per token comes to one RSA signature.
//!
//! `cargo bench --bench issuance` measures, in one run:
//! - (a) the CPU time of one raw RSA-2048 PKCS#1 v1.5 SHA-256 signature with aws-lc-rs, with
//!   one signing thread per core (the server signs on every core at once too);
//! - (b) the server process's CPU time per client-credentials token issued over HTTP/1.1
//!   keep-alive connections, with throughput and latency percentiles;
//! - (c) `GET /jwks.json` against `GET /healthz` requests per second under the same load;
//! - the server's peak resident set size once all load is done.
//!
//! The real `castellan` binary runs as a child process on SQLite in a temporary directory.
//! Missed targets are marked `MISSED`; the exit status is non-zero only on errors (a non-200
//! response, a server that fails to start or dies).
//!
//! Environment (seconds may be fractional, e.g. `CASTELLAN_BENCH_SECS=2` for a smoke run):
//! - `CASTELLAN_BENCH_SECS`: measured token-issuance window (default 10);
//! - `CASTELLAN_BENCH_SIGN_SECS`: raw-signature loop (default 3);
//! - `CASTELLAN_BENCH_GET_SECS`: each of the JWKS and healthz windows, taken in alternating
//!   slices of about a second (default 5);
//! - `CASTELLAN_BENCH_WARMUP_SECS`: unmeasured load before measuring each endpoint (default 1);
//! - `CASTELLAN_BENCH_CONNECTIONS`: concurrent keep-alive connections (default 32).
//!
//! Linux only: CPU time and memory are read from `/proc`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const API: &str = "https://bench.example.com";
const SCOPE: &str = "bench:read";
const SIGNATURE_SHARE_TARGET: f64 = 0.85;
const JWKS_RATIO_TARGET: f64 = 0.80;
const PEAK_RSS_TARGET_MIB: f64 = 64.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("issuance benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    println!(
        "issuance benchmark: {} connections, token window {:?}, GET windows {:?}, warm-up {:?}",
        settings.connections, settings.token, settings.get, settings.warmup
    );
    let message = jwt_signing_input()?;
    let sign = raw_sign_cpu(&message, settings.sign)?;
    println!(
        "(a) raw RSA-2048 sign over {} bytes: {:.1} µs CPU ({} signatures)",
        message.len(),
        micros(sign.per_op),
        sign.count
    );

    let mut server = Server::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let load = runtime
        .block_on(drive_server(&mut server, &settings))
        .map_err(|e| {
            format!(
                "{e}\n--- server log (last lines) ---\n{}",
                server.log_tail()
            )
        })?;
    let peak_rss_kib = server.peak_rss_kib()?;
    print_summary(&sign, &load, peak_rss_kib);
    Ok(())
}

/// Durations and concurrency, overridable from the environment.
struct Settings {
    sign: Duration,
    token: Duration,
    get: Duration,
    warmup: Duration,
    connections: usize,
}

impl Settings {
    fn from_env() -> Result<Self> {
        Ok(Self {
            sign: secs_from_env("CASTELLAN_BENCH_SIGN_SECS", 3.0)?,
            token: secs_from_env("CASTELLAN_BENCH_SECS", 10.0)?,
            get: secs_from_env("CASTELLAN_BENCH_GET_SECS", 5.0)?,
            warmup: secs_from_env("CASTELLAN_BENCH_WARMUP_SECS", 1.0)?,
            connections: match std::env::var("CASTELLAN_BENCH_CONNECTIONS") {
                Ok(v) => v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("CASTELLAN_BENCH_CONNECTIONS={v:?}: want a count"))?,
                Err(_) => 32,
            },
        })
    }
}

fn secs_from_env(name: &str, default: f64) -> Result<Duration> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| format!("{name}={v:?}: want seconds, e.g. 2.5").into()),
        Err(_) => Ok(Duration::from_secs_f64(default)),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) the raw signature

struct SignResult {
    per_op: Duration,
    count: u32,
}

/// A JWS signing input shaped like the server's access tokens (base64url header '.' claims).
fn jwt_signing_input() -> Result<Vec<u8>> {
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "at+jwt",
        "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
    });
    let claims = serde_json::json!({
        "iss": "https://id.bench.example.com",
        "sub": "Q2xpZW50SWRGb3JCZW5jaA",
        "aud": API,
        "exp": 1_767_225_900,
        "iat": 1_767_225_600,
        "nbf": 1_767_225_600,
        "jti": "8b0c2f5e-6a3d-4f7e-9c1b-2d4e6f8a0b1c",
        "client_id": "Q2xpZW50SWRGb3JCZW5jaA",
        "scope": "bench:read bench:write reports:read",
        "roles": ["reader", "auditor"],
        "tenant_id": "default",
        "permissions": ["reports:export", "reports:read", "bench:read"],
    });
    let mut input = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&claims)?, &mut input);
    Ok(input.into_bytes())
}

/// CPU time of one signature, with one thread per core signing back to back for `duration`.
///
/// The server signs on every core at once, so (a) is measured the same way: a lone thread on an
/// otherwise idle machine runs faster (turbo, whole caches) than any server under load can.
fn raw_sign_cpu(message: &[u8], duration: Duration) -> Result<SignResult> {
    let key = KeyPair::generate(KeySize::Rsa2048)?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let results: Vec<std::result::Result<(Duration, u32), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| sign_loop(&key, message, duration).map_err(|e| e.to_string())))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("signing thread panicked".into()))
            })
            .collect()
    });
    let (mut cpu, mut count) = (Duration::ZERO, 0u32);
    for result in results {
        let (c, n) = result?;
        cpu += c;
        count += n;
    }
    Ok(SignResult {
        per_op: cpu / count.max(1),
        count,
    })
}

/// This thread's CPU time and signature count over about `duration` of back-to-back signing.
fn sign_loop(key: &KeyPair, message: &[u8], duration: Duration) -> Result<(Duration, u32)> {
    let rng = SystemRandom::new();
    let mut signature = vec![0u8; key.public_modulus_len()];
    for _ in 0..20 {
        key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
    }
    let cpu_before = thread_cpu_time()?;
    let started = Instant::now();
    let mut count = 0u32;
    loop {
        key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
        count += 1;
        if started.elapsed() >= duration {
            break;
        }
    }
    Ok((thread_cpu_time()?.saturating_sub(cpu_before), count))
}

/// CPU time of the calling thread: the first field of its schedstat, in nanoseconds.
fn thread_cpu_time() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or("unreadable /proc/thread-self/schedstat")?;
    Ok(Duration::from_nanos(nanos))
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// The `castellan serve` child, killed when dropped, with its own temporary directory.
struct Server {
    child: Child,
    addr: SocketAddr,
    clock_ticks_per_sec: u64,
    // Dropped after the child is killed in `Drop::drop`.
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Result<Self> {
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
        Ok(Self {
            child,
            addr,
            clock_ticks_per_sec: clock_ticks_per_sec(),
            dir,
        })
    }

    /// Runs a management command (whitespace-separated words) against the server's database;
    /// returns its stdout.
    async fn cli(&self, args: &str) -> Result<String> {
        let mut command = tokio::process::Command::from(castellan(self.dir.path(), self.addr));
        let output = command
            .args(args.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .await?;
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

    fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("the server exited early ({status})").into()),
        }
    }

    /// User plus system CPU time of the whole process (every thread, live or exited).
    fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
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

    fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
    }

    fn log_tail(&self) -> String {
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
        .env("RUST_LOG", "warn");
    command
}

fn free_local_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
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

// ---------------------------------------------------------------------------------------------
// (b) and (c): load against the server

struct LoadReport {
    tokens: Window,
    token_signing_input_len: usize,
    jwks: Window,
    healthz: Window,
}

async fn drive_server(server: &mut Server, settings: &Settings) -> Result<LoadReport> {
    let healthz = Arc::new(Target::get(server.addr, "/healthz")?);
    let jwks = Arc::new(Target::get(server.addr, "/jwks.json")?);
    wait_until_healthy(server, &healthz).await?;
    let token = Arc::new(token_target(server).await?);
    wait_for_first_token(server, &token).await?;

    warm_up(server, &token, settings).await?;
    let tokens = measure(server, &token, settings.connections, settings.token).await?;
    let token_signing_input_len = check_token(tokens.sample.as_ref())?;
    let (jwks, healthz) = compare(server, &jwks, &healthz, settings).await?;
    server.ensure_running()?;
    Ok(LoadReport {
        tokens,
        token_signing_input_len,
        jwks,
        healthz,
    })
}

async fn wait_until_healthy(server: &mut Server, healthz: &Target) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        server.ensure_running()?;
        if let Ok((StatusCode::OK, _)) = fetch(server.addr, healthz).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err("GET /healthz did not answer 200 within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers the API and a client with the CLI; returns the token request for that client.
async fn token_target(server: &Server) -> Result<Target> {
    server
        .cli(&format!("api create --identifier {API} --scope {SCOPE}"))
        .await?;
    let created = server
        .cli(&format!(
            "client create --tenant default --name bench --grant client_credentials \
             --api {API} --scope {SCOPE} --json"
        ))
        .await?;
    let created: serde_json::Value = serde_json::from_str(&created)?;
    let field = |name: &str| {
        created[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("client create printed no {name}: {created}"))
    };
    let credentials = format!("{}:{}", field("client_id")?, field("client_secret")?);
    let authorization = format!("Basic {}", STANDARD.encode(credentials));
    Ok(Target {
        method: Method::POST,
        path: "/token",
        host: HeaderValue::from_str(&server.addr.to_string())?,
        authorization: Some(HeaderValue::from_str(&authorization)?),
        form: Some("grant_type=client_credentials"),
    })
}

/// The server notices the new client within about a second; a first 200 is the real signal.
async fn wait_for_first_token(server: &mut Server, token: &Target) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        server.ensure_running()?;
        let (status, body) = fetch(server.addr, token).await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "POST /token still answers {status} after 15 s: {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The access token in a token response has three non-empty parts and an RS256 header.
/// Returns the length of its signing input (header '.' payload).
fn check_token(sample: Option<&Bytes>) -> Result<usize> {
    let body = sample.ok_or("no token response to check")?;
    let response: serde_json::Value = serde_json::from_slice(body)?;
    let token = response["access_token"]
        .as_str()
        .ok_or_else(|| format!("no access_token in {response}"))?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(format!("access_token is not a 3-part JWT: {token}").into());
    };
    if payload.is_empty() || signature.is_empty() {
        return Err(format!("access_token has an empty part: {token}").into());
    }
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
    if header["alg"] != "RS256" {
        return Err(format!("access_token header is not RS256: {header}").into());
    }
    Ok(token.len() - signature.len() - 1)
}

/// One kind of request, sent over and over.
struct Target {
    method: Method,
    path: &'static str,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    form: Option<&'static str>,
}

impl Target {
    fn get(addr: SocketAddr, path: &'static str) -> Result<Self> {
        Ok(Self {
            method: Method::GET,
            path,
            host: HeaderValue::from_str(&addr.to_string())?,
            authorization: None,
            form: None,
        })
    }

    fn request(&self) -> Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(header::HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, authorization.clone());
        }
        let body = match self.form {
            Some(form) => {
                builder = builder.header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Full::new(Bytes::from_static(form.as_bytes()))
            }
            None => Full::default(),
        };
        Ok(builder.body(body)?)
    }
}

/// One or more measured windows: successes, their latencies, and the server's CPU time meanwhile.
#[derive(Default)]
struct Window {
    ok: u64,
    elapsed: Duration,
    server_cpu: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
    sample: Option<Bytes>,
}

impl Window {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn server_cpu_per_request(&self) -> Duration {
        self.server_cpu.div_f64(self.ok as f64)
    }

    fn percentile(&self, q: f64) -> Duration {
        let rank = (self.latencies.len() as f64 * q).ceil() as usize;
        self.latencies
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.elapsed += other.elapsed;
        self.server_cpu += other.server_cpu;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.sample = self.sample.take().or(other.sample);
    }
}

/// Unmeasured load, so connections, caches and the allocator are warm; errors still count.
async fn warm_up(server: &Server, target: &Arc<Target>, settings: &Settings) -> Result<()> {
    if !settings.warmup.is_zero() {
        hammer(server.addr, target, settings.connections, settings.warmup)
            .await?
            .into_result(target.path)?;
    }
    Ok(())
}

/// Loads the server for `duration`, reading its CPU time on either side.
async fn measure(
    server: &Server,
    target: &Arc<Target>,
    connections: usize,
    duration: Duration,
) -> Result<Window> {
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let tally = hammer(server.addr, target, connections, duration).await?;
    let elapsed = started.elapsed();
    let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let mut tally = tally.into_result(target.path)?;
    tally.latencies.sort_unstable();
    Ok(Window {
        ok: tally.ok,
        elapsed,
        server_cpu,
        latencies: tally.latencies,
        sample: tally.sample,
    })
}

/// Loads two targets for `settings.get` each, alternating in slices of about a second
/// (A B, B A, A B, ...) so that the shared machine's drifting load weighs on both alike.
async fn compare(
    server: &Server,
    a: &Arc<Target>,
    b: &Arc<Target>,
    settings: &Settings,
) -> Result<(Window, Window)> {
    warm_up(server, a, settings).await?;
    warm_up(server, b, settings).await?;
    let slices = (settings.get.as_secs_f64().round() as u32).max(1);
    let slice = settings.get / slices;
    let targets = [a, b];
    let mut windows = [Window::default(), Window::default()];
    for round in 0..slices {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let window = measure(server, targets[i], settings.connections, slice).await?;
            windows[i].merge(window);
        }
    }
    let [wa, wb] = windows;
    Ok((wa, wb))
}

/// What the connections saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    sample: Option<Bytes>,
}

impl Tally {
    fn record(&mut self, status: StatusCode, body: Bytes, latency: Duration) {
        if status == StatusCode::OK {
            self.ok += 1;
            self.latencies.push(latency);
            if self.sample.is_none() {
                self.sample = Some(body);
            }
        } else {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
        }
    }

    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies.extend(other.latencies);
        self.sample = self.sample.take().or(other.sample);
    }

    /// Any non-200 response, or none at all, fails the benchmark.
    fn into_result(self, path: &str) -> Result<Self> {
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
}

/// `connections` keep-alive connections, each sending requests back to back until the deadline.
async fn hammer(
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

/// A single request on a fresh connection.
async fn fetch(addr: SocketAddr, target: &Target) -> Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    send(&mut sender, target.request()?).await
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; request errors surface in `send`.
        let _ = connection.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_summary(sign: &SignResult, load: &LoadReport, peak_rss_kib: u64) {
    let tokens = &load.tokens;
    let per_token = tokens.server_cpu_per_request();
    let share = sign.per_op.as_secs_f64() / per_token.as_secs_f64();
    let (jwks, healthz) = (load.jwks.per_second(), load.healthz.per_second());
    let jwks_ratio = jwks / healthz;
    let peak_rss_mib = peak_rss_kib as f64 / 1024.0;

    println!();
    println!(
        "(b) {} tokens in {:.2} s; server CPU {:.2} s; token signing input {} bytes",
        tokens.ok,
        tokens.elapsed.as_secs_f64(),
        tokens.server_cpu.as_secs_f64(),
        load.token_signing_input_len
    );
    for (name, w) in [("/jwks.json", &load.jwks), ("/healthz", &load.healthz)] {
        println!(
            "(c) {name}: {} responses in {:.2} s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.1} µs each",
            w.ok,
            w.elapsed.as_secs_f64(),
            millis(w.percentile(0.50)),
            millis(w.percentile(0.99)),
            micros(w.server_cpu_per_request())
        );
    }
    println!();
    println!("---------------------------------------------------------------------------");
    println!(
        "raw RSA-2048 sign (a):            {:.0} µs CPU",
        micros(sign.per_op)
    );
    println!(
        "server CPU per token (b):         {:.0} µs   ({} tokens, {:.0} tokens/s, p50 {:.2} ms, p99 {:.2} ms)",
        micros(per_token),
        tokens.ok,
        tokens.per_second(),
        millis(tokens.percentile(0.50)),
        millis(tokens.percentile(0.99))
    );
    println!(
        "(a)/(b) signature share:          {share:.2}     (target >= {SIGNATURE_SHARE_TARGET:.2}){}",
        missed(share >= SIGNATURE_SHARE_TARGET)
    );
    println!(
        "JWKS / healthz req/s (c):         {jwks:.0} / {healthz:.0} = {jwks_ratio:.2} (target >= {JWKS_RATIO_TARGET:.2}){}",
        missed(jwks_ratio >= JWKS_RATIO_TARGET)
    );
    println!(
        "server peak RSS:                  {peak_rss_mib:.1} MiB   (target < {PEAK_RSS_TARGET_MIB:.0} MiB){}",
        missed(peak_rss_mib < PEAK_RSS_TARGET_MIB)
    );
    println!("---------------------------------------------------------------------------");
}

fn missed(met: bool) -> &'static str {
    if met { "" } else { "  MISSED" }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
