//! Which address a request comes from: the peer, unless the peer is a configured proxy, whose
//! `X-Forwarded-For` is then believed — and only as far back as the chain of trusted proxies goes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

use crate::http::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(of(
            &parts.extensions,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// The client address of a request; unspecified when the server did not record the peer.
pub fn of(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    resolve(peer, headers, trusted)
}

/// Walks `X-Forwarded-For` from the right (the hop nearest us) while the hop that added each
/// entry is trusted; the first address added by an untrusted hop is the client. A malformed
/// entry stops the walk at the last trusted proxy, which is then taken as the client.
/// IPv4 addresses in their IPv6-mapped form (from a dual-stack socket) are taken as IPv4.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(ip("203.0.113.9"), &xff(&["1.2.3.4"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), &xff(&["1.2.3.4"]), &[]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client forged the first entry; the proxies appended the rest.
        let headers = xff(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they still match IPv4 nets.
        assert_eq!(
            resolve(
                ip("::ffff:10.0.0.2"),
                &xff(&["::ffff:198.51.100.7"]),
                &trusted
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(ip("10.0.0.2"), &xff(&["junk"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(resolve(ip("10.0.0.2"), &xff(&[]), &trusted), ip("10.0.0.2"));
    }
}
