//! Redirect URIs (RFC 6749 §3.1.2): registered exactly, matched exactly.

use std::fmt;

use serde::Serialize;

use super::values::{InvalidValue, truncated};

/// A registered redirect URI. `https` anywhere; `http` only on loopback (RFC 8252 §7.3);
/// private-use schemes in reverse-domain form for native apps (RFC 8252 §7.1). Never a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

const MAX_LEN: usize = 2048;

impl RedirectUri {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| InvalidValue(format!("redirect URI {:?} {why}", truncated(s, 128)));
        if s.is_empty() || s.len() > MAX_LEN {
            return Err(bad("must be 1 to 2048 characters"));
        }
        if s.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(bad(
                "must be printable ASCII without spaces (percent-encode the rest)",
            ));
        }
        if s.contains('#') {
            return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
        }
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("must be an absolute URI"))?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
            && scheme.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
            });
        if !scheme_ok || rest.is_empty() {
            return Err(bad("must be an absolute URI with a lowercase scheme"));
        }
        match scheme {
            "https" => {
                let host = host_of(rest).ok_or_else(|| bad("must name a host"))?;
                if host.is_empty() {
                    return Err(bad("must name a host"));
                }
            }
            "http" => {
                let host = host_of(rest).ok_or_else(|| bad("must name a host"))?;
                if !is_loopback_host(host) {
                    return Err(bad(
                        "uses http: only loopback hosts (127.0.0.1, [::1], localhost) may; use https",
                    ));
                }
            }
            other if other.contains('.') => {}
            _ => {
                return Err(bad(
                    "must use https, http on loopback, or a reverse-domain private scheme such as com.example.app",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Exact match; for a public (native) client, a loopback IP redirect may differ only in its
    /// port, which the operating system picks at run time (RFC 8252 §7.3).
    pub fn matches(&self, presented: &str, native: bool) -> bool {
        if self.0 == presented {
            return true;
        }
        native
            && match (
                loopback_ip_without_port(&self.0),
                loopback_ip_without_port(presented),
            ) {
                (Some(registered), Some(asked)) => registered == asked,
                _ => false,
            }
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host of `//authority/...`, without port; `None` if there is no authority or it has userinfo.
fn host_of(rest: &str) -> Option<&str> {
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return None;
    }
    Some(split_port(authority).0)
}

/// Host and port of an authority. After an IP literal's `]` only `:port` may follow; anything
/// else (`[::1]@evil.example`) leaves the whole authority as the host, which matches nothing.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(end) = authority.find(']').filter(|_| authority.starts_with('[')) {
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if rest.is_empty() => (host, None),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// `http://127.0.0.1:PORT/path` or `http://[::1]:PORT/path` with the port removed.
fn loopback_ip_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = split_port(authority);
    if !matches!(host, "127.0.0.1" | "[::1]")
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(format!("http://{host}{path}"))
}

#[cfg(test)]
mod tests;
