//! Typed configuration from a TOML file and `CASTELLAN_*` variables; the environment wins.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::crypto::signing_key::KeyBits;

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
    /// How long a key signs before its successor takes over, in seconds.
    pub key_rotation_period: i64,
    /// How long a new key is published before it signs, in seconds; at least `jwks_max_age`
    /// plus `PROPAGATION_MARGIN`, so no cached JWKS misses it.
    pub key_publish_ahead: i64,
    /// No token lives longer than this, whatever a client asks; bounds how long retired keys stay.
    pub max_token_ttl: i64,
    /// Validators' clock skew allowed for, in seconds.
    pub clock_skew: i64,
    pub log_format: LogFormat,
    pub database_max_connections: u32,
}

/// The file's shape: every field optional, unknown fields refused so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    issuer: Option<String>,
    database_url: Option<String>,
    master_key_file: Option<String>,
    master_key: Option<String>,
    access_token_ttl: Option<i64>,
    jwks_max_age: Option<i64>,
    signing_key_bits: Option<i64>,
    key_rotation_period: Option<i64>,
    key_publish_ahead: Option<i64>,
    max_token_ttl: Option<i64>,
    clock_skew: Option<i64>,
    log_format: Option<String>,
    database_max_connections: Option<i64>,
}

/// Every problem found, reported together so an operator fixes them in one go.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

pub const MIN_TOKEN_TTL: i64 = 10;
pub const MAX_TOKEN_TTL: i64 = 86_400;
/// Time for every node to see a change in the store and serve it (refresh every second, plus slack).
pub const PROPAGATION_MARGIN: i64 = 10;

impl Config {
    /// The issuer, given the address actually bound (which differs from `listen` for port 0).
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Reads the file (if any) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CASTELLAN_"))
            .collect();
        let file = file
            .map(PathBuf::from)
            .or_else(|| env.get("CASTELLAN_CONFIG").map(PathBuf::from));
        Self::from_sources(file.as_deref(), &env)
    }

    pub fn from_sources(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let file_config = match file {
            Some(path) => read_file(path).map_err(|e| ConfigError(vec![e]))?,
            None => FileConfig::default(),
        };
        let mut errors = Vec::new();
        let mut pick = |var: &str, from_file: Option<String>| -> Option<String> {
            match env.get(var) {
                Some(v) if v.trim().is_empty() => {
                    errors.push(format!("{var} is set but empty"));
                    None
                }
                Some(v) => Some(v.trim().to_owned()),
                None => from_file,
            }
        };
        let listen = pick("CASTELLAN_LISTEN", file_config.listen);
        let issuer = pick("CASTELLAN_ISSUER", file_config.issuer);
        let database_url = pick("CASTELLAN_DATABASE_URL", file_config.database_url);
        let key_file = pick("CASTELLAN_MASTER_KEY_FILE", file_config.master_key_file);
        let key_inline = pick("CASTELLAN_MASTER_KEY", file_config.master_key);
        let ttl = pick(
            "CASTELLAN_ACCESS_TOKEN_TTL",
            file_config.access_token_ttl.map(|v| v.to_string()),
        );
        let max_age = pick(
            "CASTELLAN_JWKS_MAX_AGE",
            file_config.jwks_max_age.map(|v| v.to_string()),
        );
        let bits = pick(
            "CASTELLAN_SIGNING_KEY_BITS",
            file_config.signing_key_bits.map(|v| v.to_string()),
        );
        let period = pick(
            "CASTELLAN_KEY_ROTATION_PERIOD",
            file_config.key_rotation_period.map(|v| v.to_string()),
        );
        let ahead = pick(
            "CASTELLAN_KEY_PUBLISH_AHEAD",
            file_config.key_publish_ahead.map(|v| v.to_string()),
        );
        let max_ttl = pick(
            "CASTELLAN_MAX_TOKEN_TTL",
            file_config.max_token_ttl.map(|v| v.to_string()),
        );
        let skew = pick(
            "CASTELLAN_CLOCK_SKEW",
            file_config.clock_skew.map(|v| v.to_string()),
        );
        let log_format = pick("CASTELLAN_LOG_FORMAT", file_config.log_format);
        let pool = pick(
            "CASTELLAN_DATABASE_MAX_CONNECTIONS",
            file_config.database_max_connections.map(|v| v.to_string()),
        );

        let listen: SocketAddr = match listen.as_deref().unwrap_or("127.0.0.1:8080").parse() {
            Ok(addr) => addr,
            Err(_) => {
                errors.push("listen must be an address and port, e.g. 127.0.0.1:8080".into());
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        if let Some(Err(why)) = issuer.as_deref().map(validate_issuer) {
            errors.push(format!("issuer {issuer:?} {why}"));
        }
        let database_url = database_url.unwrap_or_else(|| "sqlite://data/castellan.db".into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            errors
                .push("database_url must start with sqlite:, postgres:// or postgresql://".into());
        }
        let master_key = match (key_inline, key_file) {
            (Some(_), Some(_)) => {
                errors.push("set either master_key or master_key_file, not both".into());
                MasterKeySource::File(PathBuf::new())
            }
            (Some(key), None) => MasterKeySource::Inline(key),
            (None, file) => MasterKeySource::File(PathBuf::from(
                file.unwrap_or_else(|| "keys/master.key".into()),
            )),
        };
        let access_token_ttl = int_in(
            &mut errors,
            "access_token_ttl",
            ttl,
            300,
            MIN_TOKEN_TTL,
            MAX_TOKEN_TTL,
        );
        let jwks_max_age = int_in(&mut errors, "jwks_max_age", max_age, 600, 0, 86_400);
        let bits = int_in(&mut errors, "signing_key_bits", bits, 2048, 2048, 4096);
        let signing_key_bits =
            KeyBits::parse(u32::try_from(bits).unwrap_or(0)).unwrap_or_else(|| {
                errors.push("signing_key_bits must be 2048, 3072 or 4096".into());
                KeyBits::Rsa2048
            });
        let key_rotation_period = int_in(
            &mut errors,
            "key_rotation_period",
            period,
            30 * 86_400,
            20,
            5 * 365 * 86_400,
        );
        let default_ahead = (2 * jwks_max_age).max(jwks_max_age + PROPAGATION_MARGIN);
        let key_publish_ahead = int_in(
            &mut errors,
            "key_publish_ahead",
            ahead,
            default_ahead,
            0,
            365 * 86_400,
        );
        let max_token_ttl = int_in(
            &mut errors,
            "max_token_ttl",
            max_ttl,
            MAX_TOKEN_TTL,
            MIN_TOKEN_TTL,
            MAX_TOKEN_TTL,
        );
        let clock_skew = int_in(&mut errors, "clock_skew", skew, 60, 0, 600);
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
        let log_format = match log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                errors.push(format!("log_format {other:?} must be text or json"));
                LogFormat::Text
            }
        };
        let database_max_connections =
            int_in(&mut errors, "database_max_connections", pool, 10, 1, 1000);

        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(Self {
            listen,
            issuer,
            database_url,
            master_key,
            access_token_ttl,
            jwks_max_age,
            signing_key_bits,
            key_rotation_period,
            key_publish_ahead,
            max_token_ttl,
            clock_skew,
            log_format,
            database_max_connections: u32::try_from(database_max_connections).unwrap_or(10),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

fn int_in(
    errors: &mut Vec<String>,
    name: &str,
    raw: Option<String>,
    default: i64,
    min: i64,
    max: i64,
) -> i64 {
    let Some(raw) = raw else { return default };
    match raw.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => v,
        _ => {
            errors.push(format!(
                "{name} must be a whole number from {min} to {max}, got {raw:?}"
            ));
            default
        }
    }
}

/// RFC 8414 §2: https (or http for local use), no query, no fragment.
fn validate_issuer(issuer: &str) -> Result<(), &'static str> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .ok_or("must be an absolute http:// or https:// URL")?;
    if issuer.contains('?') || issuer.contains('#') {
        return Err("must not have a query or fragment");
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("must name a host");
    }
    if issuer.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("must not contain spaces or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_listen_address() {
        let c =
            Config::from_sources(None, &env(&[("CASTELLAN_LISTEN", "127.0.0.1:9000")])).unwrap();
        assert_eq!(c.issuer_for(c.listen), "http://127.0.0.1:9000");
        assert_eq!(c.database_url, "sqlite://data/castellan.db");
        assert_eq!(c.access_token_ttl, 300);
        assert!(
            matches!(c.master_key, MasterKeySource::File(ref p) if p == Path::new("keys/master.key"))
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = Config::from_sources(
            None,
            &env(&[
                ("CASTELLAN_ISSUER", "https://id.example.com/?x=1"),
                ("CASTELLAN_ACCESS_TOKEN_TTL", "5"),
                ("CASTELLAN_LISTEN", "nowhere"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "access_token_ttl = 600\nissuer = \"https://file.example\"\n",
        )
        .unwrap();
        let c = Config::from_sources(
            Some(&path),
            &env(&[("CASTELLAN_ISSUER", "https://env.example")]),
        )
        .unwrap();
        assert_eq!(c.issuer.as_deref(), Some("https://env.example"));
        assert_eq!(c.access_token_ttl, 600);
    }

    #[test]
    fn publish_ahead_shorter_than_the_jwks_cache_is_refused() {
        let err = Config::from_sources(
            None,
            &env(&[
                ("CASTELLAN_JWKS_MAX_AGE", "600"),
                ("CASTELLAN_KEY_PUBLISH_AHEAD", "300"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("key_publish_ahead"), "{err}");
    }

    #[test]
    fn rotation_period_must_outlast_publication_and_retention() {
        let err = Config::from_sources(None, &env(&[("CASTELLAN_KEY_ROTATION_PERIOD", "3600")]))
            .unwrap_err();
        assert!(err.to_string().contains("key_rotation_period"), "{err}");
        let ok = Config::from_sources(
            None,
            &env(&[
                ("CASTELLAN_KEY_ROTATION_PERIOD", "60"),
                ("CASTELLAN_JWKS_MAX_AGE", "5"),
                ("CASTELLAN_KEY_PUBLISH_AHEAD", "15"),
                ("CASTELLAN_ACCESS_TOKEN_TTL", "10"),
                ("CASTELLAN_MAX_TOKEN_TTL", "20"),
                ("CASTELLAN_CLOCK_SKEW", "0"),
            ]),
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn defaults_are_consistent() {
        let c = Config::from_sources(None, &HashMap::new()).unwrap();
        assert_eq!(c.key_publish_ahead, 1200);
        assert_eq!(c.key_rotation_period, 30 * 86_400);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "isuer = \"x\"\n").unwrap();
        assert!(Config::from_sources(Some(&path), &HashMap::new()).is_err());
    }
}
