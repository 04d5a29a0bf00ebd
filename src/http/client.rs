//! The client's address as the sign-in lock-out keys it.

use std::net::{IpAddr, Ipv6Addr};

use poem::Request;

/// The address `req` came from: the peer's, or, when the peer is one of `trusted` proxies,
/// the address its `X-Forwarded-For` names, read from the right past further trusted
/// proxies (the entries left of the first untrusted one are the client's own claims, and
/// anyone can write those). An IPv6 address counts as its /64, the block one subscriber
/// holds, so hopping within it does not give an attacker fresh counts.
pub fn client_address(req: &Request, trusted: &[IpAddr]) -> String {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    match resolve(peer, &forwarded, trusted) {
        Some(ip) => key(ip),
        None => "unknown".into(),
    }
}

fn resolve(peer: Option<IpAddr>, forwarded: &[&str], trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut addr = peer?.to_canonical();
    let mut hops = forwarded.iter().rev();
    while trusted.contains(&addr) {
        // A malformed or missing entry: the last trusted proxy is all we know.
        match hops.next().and_then(|h| h.trim().parse::<IpAddr>().ok()) {
            Some(next) => addr = next.to_canonical(),
            None => break,
        }
    }
    Some(addr)
}

fn key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy = [ip("10.0.0.1"), ip("10.0.0.2")];
        let peer = Some(ip("10.0.0.1"));
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(
            resolve(Some(ip("198.51.100.7")), &["203.0.113.9"], &proxy),
            Some(ip("198.51.100.7"))
        );
        // Trusted: the rightmost entry that is not one of ours; the forged left part is ignored.
        assert_eq!(
            resolve(peer, &["1.2.3.4", " 203.0.113.9", "10.0.0.2"], &proxy),
            Some(ip("203.0.113.9"))
        );
        // Nothing usable forwarded: the proxy itself.
        assert_eq!(resolve(peer, &[], &proxy), peer);
        assert_eq!(resolve(peer, &["garbage"], &proxy), peer);
        assert_eq!(resolve(None, &[], &proxy), None);
        // IPv4-mapped IPv6 is the IPv4 address.
        assert_eq!(
            resolve(Some(ip("::ffff:10.0.0.1")), &["203.0.113.9"], &proxy),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(key(ip("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
        assert_eq!(key(ip("192.0.2.1")), "192.0.2.1");
    }
}
