//! Header rules: hop-by-hop stripping (RFC 9110 §7.6.1) and the `X-Forwarded-*` family as Kong sets it,
//! trusting a client's own values only when it is in `trusted_ips`.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// Removes hop-by-hop headers, including those the `Connection` header names. `keep_upgrade` keeps
/// `Upgrade`/`Connection: upgrade` for WebSocket and other tunnels.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(keep_upgrade && name == hyper::header::UPGRADE) {
            headers.remove(name);
        }
    }
    // `TE: trailers` is the one TE value allowed end to end (RFC 9113 §8.2.2); gRPC needs it.
    let te_trailers = headers.get("te").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for name in HOP_BY_HOP {
        if keep_upgrade && (name == "upgrade" || name == "connection") {
            continue;
        }
        headers.remove(name);
    }
    if te_trailers {
        headers.insert("te", HeaderValue::from_static("trailers"));
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
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// The matched prefix when the route strips it (Kong sends it unless it is `/`).
    pub prefix: Option<&'a str>,
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Sets `X-Real-IP` and `X-Forwarded-{For,Proto,Host,Port,Path,Prefix}` on the upstream request.
pub fn set_forwarded(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    let client = f.client_ip.to_string();
    let incoming = |headers: &HeaderMap, name: &str| {
        if f.trusted {
            headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
        } else {
            None
        }
    };
    let xff = match incoming(headers, "x-forwarded-for") {
        Some(existing) => format!("{existing}, {client}"),
        None => client.clone(),
    };
    let proto = incoming(headers, "x-forwarded-proto").unwrap_or_else(|| f.scheme.to_string());
    let host = incoming(headers, "x-forwarded-host").unwrap_or_else(|| f.host.to_string());
    let port = incoming(headers, "x-forwarded-port").unwrap_or_else(|| f.port.to_string());
    let path = incoming(headers, "x-forwarded-path").unwrap_or_else(|| f.path.to_string());
    let prefix = incoming(headers, "x-forwarded-prefix").or_else(|| f.prefix.filter(|p| *p != "/").map(String::from));
    let real_ip = incoming(headers, "x-real-ip").unwrap_or(client);
    set(headers, "x-real-ip", &real_ip);
    set(headers, "x-forwarded-for", &xff);
    set(headers, "x-forwarded-proto", &proto);
    set(headers, "x-forwarded-host", &host);
    set(headers, "x-forwarded-port", &port);
    set(headers, "x-forwarded-path", &path);
    match prefix {
        Some(p) => set(headers, "x-forwarded-prefix", &p),
        None => {
            headers.remove("x-forwarded-prefix");
        }
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
