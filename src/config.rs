//! Typed configuration from a TOML file and `CASTELLAN_*` variables; the environment wins.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::crypto::signing_key::KeyBits;
use crate::protocol::SigningAlg;

pub mod names;
mod sources;

use sources::{Sources, listen_address, parse_networks, read_file, validate_issuer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the key-encryption key comes from.
#[derive(Clone)]
pub enum MasterKeySource {
    File(PathBuf),
    /// The key itself (base64); never printed.
    Inline(String),
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Inline(_) => f.write_str("Inline([redacted])"),
        }
    }
}

/// How long browser sign-in state lives, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub session_ttl: i64,
    /// A remembered consent is asked again after this long.
    pub consent_ttl: i64,
    /// A refresh token unused this long is dead.
    pub refresh_idle_ttl: i64,
    /// Refresh tokens end this long after sign-in, however often they are used.
    pub refresh_absolute_ttl: i64,
    /// A spent refresh token presented again this soon by the same client (a network retry) gets a
    /// new successor instead of revoking its family; 0 turns the grace off.
    pub refresh_reuse_grace: i64,
}

/// Failed-login throttling; see `signin::lockout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures of one account from one address before it is locked for that address.
    pub threshold: i64,
    /// The first lock's length in seconds; each further failure doubles it, up to `max_delay`.
    pub base_delay: i64,
    pub max_delay: i64,
    /// Failures of one account from all addresses within `window` that lock it everywhere.
    pub account_threshold: i64,
    /// Failures from one address across all accounts within `window` (password spraying).
    pub address_threshold: i64,
    pub window: i64,
}

/// Requests per minute per client address; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub token: u32,
    pub authorize: u32,
    pub login: u32,
    pub introspect: u32,
    pub revoke: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Absolute URL without query or fragment; the `iss` of every token, exactly as configured.
    /// `None` means `http://` plus the address the server is listening on.
    pub issuer: Option<String>,
    pub database_url: String,
    pub master_key: MasterKeySource,
    /// Default access-token lifetime in seconds; a client may override it.
    pub access_token_ttl: i64,
    /// `Cache-Control: max-age` of the JWKS, in seconds.
    pub jwks_max_age: i64,
    pub signing_key_bits: KeyBits,
    /// Algorithms that sign, RS256 first (always there); APIs and clients choose among them.
    pub signing_algs: Vec<SigningAlg>,
    /// How long a key signs before its successor takes over, in seconds.
    pub key_rotation_period: i64,
    /// How long a new key is published before it signs, in seconds; at least `jwks_max_age`
    /// plus `PROPAGATION_MARGIN`, so no cached JWKS misses it.
    pub key_publish_ahead: i64,
    /// No token lives longer than this, whatever a client asks; bounds how long retired keys stay.
    pub max_token_ttl: i64,
    /// Validators' clock skew allowed for, in seconds.
    pub clock_skew: i64,
    /// Longest life of a client assertion (`private_key_jwt`), seconds.
    pub client_assertion_max_lifetime: i64,
    /// Also accept the token endpoint URL as a client assertion's `aud` (before rfc7523bis).
    pub client_assertion_token_endpoint_audience: bool,
    /// Remote JWKS may be fetched over http and from loopback addresses (tests only).
    pub jwks_fetch_allow_http_loopback: bool,
    /// Networks a remote JWKS may be fetched from although the SSRF guard refuses them
    /// (private, link-local, ...).
    pub jwks_fetch_allowed_networks: Vec<ipnet::IpNet>,
    /// Seconds a remote JWKS fetch may take, connecting included.
    pub jwks_fetch_timeout: u64,
    /// The largest remote JWKS document read, in bytes.
    pub jwks_fetch_max_bytes: usize,
    pub log_format: LogFormat,
    pub database_max_connections: u32,
    pub sessions: SessionPolicy,
    pub lockout: LockoutPolicy,
    pub rate_limits: RateLimits,
    /// Peers whose `X-Forwarded-For` names the real client; nobody else's is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Audit events older than this many seconds are deleted.
    pub audit_retention: i64,
    /// Seconds between purges of expired codes, sessions, refresh tokens and revocations.
    pub purge_interval: u64,
    /// Where a first start writes the bootstrap admin client's secret, instead of stdout.
    pub bootstrap_secret_file: Option<PathBuf>,
    /// Seconds a client has to send its request headers (slow-loris clients are cut off).
    pub header_timeout: u64,
    /// Seconds a whole request may take.
    pub request_timeout: u64,
    /// Where `/metrics` is served instead of on `listen` (so it need not be public); `None`
    /// keeps it on the main listener.
    pub metrics_listen: Option<SocketAddr>,
}

/// Every problem found, reported together so an operator fixes them in one go.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

pub const MIN_TOKEN_TTL: i64 = 10;
pub const MAX_TOKEN_TTL: i64 = 86_400;
/// Time for every node to see a change in the store and serve it (refresh every second, plus slack).
pub const PROPAGATION_MARGIN: i64 = 10;

const DAY: i64 = 86_400;

impl Config {
    /// The issuer, given the address actually bound (which differs from `listen` for port 0).
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Reads the file (if any) and the process environment; `also_read` names the variables the
    /// command line reads itself, which are not refused as unknown.
    pub fn load(file: Option<&Path>, also_read: &[&str]) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CASTELLAN_"))
            .collect();
        let file = file
            .map(PathBuf::from)
            .or_else(|| env.get(names::CONFIG_FILE_VARIABLE).map(PathBuf::from));
        Self::from_sources_allowing(file.as_deref(), &env, also_read)
    }

    pub fn from_sources(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        Self::from_sources_allowing(file, env, &[])
    }

    /// Unknown `CASTELLAN_*` variables and file keys are refused, except those in `also_read`.
    pub fn from_sources_allowing(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        also_read: &[&str],
    ) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) => read_file(path).map_err(|e| ConfigError(vec![e]))?,
            None => toml::Table::new(),
        };
        let mut src = Sources {
            env,
            file,
            known: vec![],
            errors: vec![],
        };
        Self::read(&mut src, also_read)
    }

    /// The name of every setting (the file's keys; the variables are `CASTELLAN_` + upper case),
    /// in the order they are read.
    pub fn setting_names() -> Vec<&'static str> {
        let env = HashMap::new();
        let mut src = Sources {
            env: &env,
            file: toml::Table::new(),
            known: vec![],
            errors: vec![],
        };
        let _ = Self::read(&mut src, &[]);
        src.known
    }

    fn read(src: &mut Sources<'_>, also_read: &[&str]) -> Result<Self, ConfigError> {
        let raw_listen = src.raw("listen");
        let listen = match listen_address(raw_listen.as_deref().unwrap_or("127.0.0.1:8080")) {
            Ok(addr) => addr,
            Err(why) => {
                src.errors.push(format!("listen {why}"));
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        let issuer = src.raw("issuer");
        if let Some(value) = issuer.as_deref()
            && let Err(why) = validate_issuer(value)
        {
            src.errors.push(format!("issuer {value:?} {why}"));
        }
        let database_url = src
            .raw("database_url")
            .unwrap_or_else(|| "sqlite://data/castellan.db".into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            src.errors
                .push("database_url must start with sqlite:, postgres:// or postgresql://".into());
        }
        let master_key = match (src.raw("master_key"), src.raw("master_key_file")) {
            (Some(_), Some(_)) => {
                src.errors
                    .push("set either master_key or master_key_file, not both".into());
                MasterKeySource::File(PathBuf::new())
            }
            (Some(key), None) => MasterKeySource::Inline(key),
            (None, file) => MasterKeySource::File(PathBuf::from(
                file.unwrap_or_else(|| "keys/master.key".into()),
            )),
        };
        let access_token_ttl = src.int("access_token_ttl", 300, MIN_TOKEN_TTL, MAX_TOKEN_TTL);
        let jwks_max_age = src.int("jwks_max_age", 600, 0, DAY);
        let bits = src.int("signing_key_bits", 2048, 2048, 4096);
        let signing_key_bits =
            KeyBits::parse(u32::try_from(bits).unwrap_or(0)).unwrap_or_else(|| {
                src.errors
                    .push("signing_key_bits must be 2048, 3072 or 4096".into());
                KeyBits::Rsa2048
            });
        let signing_algs = signing_algs(src.raw("signing_algs"), &mut src.errors);
        let key_rotation_period = src.int("key_rotation_period", 30 * DAY, 20, 5 * 365 * DAY);
        let default_ahead = (2 * jwks_max_age).max(jwks_max_age + PROPAGATION_MARGIN);
        let key_publish_ahead = src.int("key_publish_ahead", default_ahead, 0, 365 * DAY);
        let max_token_ttl = src.int("max_token_ttl", MAX_TOKEN_TTL, MIN_TOKEN_TTL, MAX_TOKEN_TTL);
        let clock_skew = src.int("clock_skew", 60, 0, 600);
        let client_assertion_max_lifetime =
            src.int("client_assertion_max_lifetime", 3600, 10, 86_400);
        let client_assertion_token_endpoint_audience =
            src.flag("client_assertion_token_endpoint_audience", false);
        let jwks_fetch_allow_http_loopback = src.flag("jwks_fetch_allow_http_loopback", false);
        let jwks_fetch_allowed_networks = src
            .raw("jwks_fetch_allowed_networks")
            .map(|list| parse_networks("jwks_fetch_allowed_networks", &list, &mut src.errors))
            .unwrap_or_default();
        let jwks_fetch_timeout = src.int("jwks_fetch_timeout", 5, 1, 60);
        let jwks_fetch_max_bytes = src.int("jwks_fetch_max_bytes", 65_536, 1024, 1_048_576);
        let log_format = match src.raw("log_format").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                src.errors
                    .push(format!("log_format {other:?} must be text or json"));
                LogFormat::Text
            }
        };
        let database_max_connections = src.int("database_max_connections", 10, 1, 1000);
        let sessions = SessionPolicy {
            session_ttl: src.int("session_ttl", 12 * 3600, 60, 30 * DAY),
            consent_ttl: src.int("consent_ttl", 180 * DAY, 60, 5 * 365 * DAY),
            refresh_idle_ttl: src.int("refresh_idle_ttl", 14 * DAY, 60, 365 * DAY),
            refresh_absolute_ttl: src.int("refresh_absolute_ttl", 30 * DAY, 60, 365 * DAY),
            refresh_reuse_grace: src.int("refresh_reuse_grace", 0, 0, 60),
        };
        let lockout = LockoutPolicy {
            threshold: src.int("lockout_threshold", 5, 1, 1000),
            base_delay: src.int("lockout_base_delay", 2, 1, 3600),
            max_delay: src.int("lockout_max_delay", 900, 1, DAY),
            account_threshold: src.int("lockout_account_threshold", 20, 1, 100_000),
            address_threshold: src.int("lockout_address_threshold", 30, 1, 100_000),
            window: src.int("lockout_window", 900, 10, DAY),
        };
        let rate_limits = RateLimits {
            token: src.per_minute("rate_limit_token", 6000),
            authorize: src.per_minute("rate_limit_authorize", 120),
            login: src.per_minute("rate_limit_login", 30),
            introspect: src.per_minute("rate_limit_introspect", 6000),
            revoke: src.per_minute("rate_limit_revoke", 600),
        };
        let trusted_proxies = src
            .raw("trusted_proxies")
            .map(|list| parse_networks("trusted_proxies", &list, &mut src.errors))
            .unwrap_or_default();
        let audit_retention = src.int("audit_retention", 90 * DAY, DAY, 10 * 365 * DAY);
        let purge_interval = src.int("purge_interval", 300, 1, DAY);
        let bootstrap_secret_file = src.raw("bootstrap_secret_file").map(PathBuf::from);
        let header_timeout = src.int("header_timeout", 10, 1, 300);
        let request_timeout = src.int("request_timeout", 30, 1, 600);
        let metrics_listen = src
            .raw("metrics_listen")
            .and_then(|raw| match listen_address(&raw) {
                Ok(addr) => Some(addr),
                Err(why) => {
                    src.errors.push(format!("metrics_listen {why}"));
                    None
                }
            });
        src.unknown_file_keys();
        src.unknown_variables(also_read);

        let errors = &mut src.errors;
        if key_publish_ahead < jwks_max_age + PROPAGATION_MARGIN {
            errors.push(format!(
                "key_publish_ahead ({key_publish_ahead} s) must be at least jwks_max_age ({jwks_max_age} s) plus {PROPAGATION_MARGIN} s: \
                 a validator holding a cached JWKS would meet a key it has never seen"
            ));
        }
        if access_token_ttl > max_token_ttl {
            errors.push(format!(
                "access_token_ttl ({access_token_ttl} s) must not exceed max_token_ttl ({max_token_ttl} s)"
            ));
        }
        let retention = max_token_ttl + clock_skew;
        if key_rotation_period < key_publish_ahead + retention {
            errors.push(format!(
                "key_rotation_period ({key_rotation_period} s) must be at least key_publish_ahead ({key_publish_ahead} s) \
                 plus max_token_ttl and clock_skew ({retention} s), so the JWKS holds at most three keys"
            ));
        }
        if sessions.refresh_idle_ttl > sessions.refresh_absolute_ttl {
            errors.push("refresh_idle_ttl must not exceed refresh_absolute_ttl".into());
        }
        if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
            errors.push("metrics_listen must differ from listen".into());
        }
        if lockout.base_delay > lockout.max_delay {
            errors.push("lockout_base_delay must not exceed lockout_max_delay".into());
        }
        if !src.errors.is_empty() {
            return Err(ConfigError(std::mem::take(&mut src.errors)));
        }
        Ok(Self {
            listen,
            issuer,
            database_url,
            master_key,
            access_token_ttl,
            jwks_max_age,
            signing_key_bits,
            signing_algs,
            key_rotation_period,
            key_publish_ahead,
            max_token_ttl,
            clock_skew,
            client_assertion_max_lifetime,
            client_assertion_token_endpoint_audience,
            jwks_fetch_allow_http_loopback,
            jwks_fetch_allowed_networks,
            jwks_fetch_timeout: jwks_fetch_timeout.unsigned_abs(),
            jwks_fetch_max_bytes: usize::try_from(jwks_fetch_max_bytes).unwrap_or(65_536),
            log_format,
            database_max_connections: u32::try_from(database_max_connections).unwrap_or(10),
            sessions,
            lockout,
            rate_limits,
            trusted_proxies,
            audit_retention,
            purge_interval: purge_interval.unsigned_abs(),
            bootstrap_secret_file,
            header_timeout: header_timeout.unsigned_abs(),
            request_timeout: request_timeout.unsigned_abs(),
            metrics_listen,
        })
    }
}

/// `signing_algs`: an array in the file, a comma-separated list in `CASTELLAN_SIGNING_ALGS`.
/// RS256 must be among them (OIDC requires it); it comes first, the rest in a fixed order.
fn signing_algs(raw: Option<String>, errors: &mut Vec<String>) -> Vec<SigningAlg> {
    let Some(raw) = raw else {
        return vec![SigningAlg::RS256];
    };
    let mut algs = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match SigningAlg::parse(name) {
            Some(alg) => algs.push(alg),
            None => errors.push(format!(
                "signing_algs: {name:?} is not a signing algorithm Castellan knows ({})",
                SigningAlg::names()
            )),
        }
    }
    if !algs.contains(&SigningAlg::RS256) {
        errors.push(format!(
            "signing_algs must include RS256 (OpenID Connect requires it), got {raw:?}"
        ));
    }
    algs.push(SigningAlg::RS256);
    algs.sort();
    algs.dedup();
    algs
}

#[cfg(test)]
mod example_file;
#[cfg(test)]
mod tests;
