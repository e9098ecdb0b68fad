//! Where settings come from: `CASTELLAN_*` variables first, then the TOML file, each checked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use super::names;

/// Settings read from the environment (`CASTELLAN_` + upper-cased name), else from the file.
pub(super) struct Sources<'a> {
    pub(super) env: &'a HashMap<String, String>,
    pub(super) file: toml::Table,
    /// Names asked for, so the file's unknown (misspelt) keys can be refused.
    pub(super) known: Vec<&'static str>,
    pub(super) errors: Vec<String>,
}

impl Sources<'_> {
    pub(super) fn raw(&mut self, name: &'static str) -> Option<String> {
        self.known.push(name);
        let var = names::variable(name);
        match self.env.get(&var) {
            Some(v) if v.trim().is_empty() => {
                self.errors.push(format!("{var} is set but empty"));
                None
            }
            Some(v) => Some(v.trim().to_owned()),
            None => match self.file.get(name)? {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                toml::Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => {
                    self.errors
                        .push(format!("{name} in the file must be a string or a number"));
                    None
                }
            },
        }
    }

    pub(super) fn int(&mut self, name: &'static str, default: i64, min: i64, max: i64) -> i64 {
        let Some(raw) = self.raw(name) else {
            return default;
        };
        match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => v,
            _ => {
                self.errors.push(format!(
                    "{name} must be a whole number from {min} to {max}, got {raw:?}"
                ));
                default
            }
        }
    }

    pub(super) fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self.raw(name).as_deref() {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                self.errors
                    .push(format!("{name} must be true or false, got {other:?}"));
                default
            }
        }
    }

    pub(super) fn per_minute(&mut self, name: &'static str, default: u32) -> u32 {
        u32::try_from(self.int(name, i64::from(default), 0, 1_000_000)).unwrap_or(default)
    }

    /// Refuses the file's keys that no setting reads (misspellings would otherwise run on defaults).
    pub(super) fn unknown_file_keys(&mut self) {
        let unknown: Vec<String> = self
            .file
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            let hint = names::closest(&key, self.known.iter().copied())
                .map(|near| format!("; did you mean {near:?}?"))
                .unwrap_or_default();
            self.errors
                .push(format!("unknown setting {key:?} in the file{hint}"));
        }
    }

    /// The same for `CASTELLAN_*` variables, except those of the project's tests and benchmarks
    /// and those the command line reads (`also_read`).
    pub(super) fn unknown_variables(&mut self, also_read: &[&str]) {
        let mut known: Vec<String> = self.known.iter().map(|n| names::variable(n)).collect();
        known.push(names::CONFIG_FILE_VARIABLE.to_owned());
        known.extend(also_read.iter().map(|v| (*v).to_owned()));
        let mut unknown: Vec<&String> = self
            .env
            .keys()
            .filter(|k| k.starts_with("CASTELLAN_") && !names::is_tooling(k))
            .filter(|k| !known.contains(k))
            .collect();
        unknown.sort();
        for var in unknown {
            let hint = names::closest(var, known.iter().map(String::as_str))
                .map(|near| format!("; did you mean {near}?"))
                .unwrap_or_default();
            self.errors
                .push(format!("unknown environment variable {var}{hint}"));
        }
    }
}

pub(super) fn read_file(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| match e.span() {
        Some(span) => {
            let (line, column) = line_and_column(&text, span.start);
            format!("{}:{line}:{column}: {}", path.display(), e.message())
        }
        None => format!("{}: {}", path.display(), e.message()),
    })
}

/// 1-based line and column (in characters) of a byte offset, as editors count them.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `HOST:PORT`, where HOST is an IP address or a name resolved now (`localhost:8080`); a name
/// with several addresses listens on the first IPv4 one, as most people who write `localhost` mean.
pub(super) fn listen_address(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let example = "e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080";
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(format!("{raw:?} needs a port: HOST:PORT, {example}"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{raw:?} has no valid port (0 to 65535): {example}"));
    }
    if host.is_empty() {
        return Err(format!("{raw:?} needs a host before the port: {example}"));
    }
    let found: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(raw)
        .map_err(|e| format!("{raw:?}: the host name {host:?} does not resolve ({e}); {example}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{raw:?}: the host name {host:?} has no address; {example}"))
}

/// Comma-separated addresses or CIDR networks, the value of the setting `name`.
pub(super) fn parse_networks(
    name: &str,
    list: &str,
    errors: &mut Vec<String>,
) -> Vec<ipnet::IpNet> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|item| {
            let parsed = item
                .parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            parsed
                .map_err(|_| errors.push(format!("{name}: {item:?} is not an address or network")))
                .ok()
        })
        .collect()
}

/// RFC 8414 §2: https (or http for local use), no query, no fragment.
pub(super) fn validate_issuer(issuer: &str) -> Result<(), &'static str> {
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
