//! The SSRF guard: which addresses a JWKS may be fetched from, and the DNS resolver that
//! enforces it on every address the HTTP client connects to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Addresses refused unless allow-listed, and the allow-list.
#[derive(Debug)]
pub(super) struct Guard {
    pub(super) allow_loopback: bool,
    pub(super) allowed: Vec<IpNet>,
}

/// Why a host cannot be fetched from; raised inside the HTTP client's resolver and found again
/// in the error's causes, so the caller's message names the address.
#[derive(Debug, thiserror::Error)]
pub(super) enum Blocked {
    #[error("{address} is {why}")]
    Refused { address: IpAddr, why: &'static str },
    #[error("{0}")]
    Lookup(String),
}

impl Guard {
    /// `Err(why)` for an address in a refused range that no allowance covers.
    pub(super) fn check(&self, address: IpAddr) -> Result<(), &'static str> {
        let canonical = canonical(address);
        if self
            .allowed
            .iter()
            .any(|net| net.contains(&address) || net.contains(&canonical))
        {
            return Ok(());
        }
        match special(canonical) {
            None => Ok(()),
            Some(_) if self.allow_loopback && canonical.is_loopback() => Ok(()),
            Some(why) => Err(why),
        }
    }

    /// The addresses of `host`, every one of which passes `check` (a host with any refused
    /// address is refused: a public name has no business resolving into a private network).
    /// `localhost` must resolve to loopback addresses only (RFC 6761), whatever is allow-listed,
    /// since http is allowed to it.
    pub(super) async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, Blocked> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| Blocked::Lookup(format!("{host} does not resolve: {e}")))?
            .collect();
        if found.is_empty() {
            return Err(Blocked::Lookup(format!("{host} has no address")));
        }
        let localhost = is_localhost(host);
        for found in &found {
            let address = found.ip();
            if localhost && !canonical(address).is_loopback() {
                return Err(Blocked::Refused {
                    address,
                    why: "not a loopback address, which localhost must resolve to",
                });
            }
            self.check(address)
                .map_err(|why| Blocked::Refused { address, why })?;
        }
        Ok(found)
    }
}

pub(super) fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .get(host.len().saturating_sub(".localhost".len())..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
}

/// The HTTP client's resolver: names resolve only to addresses the guard lets through.
/// (The client skips the resolver for literal IP hosts; those are checked before each request.)
pub(super) struct GuardedResolver(pub(super) Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = guard.resolve(&host).await?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// An IPv4 address carried in IPv6 (mapped `::ffff:a.b.c.d`, or NAT64 `64:ff9b::a.b.c.d`, which
/// a NAT64 gateway forwards to it) as that IPv4 address; any other address as it is.
pub(super) fn canonical(address: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = address else {
        return address;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = v6.octets();
        return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    }
    address
}

/// What kind of special-use address this is, if any: a phrase for the error message.
pub(super) fn special(address: IpAddr) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [first, second, third, _] = a.octets();
    let why = if a == Ipv4Addr::new(169, 254, 169, 254) {
        "a cloud metadata address"
    } else if a.is_loopback() {
        "a loopback address"
    } else if first == 0 {
        // Linux connects 0.0.0.0 to the local host.
        "an unspecified address (0.0.0.0/8)"
    } else if a.is_private() {
        "a private address (RFC 1918)"
    } else if a.is_link_local() {
        "a link-local address"
    } else if first == 100 && (second & 0xc0) == 64 {
        "a shared (CGNAT) address (100.64.0.0/10)"
    } else if a.is_broadcast() {
        "the broadcast address"
    } else if a.is_multicast() {
        "a multicast address"
    } else if first >= 240
        || (first, second, third) == (192, 0, 0)
        || (first == 198 && (second & 0xfe) == 18)
        || (first, second, third) == (192, 0, 2)
        || (first, second, third) == (198, 51, 100)
        || (first, second, third) == (203, 0, 113)
    {
        "a reserved address"
    } else {
        return None;
    };
    Some(why)
}

fn special_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    let why = if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        "a cloud metadata address"
    } else if a.is_loopback() {
        "a loopback address"
    } else if a.is_unspecified() {
        "an unspecified address"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "a private (unique local) address (fc00::/7)"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "a link-local address"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "a site-local address"
    } else if a.is_multicast() {
        "a multicast address"
    } else if s[0] == 0x2002
        || (s[0], s[1]) == (0x2001, 0)
        || s[..3] == [0x64, 0xff9b, 1]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
    {
        // 6to4, Teredo, local-use NAT64 and IPv4-translated addresses carry an IPv4 address
        // that may be private: refused rather than decoded.
        "a transition address carrying IPv4 (6to4, Teredo, NAT64, translated)"
    } else if s[..6] == [0; 6] || s[0] == 0x2001 && s[1] == 0x0db8 || s[..4] == [0x100, 0, 0, 0] {
        // IPv4-compatible (deprecated), documentation, discard-only.
        "a reserved address"
    } else {
        return None;
    };
    Some(why)
}
