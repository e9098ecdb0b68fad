//! Which network a client address stands for when abuse is counted.

use std::net::{IpAddr, Ipv6Addr};

/// Bits of an IPv6 address that name one site: ISPs hand every customer at least a /64.
const IPV6_SITE_BITS: u32 = 64;

/// The key that rate limits and lockout count under: an IPv4 address itself, and the /64 an
/// IPv6 address lies in. Counting each IPv6 address apart would give one attacker 2^64 fresh
/// allowances. IPv4 clients seen through a dual-stack socket (`::ffff:a.b.c.d`) count as IPv4.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - IPV6_SITE_BITS);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_counts_per_address() {
        assert_eq!(network(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_ne!(network(ip("198.51.100.7")), network(ip("198.51.100.8")));
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        assert_eq!(
            network(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            network(ip("2001:db8:1:2::1")),
            network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            network(ip("2001:db8:1:2::1")),
            network(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        assert_eq!(network(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_ne!(
            network(ip("::ffff:198.51.100.7")),
            network(ip("::ffff:198.51.100.8"))
        );
    }
}
