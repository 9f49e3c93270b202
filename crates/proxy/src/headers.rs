//! Header rules: hop-by-hop stripping (RFC 9110 §7.6.1) and the `X-Forwarded-*` family as Kong sets it,
//! trusting a client's own values only when it is in `trusted_ips`.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

// Header names built once: a `&str` name is parsed and validated on every map operation.
pub const X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub const X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub const X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names. `keep_upgrade` keeps
/// `Upgrade`/`Connection: upgrade` for WebSocket and other tunnels.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names finds the hop-by-hop headers present; most messages carry only `Connection`
    // (`keep-alive`), so this removes what is there without hashing every name of the list, and allocates
    // only when `Connection` names some other header.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        if keep_upgrade {
            headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    if present & 1 != 0 {
        let listed: Vec<HeaderName> = headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            // Names of the list itself go below (where `keep_upgrade` is honoured); `close` names nothing.
            .filter(|t| {
                !t.eq_ignore_ascii_case("close") && !HOP_BY_HOP.iter().any(|h| h.as_str().eq_ignore_ascii_case(t))
            })
            .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    // `TE: trailers` is the one TE value allowed end to end (RFC 9113 §8.2.2); gRPC needs it.
    let te_trailers = headers.get(header::TE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        let kept = keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION);
        if present & (1 << i) != 0 && !kept {
            headers.remove(name);
        }
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether `ip` is inside one of the trusted networks.
pub fn is_trusted(trusted: &[(IpAddr, u8)], ip: IpAddr) -> bool {
    trusted.iter().any(|(net, bits)| in_network(*net, *bits, ip))
}

fn in_network(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits.min(32))) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits.min(128))) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V4(i)) => n.to_ipv4_mapped() == Some(i) && bits >= 96,
        _ => false,
    }
}

/// What the upstream should learn about the original request.
pub struct Forwarded<'a> {
    pub client_ip: IpAddr,
    pub trusted: bool,
    pub scheme: &'static str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// The matched prefix when the route strips it (Kong sends it unless it is `/`).
    pub prefix: Option<&'a str>,
}

/// An address as a header value. IPv4 is written digit by digit: this runs for every request, and the
/// formatting machinery costs more than the rest of the header.
pub fn ip_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    let std::net::IpAddr::V4(v4) = ip else { return HeaderValue::try_from(ip.to_string()).ok() };
    let (mut text, mut len) = ([0u8; 15], 0);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for digit in &digits[skip..] {
            text[len] = b'0' + digit;
            len += 1;
        }
    }
    HeaderValue::from_bytes(&text[..len]).ok()
}

/// Sets `X-Real-IP` and `X-Forwarded-{For,Proto,Host,Port,Path,Prefix}` on the upstream request. A trusted
/// client's own values are kept as they are (no copy); otherwise each value is built once.
pub fn set_forwarded(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    let Some(client) = ip_value(f.client_ip) else { return };
    let kept = |headers: &HeaderMap, name: &HeaderName| f.trusted && headers.contains_key(name);
    let xff = match headers.get(X_FORWARDED_FOR).filter(|_| f.trusted).and_then(|v| v.to_str().ok()) {
        Some(existing) => HeaderValue::try_from(format!("{existing}, {}", f.client_ip)).ok(),
        None => Some(client.clone()),
    };
    if let Some(xff) = xff {
        headers.insert(X_FORWARDED_FOR, xff);
    }
    if !kept(headers, &X_REAL_IP) {
        headers.insert(X_REAL_IP, client);
    }
    if !kept(headers, &X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(f.scheme));
    }
    if !kept(headers, &X_FORWARDED_HOST) {
        if let Ok(host) = HeaderValue::from_str(f.host) {
            headers.insert(X_FORWARDED_HOST, host);
        }
    }
    if !kept(headers, &X_FORWARDED_PORT) {
        headers.insert(X_FORWARDED_PORT, HeaderValue::from(f.port));
    }
    if !kept(headers, &X_FORWARDED_PATH) {
        if let Ok(path) = HeaderValue::from_str(f.path) {
            headers.insert(X_FORWARDED_PATH, path);
        }
    }
    if !kept(headers, &X_FORWARDED_PREFIX) {
        match f.prefix.filter(|p| *p != "/").and_then(|p| HeaderValue::from_str(p).ok()) {
            Some(prefix) => headers.insert(X_FORWARDED_PREFIX, prefix),
            None => headers.remove(X_FORWARDED_PREFIX),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_networks_match_by_prefix() {
        let trusted = vec![("10.0.0.0".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)];
        assert!(is_trusted(&trusted, "10.1.2.3".parse().unwrap()));
        assert!(!is_trusted(&trusted, "11.0.0.1".parse().unwrap()));
        assert!(is_trusted(&trusted, "::1".parse().unwrap()));
        assert!(is_trusted(&[("0.0.0.0".parse().unwrap(), 0)], "8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("gzip"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-secret").is_none() && h.get("te").is_none() && h.get("connection").is_none());
        assert!(h.get("x-keep").is_some());
        let mut grpc = HeaderMap::new();
        grpc.insert("te", HeaderValue::from_static("trailers"));
        strip_hop_by_hop(&mut grpc, false);
        assert_eq!(grpc["te"], "trailers", "TE: trailers is the one end-to-end TE value");
        let mut plain = HeaderMap::new();
        plain.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(plain.len(), 1, "a message without hop-by-hop headers is left alone");
    }

    #[test]
    fn tunnels_keep_upgrade_and_lose_the_rest() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade, Keep-Alive, X-Hop, close"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("trailer", HeaderValue::from_static("x-sum"));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(h.get("keep-alive").is_none() && h.get("x-hop").is_none() && h.get("trailer").is_none());
        let mut bare = HeaderMap::new();
        bare.insert("upgrade", HeaderValue::from_static("websocket"));
        strip_hop_by_hop(&mut bare, false);
        assert!(bare.is_empty(), "Upgrade is hop-by-hop unless the request is a tunnel");
    }

    #[test]
    fn addresses_render_as_their_display_form() {
        for text in ["0.0.0.0", "1.2.3.4", "10.20.255.9", "100.99.9.0", "::1", "2001:db8::7"] {
            let ip: std::net::IpAddr = text.parse().unwrap();
            assert_eq!(ip_value(ip).unwrap(), text);
        }
    }

    #[test]
    fn untrusted_clients_cannot_spoof_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let f = Forwarded {
            client_ip: "127.0.0.1".parse().unwrap(),
            trusted: false,
            scheme: "http",
            host: "example.test",
            port: 8000,
            path: "/a/b",
            prefix: Some("/a"),
        };
        set_forwarded(&mut h, &f);
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-prefix"], "/a");
        let mut trusted = HeaderMap::new();
        trusted.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        set_forwarded(&mut trusted, &Forwarded { trusted: true, ..f });
        assert_eq!(trusted["x-forwarded-for"], "1.2.3.4, 127.0.0.1");
    }
}
