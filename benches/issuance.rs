//! Issuance benchmark: how close the server's cost per token comes to one RSA signature, and
//! its sign-ins per second to raw password hashes per second.
//!
//! `cargo bench --bench issuance` measures, in one run:
//! - (a) the CPU time of one raw RSA-2048 PKCS#1 v1.5 SHA-256 signature with aws-lc-rs, with
//!   one signing thread per core (the server signs on every core at once too);
//! - (b) the server process's CPU time per client-credentials token issued over HTTP/1.1
//!   keep-alive connections, with throughput and latency percentiles;
//! - (c) `GET /jwks.json` against `GET /healthz` requests per second under the same load;
//! - the server's peak resident set size once that load is done;
//! - then, so that none of the above is disturbed: (d) raw argon2id hashes per second with the
//!   server's own function and parameters, one thread per core, while the server is idle;
//! - (e) complete browser sign-ins per second over HTTP (authorization request, login form with
//!   a password, code exchange for an ID token), each by a new browser with no session, in
//!   slices alternating with those of (d) so that the shared machine's drift weighs on both;
//! - (f) client-credentials token latency at a low rate during (e), against the idle server;
//! - the server's peak resident set size after the sign-ins, which should exceed the earlier
//!   peak by little more than one hash's memory per core.
//!
//! The real `castellan` binary runs as a child process on SQLite in a temporary directory.
//! Missed targets are marked `MISSED`; the exit status is non-zero only on errors (a non-200
//! response, a failed sign-in, a server that fails to start or dies).
//!
//! Environment (seconds may be fractional, e.g. `CASTELLAN_BENCH_SECS=2` for a smoke run):
//! - `CASTELLAN_BENCH_SECS`: measured token-issuance window (default 10);
//! - `CASTELLAN_BENCH_SIGN_SECS`: raw-signature loop (default 3);
//! - `CASTELLAN_BENCH_GET_SECS`: each of the JWKS and healthz windows, taken in alternating
//!   slices of about a second (default 5);
//! - `CASTELLAN_BENCH_LOGIN_SECS`: each of the sign-in and raw-hash windows, taken in
//!   alternating slices of about two seconds (default 10);
//! - `CASTELLAN_BENCH_WARMUP_SECS`: unmeasured load before measuring each endpoint (default 1);
//! - `CASTELLAN_BENCH_CONNECTIONS`: concurrent keep-alive connections (default 32);
//! - `CASTELLAN_BENCH_SIGNINS`: concurrent sign-ins (default twice the cores, at least 8).
//!
//! Linux only: CPU time and memory are read from `/proc`.
// Benchmarks time themselves with the wall clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan::crypto::password;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use support::Result;
use support::client::{Target, connect, send, send_keeping_headers};
use support::env::{cores, count_from_env, secs_from_env};
use support::procfs::thread_cpu_time;
use support::report::{micros, millis, missed, percentile};
use support::server::{
    API, Server, client_credentials, token_target, wait_for_first_token, wait_until_healthy,
};

const SIGNATURE_SHARE_TARGET: f64 = 0.85;
const JWKS_RATIO_TARGET: f64 = 0.80;
const PEAK_RSS_TARGET_MIB: f64 = 64.0;
const SIGN_IN_RATIO_TARGET: f64 = 0.80;
/// Room for the sign-ins' sessions and database connections in the peak RSS target, beyond one
/// hash's memory per core (the server hashes on as many threads as there are cores, no more).
const SIGN_IN_RSS_SLACK_MIB: f64 = 16.0;

/// Sign-ins go round these users, so no one account takes them all.
const USERS: usize = 32;
const PASSWORD: &str = "bench correct horse battery";
const REDIRECT_URI: &str = "https://app.bench.example.com/callback";
/// RFC 7636 appendix B's verifier and its S256 challenge.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CSRF_COOKIE: &str = "castellan_csrf";
/// One client-credentials token request this often during the sign-ins: a probe, not a load.
const PROBE_INTERVAL: Duration = Duration::from_millis(40);

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
    println!(
        "sign-in benchmark: {} concurrent sign-ins over {USERS} users, sign-in and raw-hash windows {:?}",
        settings.sign_ins, settings.login
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
    let sign_in_peak_rss_kib = server.process().peak_rss_kib()?;
    print_summary(&sign, &load, sign_in_peak_rss_kib);
    Ok(())
}

/// Durations and concurrency, overridable from the environment.
struct Settings {
    sign: Duration,
    token: Duration,
    get: Duration,
    warmup: Duration,
    connections: usize,
    login: Duration,
    sign_ins: usize,
}

impl Settings {
    fn from_env() -> Result<Self> {
        Ok(Self {
            sign: secs_from_env("CASTELLAN_BENCH_SIGN_SECS", 3.0)?,
            token: secs_from_env("CASTELLAN_BENCH_SECS", 10.0)?,
            get: secs_from_env("CASTELLAN_BENCH_GET_SECS", 5.0)?,
            warmup: secs_from_env("CASTELLAN_BENCH_WARMUP_SECS", 1.0)?,
            connections: count_from_env("CASTELLAN_BENCH_CONNECTIONS", 32)?,
            login: secs_from_env("CASTELLAN_BENCH_LOGIN_SECS", 10.0)?,
            sign_ins: count_from_env("CASTELLAN_BENCH_SIGNINS", (2 * cores()).max(8))?,
        })
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
    let threads = cores();
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

// ---------------------------------------------------------------------------------------------
// (b) and (c): load against the server

struct LoadReport {
    tokens: Window,
    token_signing_input_len: usize,
    jwks: Window,
    healthz: Window,
    /// After the client-credentials load, before any sign-in.
    peak_rss_kib: u64,
    sign_ins: SignInReport,
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
    // Read before the sign-ins, whose password hashes take 19 MiB each.
    let peak_rss_kib = server.process().peak_rss_kib()?;
    let sign_ins = sign_in_load(server, &token, settings).await?;
    server.ensure_running()?;
    Ok(LoadReport {
        tokens,
        token_signing_input_len,
        jwks,
        healthz,
        peak_rss_kib,
        sign_ins,
    })
}
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
        percentile(&self.latencies, q)
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
    let cpu_before = server.process().cpu_time()?;
    let started = Instant::now();
    let tally = hammer(server.addr, target, connections, duration).await?;
    let elapsed = started.elapsed();
    let server_cpu = server.process().cpu_time()?.saturating_sub(cpu_before);
    Ok(tally
        .into_result(target.path)?
        .into_window(elapsed, server_cpu))
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
            self.fail(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
    }

    fn fail(&mut self, why: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why);
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

    /// The successes, as a window of `elapsed` in which the server spent `server_cpu`.
    fn into_window(mut self, elapsed: Duration, server_cpu: Duration) -> Window {
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
// ---------------------------------------------------------------------------------------------
// (d), (e) and (f): sign-ins against raw password hashes

struct SignInReport {
    /// The algorithm and parameters in a PHC string from the server's own hash function.
    hash_params: String,
    hash_memory_kib: u64,
    hashes: HashWindow,
    sign_ins: Window,
    concurrency: usize,
    /// Client-credentials tokens at a low rate, with the server idle and during the sign-ins.
    probe_idle: Window,
    probe_busy: Window,
}

/// Registers a web client and its users, then alternates slices of raw hashing in this process
/// (the server idle) with slices of sign-ins over HTTP: H S, S H, H S, ...
async fn sign_in_load(
    server: &mut Server,
    token: &Arc<Target>,
    settings: &Settings,
) -> Result<SignInReport> {
    let flow = Arc::new(SignInFlow::register(server).await?);
    wait_for_first_sign_in(server, &flow).await?;
    let (hash_params, hash_memory_kib) = tokio::task::spawn_blocking(hash_params).await??;
    let slices = ((settings.login.as_secs_f64() / 2.0).round() as u32).max(1);
    let slice = settings.login / slices;
    let probe_idle = probe_for(server.addr, token, slice * 2).await?;
    if !settings.warmup.is_zero() {
        sign_in_window(server, &flow, token, settings.sign_ins, settings.warmup).await?;
    }
    let mut hashes = HashWindow::default();
    let (mut sign_ins, mut probe_busy) = (Window::default(), Window::default());
    for round in 0..slices {
        if round % 2 == 0 {
            hashes.merge(raw_hashes(slice).await?);
        }
        let (window, probed) =
            sign_in_window(server, &flow, token, settings.sign_ins, slice).await?;
        sign_ins.merge(window);
        probe_busy.merge(probed);
        if round % 2 == 1 {
            hashes.merge(raw_hashes(slice).await?);
        }
        server.ensure_running()?;
    }
    Ok(SignInReport {
        hash_params,
        hash_memory_kib,
        hashes,
        sign_ins,
        concurrency: settings.sign_ins,
        probe_idle,
        probe_busy,
    })
}

/// `argon2id m=…,t=…,p=…` and its memory in KiB, read from a hash made by the server's own
/// function.
fn hash_params() -> Result<(String, u64)> {
    let phc = password::hash_blocking(PASSWORD)?;
    let fields: Vec<&str> = phc.split('$').collect();
    let ["", algorithm, _version, params, ..] = fields[..] else {
        return Err(format!("not a PHC string: {phc}").into());
    };
    let memory_kib = params
        .split(',')
        .find_map(|p| p.strip_prefix("m="))
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("no memory cost in {phc}"))?;
    Ok((format!("{algorithm} {params}"), memory_kib))
}

/// Raw hashes made in this process: how many, over how long, and their CPU time.
#[derive(Default)]
struct HashWindow {
    count: u64,
    elapsed: Duration,
    cpu: Duration,
    threads: usize,
}

impl HashWindow {
    fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_per_hash(&self) -> Duration {
        self.cpu.div_f64(self.count as f64)
    }

    /// Below `threads` when other processes took some of the cores.
    fn cores_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    fn merge(&mut self, other: Self) {
        self.count += other.count;
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.threads = other.threads;
    }
}

/// Hashes with the server's function and parameters, one thread per core, for about `duration`.
async fn raw_hashes(duration: Duration) -> Result<HashWindow> {
    tokio::task::spawn_blocking(move || raw_hash_window(cores(), duration)).await?
}

fn raw_hash_window(threads: usize, duration: Duration) -> Result<HashWindow> {
    let start = Barrier::new(threads + 1);
    let (results, elapsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| hash_loop(&start, duration)))
            .collect();
        start.wait();
        let started = Instant::now();
        let results: Vec<Result<(u64, Duration)>> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("hashing thread panicked".into()))
            })
            .collect();
        (results, started.elapsed())
    });
    let mut window = HashWindow {
        elapsed,
        threads,
        ..HashWindow::default()
    };
    for result in results {
        let (count, cpu) = result?;
        window.count += count;
        window.cpu += cpu;
    }
    Ok(window)
}

/// One unmeasured hash (its 19 MiB are then mapped, as the server's are after its first
/// sign-in); from `start`, hashes back to back for about `duration`: their count and CPU time.
fn hash_loop(start: &Barrier, duration: Duration) -> Result<(u64, Duration)> {
    let warm = password::hash_blocking(PASSWORD);
    start.wait();
    warm?;
    let cpu_before = thread_cpu_time()?;
    let started = Instant::now();
    let mut count = 0;
    loop {
        password::hash_blocking(PASSWORD)?;
        count += 1;
        if started.elapsed() >= duration {
            break;
        }
    }
    Ok((count, thread_cpu_time()?.saturating_sub(cpu_before)))
}

/// A confidential web client that skips consent, its users, and the requests of a sign-in.
struct SignInFlow {
    addr: SocketAddr,
    host: HeaderValue,
    client_id: String,
    authorization: HeaderValue,
    users: Vec<String>,
}

impl SignInFlow {
    async fn register(server: &Server) -> Result<Self> {
        let created = server
            .cli(&format!(
                "client create --tenant default --name bench-web --grant authorization_code \
                 --redirect-uri {REDIRECT_URI} --skip-consent --json"
            ))
            .await?;
        let (client_id, authorization) = client_credentials(&created)?;
        let mut users = Vec::with_capacity(USERS);
        for i in 0..USERS {
            let username = format!("bench-user-{i:02}");
            let args =
                format!("user create --tenant default --username {username} --password-stdin");
            server.cli_with_input(&args, Some(PASSWORD)).await?;
            users.push(username);
        }
        Ok(Self {
            addr: server.addr,
            host: HeaderValue::from_str(&server.addr.to_string())?,
            client_id,
            authorization,
            users,
        })
    }

    /// A new browser (its own connection, no cookies) signs in as user `n` (round the users);
    /// the client then exchanges the code on its connection `rp`. Complete when the token
    /// response holds an ID token.
    async fn sign_in(&self, rp: &mut SendRequest<Full<Bytes>>, n: usize) -> Result<()> {
        let user = &self.users[n % self.users.len()];
        let state = format!("s{n}");
        let mut browser = connect(self.addr).await?;
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", &state),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let authorize = Request::get(format!("/authorize?{query}"))
            .header(header::HOST, self.host.clone())
            .body(Full::default())?;
        let (status, headers, page) = send_keeping_headers(&mut browser, authorize).await?;
        expect(StatusCode::OK, status, "GET /authorize", &page)?;
        let csrf = set_cookie(&headers, CSRF_COOKIE).ok_or("the login page set no CSRF cookie")?;
        let page = std::str::from_utf8(&page)?;
        let login = self.post(
            "/login",
            &[
                ("request", &hidden(page, "request")?),
                ("csrf", &hidden(page, "csrf")?),
                ("username", user),
                ("password", PASSWORD),
            ],
            (
                header::COOKIE,
                HeaderValue::from_str(&format!("{CSRF_COOKIE}={csrf}"))?,
            ),
        )?;
        let (status, headers, body) = send_keeping_headers(&mut browser, login).await?;
        expect(StatusCode::SEE_OTHER, status, "POST /login", &body)?;
        let location = headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default();
        let back = location
            .strip_prefix(REDIRECT_URI)
            .and_then(|rest| rest.strip_prefix('?'))
            .ok_or_else(|| format!("POST /login sent the browser to {location:?}"))?;
        if query_param(back, "state").as_deref() != Some(state.as_str()) {
            return Err(format!("the redirect lost the state: {location}").into());
        }
        let code = query_param(back, "code").ok_or_else(|| format!("no code in {location}"))?;
        let exchange = self.post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            (header::AUTHORIZATION, self.authorization.clone()),
        )?;
        let (status, body) = send(rp, exchange).await?;
        expect(StatusCode::OK, status, "POST /token (code)", &body)?;
        let tokens: serde_json::Value = serde_json::from_slice(&body)?;
        match tokens["id_token"].as_str() {
            Some(id_token) if id_token.split('.').count() == 3 => Ok(()),
            _ => Err(format!("no ID token in {tokens}").into()),
        }
    }

    /// A form POST with one more header: the browser's cookie or the client's credentials.
    fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        (name, value): (header::HeaderName, HeaderValue),
    ) -> Result<Request<Full<Bytes>>> {
        Ok(Request::post(path)
            .header(header::HOST, self.host.clone())
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(name, value)
            .body(Full::new(Bytes::from(form_encode(form))))?)
    }
}

/// The server notices the new client within about a second; a first sign-in is the real signal.
async fn wait_for_first_sign_in(server: &mut Server, flow: &SignInFlow) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rp = connect(server.addr).await?;
    loop {
        server.ensure_running()?;
        match flow.sign_in(&mut rp, 0).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no sign-in succeeded within 15 s: {e}").into());
            }
            Err(_) => {
                rp = connect(server.addr).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Sign-ins, `concurrency` at a time, for `duration`, with the token probe alongside: the
/// sign-ins with the server's CPU time meanwhile, and the probe's tokens.
async fn sign_in_window(
    server: &Server,
    flow: &Arc<SignInFlow>,
    probe: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
) -> Result<(Window, Window)> {
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe_loop(
        server.addr,
        Arc::clone(probe),
        Arc::clone(&stop),
    ));
    let cpu_before = server.process().cpu_time()?;
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|i| tokio::spawn(sign_in_loop(Arc::clone(flow), i, concurrency, deadline)))
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu = server.process().cpu_time()?.saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    let probed = prober.await??.into_result("/token (probe)")?;
    Ok((
        tally
            .into_result("sign-in")?
            .into_window(elapsed, server_cpu),
        probed.into_window(elapsed, Duration::ZERO),
    ))
}

/// Sign-ins back to back until the deadline, as users `first`, `first + step`, ...
async fn sign_in_loop(
    flow: Arc<SignInFlow>,
    first: usize,
    step: usize,
    deadline: Instant,
) -> Result<Tally> {
    let mut rp = connect(flow.addr).await?;
    let mut tally = Tally::default();
    let mut n = first;
    while Instant::now() < deadline {
        let started = Instant::now();
        match flow.sign_in(&mut rp, n).await {
            Ok(()) => {
                tally.ok += 1;
                tally.latencies.push(started.elapsed());
            }
            Err(e) => {
                tally.fail(e.to_string());
                rp = connect(flow.addr).await?;
            }
        }
        n += step;
    }
    Ok(tally)
}

/// The token probe alone for `duration`.
async fn probe_for(addr: SocketAddr, target: &Arc<Target>, duration: Duration) -> Result<Window> {
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe_loop(addr, Arc::clone(target), Arc::clone(&stop)));
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let probed = prober.await??.into_result("/token (probe)")?;
    Ok(probed.into_window(started.elapsed(), Duration::ZERO))
}

/// One request every [`PROBE_INTERVAL`] on one keep-alive connection, until `stop`.
async fn probe_loop(addr: SocketAddr, target: Arc<Target>, stop: Arc<AtomicBool>) -> Result<Tally> {
    let mut sender = connect(addr).await?;
    let mut ticks = tokio::time::interval(PROBE_INTERVAL);
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

fn expect(want: StatusCode, got: StatusCode, what: &str, body: &[u8]) -> Result<()> {
    if got == want {
        return Ok(());
    }
    // The text of an HTML page, roughly: what a person would read in it.
    let body = String::from_utf8_lossy(body);
    let mut text = String::new();
    for chunk in body
        .split('<')
        .map(|c| c.split_once('>').map_or(c, |(_, t)| t))
    {
        text.extend(chunk.split_whitespace().flat_map(|w| [w, " "]));
    }
    let text: String = text.chars().take(300).collect();
    Err(format!("{what}: {got}, not {want}: {}", text.trim()).into())
}

/// `application/x-www-form-urlencoded`, every byte but ASCII letters and digits escaped.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
        .collect();
    encoded.join("&")
}

fn query_param(query: &str, name: &str) -> Option<String> {
    let (_, value) = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)?;
    let value = value.replace('+', " ");
    percent_decode_str(&value)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

/// The value that a `Set-Cookie` response header gives cookie `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// A hidden input's value in a page, with HTML character references decoded as a browser would.
fn hidden(page: &str, name: &str) -> Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .ok_or_else(|| format!("no hidden {name} field in the login page"))?
        + marker.len();
    let len = page[start..].find('"').ok_or("an unterminated attribute")?;
    unescape_html(&page[start..start + len])
}

fn unescape_html(text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = i + rest[i..]
            .find(';')
            .ok_or("an unterminated character reference")?;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(|n| n.ok())
                .and_then(char::from_u32),
        };
        out.push(c.ok_or_else(|| format!("unknown character reference &{entity};"))?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_summary(sign: &SignResult, load: &LoadReport, sign_in_peak_rss_kib: u64) {
    let tokens = &load.tokens;
    let per_token = tokens.server_cpu_per_request();
    let share = sign.per_op.as_secs_f64() / per_token.as_secs_f64();
    let (jwks, healthz) = (load.jwks.per_second(), load.healthz.per_second());
    let jwks_ratio = jwks / healthz;
    let peak_rss_mib = load.peak_rss_kib as f64 / 1024.0;
    let report = &load.sign_ins;
    let (hashes, sign_ins) = (&report.hashes, &report.sign_ins);
    let sign_in_ratio = sign_ins.per_second() / hashes.per_second();
    let per_sign_in = sign_ins.server_cpu_per_request();
    let hash_share = hashes.cpu_per_hash().as_secs_f64() / per_sign_in.as_secs_f64();
    let server_busy = sign_ins.server_cpu.as_secs_f64() / sign_ins.elapsed.as_secs_f64();
    let (idle, busy) = (&report.probe_idle, &report.probe_busy);
    let hash_mib = report.hash_memory_kib as f64 / 1024.0;
    let sign_in_peak_rss_mib = sign_in_peak_rss_kib as f64 / 1024.0;
    let sign_in_rss_target =
        peak_rss_mib + hashes.threads as f64 * hash_mib + SIGN_IN_RSS_SLACK_MIB;

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
    println!(
        "(d) raw {} on {} threads: {} hashes in {:.2} s, {:.1} ms CPU each, {:.2} cores busy",
        report.hash_params,
        hashes.threads,
        hashes.count,
        hashes.elapsed.as_secs_f64(),
        millis(hashes.cpu_per_hash()),
        hashes.cores_busy()
    );
    println!(
        "(e) {} sign-ins in {:.2} s, {} at a time over {USERS} users, 0 errors; server CPU {:.2} s, {:.1} ms each, {server_busy:.2} cores busy",
        sign_ins.ok,
        sign_ins.elapsed.as_secs_f64(),
        report.concurrency,
        sign_ins.server_cpu.as_secs_f64(),
        millis(per_sign_in)
    );
    for (name, w) in [("during sign-ins", busy), ("server idle", idle)] {
        println!(
            "(f) /token, one per {} ms, {name}: {} responses, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            PROBE_INTERVAL.as_millis(),
            w.ok,
            millis(w.percentile(0.50)),
            millis(w.percentile(0.99)),
            millis(w.percentile(1.0))
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
    println!(
        "raw argon2id hashes/s (d):        {:.1}     ({} threads)",
        hashes.per_second(),
        hashes.threads
    );
    println!(
        "sign-ins/s over HTTP (e):         {:.1}     (p50 {:.0} ms, p99 {:.0} ms, 0 errors)",
        sign_ins.per_second(),
        millis(sign_ins.percentile(0.50)),
        millis(sign_ins.percentile(0.99))
    );
    println!(
        "(e)/(d) sign-ins per raw hash:    {sign_in_ratio:.2}     (target >= {SIGN_IN_RATIO_TARGET:.2}){}",
        missed(sign_in_ratio >= SIGN_IN_RATIO_TARGET)
    );
    if hashes.cores_busy() < 0.9 * hashes.threads as f64 {
        println!(
            "  (other load: raw hashing had {:.2} of {} cores, the server {server_busy:.2} during sign-ins)",
            hashes.cores_busy(),
            hashes.threads
        );
    }
    println!(
        "hash share of sign-in CPU:        {hash_share:.2}     ({:.1} ms per raw hash / {:.1} ms server CPU per sign-in)",
        millis(hashes.cpu_per_hash()),
        millis(per_sign_in)
    );
    println!(
        "/token during sign-ins (f):       p50 {:.2} ms, p99 {:.2} ms   (idle: p50 {:.2} ms, p99 {:.2} ms)",
        millis(busy.percentile(0.50)),
        millis(busy.percentile(0.99)),
        millis(idle.percentile(0.50)),
        millis(idle.percentile(0.99))
    );
    println!(
        "server peak RSS after sign-ins:   {sign_in_peak_rss_mib:.1} MiB  (target < {sign_in_rss_target:.0} MiB = {peak_rss_mib:.1} + {} x {hash_mib:.1} + {SIGN_IN_RSS_SLACK_MIB:.0}){}",
        hashes.threads,
        missed(sign_in_peak_rss_mib < sign_in_rss_target)
    );
    println!("---------------------------------------------------------------------------");
}
