//! Issuance benchmark: how close the server's cost per token comes to one RSA signature, and
//! its sign-ins per second to raw password hashes per second.
//!
//! `cargo bench --bench issuance` measures, in one run:
//! - (a) the CPU time of one raw RSA-2048 PKCS#1 v1.5 SHA-256 signature with aws-lc-rs, with
//!   one signing thread per core (the server signs on every core at once too);
//! - (a') the same for a raw ECDSA P-256 (ES256) and Ed25519 (EdDSA) signature;
//! - (b) the server process's CPU time per client-credentials token issued over HTTP/1.1
//!   keep-alive connections, with throughput and latency percentiles, for an API of each
//!   algorithm (RS256, ES256, EdDSA) and for `GET /healthz` (a trivial request through the same
//!   stack), measured in interleaved slices of about a second under the same load: the ES256
//!   tokens/s ÷ /healthz req/s ratio (target >= 0.5), and RS256 server CPU per token against
//!   the raw RSA signature (target <= 1.15x);
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

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan::crypto::password;
use hyper::body::Bytes;

use support::Result;
use support::client::Target;
use support::closed_loop::{Probe, Window, compare, compare_all};
use support::cores::{Spin, spin};
use support::env::{cores, count_from_env, secs_from_env};
use support::report::{micros, millis, missed};
use support::server::{
    API, Server, token_target, token_target_for, wait_for_first_token, wait_until_healthy,
};
use support::signin::{PASSWORD, SignInFlow, USERS, sign_in_window, wait_for_first_sign_in};

const SIGNATURE_SHARE_TARGET: f64 = 0.85;
/// RS256 server CPU per token at most this many raw RSA signatures.
const RS256_OVERHEAD_TARGET: f64 = 1.15;
/// ES256 tokens per second at least this share of `/healthz` requests per second.
const ES256_HEALTHZ_TARGET: f64 = 0.5;
/// The APIs of the other algorithms' scenarios.
const API_ES256: &str = "https://es256.bench.example.com";
const API_EDDSA: &str = "https://eddsa.bench.example.com";
const JWKS_RATIO_TARGET: f64 = 0.80;
const PEAK_RSS_TARGET_MIB: f64 = 64.0;
const SIGN_IN_RATIO_TARGET: f64 = 0.80;
/// Room for the sign-ins' sessions and database connections in the peak RSS target, beyond one
/// hash's memory per core (the server hashes on as many threads as there are cores, no more).
const SIGN_IN_RSS_SLACK_MIB: f64 = 16.0;
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
    let sign = raw_signatures(&message, settings.sign)?;
    println!(
        "(a) raw RSA-2048 sign over {} bytes: {:.1} µs CPU ({} signatures)",
        message.len(),
        micros(sign.cpu_per_op()),
        sign.count
    );
    let sign_es = raw_ecdsa(&message, settings.sign)?;
    let sign_ed = raw_ed25519(&message, settings.sign)?;
    for (name, spin) in [("ECDSA P-256", &sign_es), ("Ed25519", &sign_ed)] {
        println!(
            "(a') raw {name} sign: {:.1} µs CPU ({} signatures)",
            micros(spin.cpu_per_op()),
            spin.count
        );
    }

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
    print_algorithms(&sign, [&sign_es, &sign_ed], &load);
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

/// Signatures with one thread per core, back to back for `duration` (after 20 unmeasured
/// ones each).
///
/// The server signs on every core at once, so (a) is measured the same way: a lone thread on an
/// otherwise idle machine runs faster (turbo, whole caches) than any server under load can.
fn raw_signatures(message: &[u8], duration: Duration) -> Result<Spin> {
    let key = &KeyPair::generate(KeySize::Rsa2048)?;
    spin(cores(), duration, || {
        let rng = SystemRandom::new();
        let mut signature = vec![0u8; key.public_modulus_len()];
        for _ in 0..20 {
            key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
        }
        Ok(move || Ok(key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?))
    })
}

/// The same for ES256 (ECDSA P-256, the 64-byte r || s).
fn raw_ecdsa(message: &[u8], duration: Duration) -> Result<Spin> {
    let key = &EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
    spin(cores(), duration, || {
        let rng = SystemRandom::new();
        for _ in 0..20 {
            key.sign(&rng, message)?;
        }
        Ok(move || Ok(key.sign(&rng, message).map(drop)?))
    })
}

/// The same for EdDSA (Ed25519).
fn raw_ed25519(message: &[u8], duration: Duration) -> Result<Spin> {
    let key = &Ed25519KeyPair::generate()?;
    spin(cores(), duration, || {
        for _ in 0..20 {
            std::hint::black_box(key.sign(message));
        }
        Ok(move || {
            std::hint::black_box(key.sign(message));
            Ok(())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// (b) and (c): load against the server

struct LoadReport {
    tokens: Window,
    token_signing_input_len: usize,
    tokens_es256: Window,
    tokens_eddsa: Window,
    /// `/healthz` in the same interleaved slices as the three token scenarios.
    healthz_beside_tokens: Window,
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
    let token_es = Arc::new(token_target_for(server, API_ES256, "ES256").await?);
    let token_ed = Arc::new(token_target_for(server, API_EDDSA, "EdDSA").await?);
    for target in [&token, &token_es, &token_ed] {
        wait_for_first_token(server, target).await?;
    }

    let (connections, warmup) = (settings.connections, settings.warmup);
    let windows = compare_all(
        server,
        &[&token, &token_es, &token_ed, &healthz],
        connections,
        settings.token,
        warmup,
    )
    .await?;
    let [tokens, tokens_es256, tokens_eddsa, healthz_beside_tokens]: [Window; 4] = windows
        .try_into()
        .map_err(|_| "compare_all returned the wrong number of windows")?;
    let token_signing_input_len = check_token(tokens.sample.as_ref(), "RS256")?;
    check_token(tokens_es256.sample.as_ref(), "ES256")?;
    check_token(tokens_eddsa.sample.as_ref(), "EdDSA")?;
    let (jwks, healthz) =
        compare(server, (&jwks, &healthz), connections, settings.get, warmup).await?;
    server.ensure_running()?;
    // Read before the sign-ins, whose password hashes take 19 MiB each.
    let peak_rss_kib = server.process().peak_rss_kib()?;
    let sign_ins = sign_in_load(server, &token, settings).await?;
    server.ensure_running()?;
    Ok(LoadReport {
        tokens,
        token_signing_input_len,
        tokens_es256,
        tokens_eddsa,
        healthz_beside_tokens,
        jwks,
        healthz,
        peak_rss_kib,
        sign_ins,
    })
}

/// Checks that the sample is a token signed `alg`; returns the length of its signing input
/// (header '.' payload).
fn check_token(sample: Option<&Bytes>, alg: &str) -> Result<usize> {
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
    if header["alg"] != alg {
        return Err(format!("access_token header is not {alg}: {header}").into());
    }
    Ok(token.len() - signature.len() - 1)
}
// ---------------------------------------------------------------------------------------------
// (d), (e) and (f): sign-ins against raw password hashes

struct SignInReport {
    /// The algorithm and parameters in a PHC string from the server's own hash function.
    hash_params: String,
    hash_memory_kib: u64,
    hashes: Spin,
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
    let idle = Probe::start(server.addr, token, PROBE_INTERVAL);
    tokio::time::sleep(slice * 2).await;
    let probe_idle = idle.finish().await?;
    let load = |duration| (settings.sign_ins, duration);
    if !settings.warmup.is_zero() {
        sign_in_window(server, &flow, token, load(settings.warmup), PROBE_INTERVAL).await?;
    }
    let mut hashes = Spin::default();
    let (mut sign_ins, mut probe_busy) = (Window::default(), Window::default());
    for round in 0..slices {
        if round % 2 == 0 {
            hashes.merge(raw_hashes(slice).await?);
        }
        let (window, probed) =
            sign_in_window(server, &flow, token, load(slice), PROBE_INTERVAL).await?;
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

/// Hashes with the server's function and parameters, one thread per core, for about
/// `duration`. Each thread makes one unmeasured hash first, so its 19 MiB are mapped, as the
/// server's are after its first sign-in.
async fn raw_hashes(duration: Duration) -> Result<Spin> {
    tokio::task::spawn_blocking(move || {
        spin(cores(), duration, || {
            password::hash_blocking(PASSWORD)?;
            Ok(|| Ok(password::hash_blocking(PASSWORD).map(drop)?))
        })
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_summary(sign: &Spin, load: &LoadReport, sign_in_peak_rss_kib: u64) {
    let tokens = &load.tokens;
    let per_token = tokens.server_cpu_per_request();
    let share = sign.cpu_per_op().as_secs_f64() / per_token.as_secs_f64();
    let (jwks, healthz) = (load.jwks.per_second(), load.healthz.per_second());
    let jwks_ratio = jwks / healthz;
    let peak_rss_mib = load.peak_rss_kib as f64 / 1024.0;
    let report = &load.sign_ins;
    let (hashes, sign_ins) = (&report.hashes, &report.sign_ins);
    let sign_in_ratio = sign_ins.per_second() / hashes.per_second();
    let per_sign_in = sign_ins.server_cpu_per_request();
    let hash_share = hashes.cpu_per_op().as_secs_f64() / per_sign_in.as_secs_f64();
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
        millis(hashes.cpu_per_op()),
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
        micros(sign.cpu_per_op())
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
        millis(hashes.cpu_per_op()),
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

/// The algorithms side by side, from the interleaved slices of (b).
fn print_algorithms(sign: &Spin, raw_others: [&Spin; 2], load: &LoadReport) {
    let healthz = &load.healthz_beside_tokens;
    println!();
    println!(
        "{:<22} {:>10} {:>16} {:>14} {:>10} {:>10}",
        "scenario (b)", "req/s", "server CPU/req", "raw sign CPU", "p50 ms", "p99 ms"
    );
    let rows = [
        ("RS256 token", &load.tokens, Some(sign)),
        ("ES256 token", &load.tokens_es256, Some(raw_others[0])),
        ("EdDSA token", &load.tokens_eddsa, Some(raw_others[1])),
        ("/healthz", healthz, None),
    ];
    for (name, w, raw) in rows {
        println!(
            "{name:<22} {:>10.0} {:>13.1} µs {:>14} {:>10.2} {:>10.2}",
            w.per_second(),
            micros(w.server_cpu_per_request()),
            raw.map_or("-".into(), |r| format!("{:.1} µs", micros(r.cpu_per_op()))),
            millis(w.percentile(0.50)),
            millis(w.percentile(0.99)),
        );
    }
    let es_ratio = load.tokens_es256.per_second() / healthz.per_second();
    let ed_ratio = load.tokens_eddsa.per_second() / healthz.per_second();
    let rs_ratio = load.tokens.per_second() / healthz.per_second();
    let rs_overhead =
        load.tokens.server_cpu_per_request().as_secs_f64() / sign.cpu_per_op().as_secs_f64();
    println!("---------------------------------------------------------------------------");
    println!(
        "ES256 tokens/s / healthz req/s:   {es_ratio:.2}     (target >= {ES256_HEALTHZ_TARGET:.2}){}",
        missed(es_ratio >= ES256_HEALTHZ_TARGET)
    );
    println!("EdDSA tokens/s / healthz req/s:   {ed_ratio:.2}");
    println!("RS256 tokens/s / healthz req/s:   {rs_ratio:.2}");
    println!(
        "RS256 CPU per token / raw RSA:    {rs_overhead:.2}x    (target <= {RS256_OVERHEAD_TARGET:.2}x){}",
        missed(rs_overhead <= RS256_OVERHEAD_TARGET)
    );
    println!("---------------------------------------------------------------------------");
}
