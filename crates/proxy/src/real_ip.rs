//! The client's address as nginx's realip module finds it, which Kong configures with `trusted_ips`
//! (`set_real_ip_from`), `real_ip_header` and `real_ip_recursive`: when the connection's peer is
//! trusted, the address comes from a header (or the PROXY protocol), so a gateway behind a load balancer
//! sees, logs, hashes and rate-limits the real client rather than the balancer. The peer itself stays
//! what decides trust in `X-Forwarded-*` and is what `X-Forwarded-For` is extended with, as in Kong.

use crate::headers::{is_trusted, joined, X_FORWARDED_FOR, X_REAL_IP};
use hyper::header::{HeaderMap, HeaderName};
use std::net::{IpAddr, SocketAddr};

/// Where the address of a trusted peer's client is read (`real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpSource {
    /// `X-Forwarded-For`: every such header, read from the last address back.
    ForwardedFor,
    /// The source address of the connection's PROXY protocol header (`proxy_protocol`).
    ProxyProtocol,
    /// Any other header (Kong's default is `X-Real-IP`): its first occurrence.
    Header(HeaderName),
}

impl RealIpSource {
    /// nginx's reading of `real_ip_header`: `X-Forwarded-For` and `proxy_protocol` are special, any other
    /// value names a header.
    pub fn parse(value: &str) -> Result<RealIpSource, String> {
        if value.eq_ignore_ascii_case("x-forwarded-for") {
            return Ok(RealIpSource::ForwardedFor);
        }
        if value == "proxy_protocol" {
            return Ok(RealIpSource::ProxyProtocol);
        }
        HeaderName::from_bytes(value.as_bytes())
            .map(RealIpSource::Header)
            .map_err(|_| format!("real_ip_header: '{value}' is not a header name"))
    }
}

impl Default for RealIpSource {
    fn default() -> Self {
        RealIpSource::Header(X_REAL_IP)
    }
}

/// `real_ip_header` and `real_ip_recursive`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealIp {
    pub source: RealIpSource,
    /// Walk back past addresses that are themselves trusted, rather than taking the last one.
    pub recursive: bool,
}

/// The client's address: `peer` unless it is trusted and the configured source gives a parseable
/// address. `proxy_protocol` is the source address of the connection's PROXY header, if it had one.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[(IpAddr, u8)],
    real_ip: &RealIp,
    proxy_protocol: Option<IpAddr>,
) -> IpAddr {
    if trusted.is_empty() || !is_trusted(trusted, peer) {
        return peer;
    }
    let walk = |list: &[u8]| walk_back(list, peer, trusted, real_ip.recursive);
    match &real_ip.source {
        RealIpSource::ProxyProtocol => proxy_protocol.unwrap_or(peer),
        RealIpSource::Header(name) => headers.get(name).map_or(peer, |value| walk(value.as_bytes())),
        RealIpSource::ForwardedFor => joined(headers, &X_FORWARDED_FOR).map_or(peer, |list| walk(&list)),
    }
}

/// nginx's `ngx_http_get_forwarded_addr_internal`: the last address of `list` replaces the trusted
/// `current` one; when `recursive`, so does each earlier one while the address reached is trusted. An
/// address that does not parse stops the walk where it is.
fn walk_back(list: &[u8], mut current: IpAddr, trusted: &[(IpAddr, u8)], recursive: bool) -> IpAddr {
    let is_separator = |b: &u8| *b == b' ' || *b == b',';
    let mut rest = list;
    loop {
        let end = rest.iter().rposition(|b| !is_separator(b)).map_or(0, |i| i + 1);
        let trimmed = &rest[..end];
        let start = trimmed.iter().rposition(is_separator).map_or(0, |i| i + 1);
        let Some(address) = parse_address(&trimmed[start..]) else { return current };
        current = address;
        if !recursive || start == 0 || !is_trusted(trusted, current) {
            return current;
        }
        rest = &trimmed[..start - 1];
    }
}

/// An address, with or without a port (`10.0.0.1`, `10.0.0.1:15`, `::1`, `[::1]:15`).
fn parse_address(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(text).ok()?;
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn trusted(list: &[&str]) -> Vec<(IpAddr, u8)> {
        list.iter().map(|t| (ip(t), if t.contains(':') { 128 } else { 32 })).collect()
    }

    fn with(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(HeaderName::from_bytes(name.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        headers
    }

    #[test]
    fn kongs_recursive_cases() {
        // Kong's spec/02-integration/05-proxy/03-upstream_headers_spec.lua, "recursive" configurations.
        let xff = RealIp { source: RealIpSource::ForwardedFor, recursive: true };
        let list = "127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1";
        let proxies = trusted(&["127.0.0.1", "172.16.0.1", "192.168.0.1"]);
        let headers = with("x-forwarded-for", &[list]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies, &xff, None), ip("10.0.0.1"));
        let ported =
            with("x-forwarded-for", &["127.0.0.1:14, 10.0.0.1:15, 192.168.0.1:16, 127.0.0.1:17, 172.16.0.1:18"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &ported, &proxies, &xff, None), ip("10.0.0.1"));
        let untrusted_peer = trusted(&["10.0.0.1", "172.16.0.1", "192.168.0.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &untrusted_peer, &xff, None), ip("127.0.0.1"));
        // Split over two headers: the same list.
        let split = with("x-forwarded-for", &["127.0.0.1, 10.0.0.1", "192.168.0.1, 127.0.0.1, 172.16.0.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &split, &proxies, &xff, None), ip("10.0.0.1"));
        // Not recursive: the last address, trusted or not.
        let last = RealIp { recursive: false, ..xff };
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies, &last, None), ip("172.16.0.1"));
    }

    #[test]
    fn the_default_header_and_the_proxy_protocol() {
        let default = RealIp::default();
        let proxies = trusted(&["127.0.0.1"]);
        let headers = with("X-Real-IP", &["10.0.0.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies, &default, None), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.2"), &headers, &proxies, &default, None), ip("127.0.0.2"), "untrusted peer");
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &[], &default, None), ip("127.0.0.1"), "no trusted_ips");
        let garbage = with("X-Real-IP", &["unknown"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &garbage, &proxies, &default, None), ip("127.0.0.1"));
        let v6 = with("X-Real-IP", &["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &v6, &proxies, &default, None), ip("2001:db8::1"));
        let pp = RealIp { source: RealIpSource::ProxyProtocol, recursive: true };
        let from = Some(ip("192.168.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies, &pp, from), ip("192.168.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies, &pp, None), ip("127.0.0.1"));
        assert_eq!(RealIpSource::parse("X-Forwarded-For"), Ok(RealIpSource::ForwardedFor));
        assert_eq!(
            RealIpSource::parse("CF-Connecting-IP"),
            Ok(RealIpSource::Header(HeaderName::from_static("cf-connecting-ip")))
        );
        assert!(RealIpSource::parse("bad header").is_err());
    }
}
