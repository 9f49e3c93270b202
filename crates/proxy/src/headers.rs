//! Header rules: hop-by-hop stripping (RFC 9110 §7.6.1) and the `X-Forwarded-*` family as Kong sets it,
//! trusting a client's own values only when it is in `trusted_ips`.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::net::IpAddr;

// Header names built once: a `&str` name is parsed and validated on every map operation.
pub const X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub(crate) const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];
/// Where `TE` is in [`HOP_BY_HOP`].
pub(crate) const TE_INDEX: usize = 3;
/// Where `Connection`, `Transfer-Encoding` and `Upgrade` are in [`HOP_BY_HOP`].
pub(crate) const CONNECTION_INDEX: usize = 0;
pub(crate) const TRANSFER_ENCODING_INDEX: usize = 5;
pub(crate) const UPGRADE_INDEX: usize = 6;

/// What a header's name alone says about it on the way through the proxy (compared byte-wise and
/// case-insensitively, so that a head parsed without a header map is told apart as cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// At this index of [`HOP_BY_HOP`].
    HopByHop(usize),
    ContentLength,
    Date,
    /// Kong adds its own `Server` only when the upstream sent none.
    Server,
    /// `X-Kong-*`: the proxy sets some of these itself, replacing an upstream's.
    Kong,
    Other,
}

/// The kind of the header named `name`: one match on the length, then one comparison.
pub(crate) fn field_kind(name: &[u8]) -> FieldKind {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 if is(b"te") => FieldKind::HopByHop(TE_INDEX),
        4 if is(b"date") => FieldKind::Date,
        6 if is(b"server") => FieldKind::Server,
        7 if is(b"trailer") => FieldKind::HopByHop(4),
        7 if is(b"upgrade") => FieldKind::HopByHop(UPGRADE_INDEX),
        10 if is(b"connection") => FieldKind::HopByHop(CONNECTION_INDEX),
        10 if is(b"keep-alive") => FieldKind::HopByHop(1),
        14 if is(b"content-length") => FieldKind::ContentLength,
        16 if is(b"proxy-connection") => FieldKind::HopByHop(2),
        17 if is(b"transfer-encoding") => FieldKind::HopByHop(TRANSFER_ENCODING_INDEX),
        18 if is(b"proxy-authenticate") => FieldKind::HopByHop(7),
        n if n > 7 && (name[0] | 0x20) == b'x' && name[..7].eq_ignore_ascii_case(b"x-kong-") => FieldKind::Kong,
        _ => FieldKind::Other,
    }
}

/// Where `name` is in [`HOP_BY_HOP`].
pub(crate) fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    match field_kind(name.as_str().as_bytes()) {
        FieldKind::HopByHop(i) => Some(i),
        _ => None,
    }
}

/// The headers a `Connection` value names besides the hop-by-hop ones (which go anyway; `keep_upgrade`
/// is honoured where they are removed) and `close`, which names nothing. Most values are just
/// `keep-alive` or `close`, which are answered without splitting.
pub(crate) fn connection_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let plain = value.eq_ignore_ascii_case(b"keep-alive") || value.eq_ignore_ascii_case(b"close");
    let value = if plain { &[][..] } else { value };
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|token| {
        !token.is_empty()
            && !token.eq_ignore_ascii_case(b"close")
            && !matches!(field_kind(token), FieldKind::HopByHop(_))
    })
}

/// Adds to `listed` the headers a `Connection` value names (see [`connection_tokens`]).
pub(crate) fn connection_listed(value: &HeaderValue, listed: &mut Vec<HeaderName>) {
    listed.extend(connection_tokens(value.as_bytes()).filter_map(|token| HeaderName::from_bytes(token).ok()));
}

/// Whether a `TE` value stays on its way through, the one hop-by-hop header that may: `TE: trailers` is
/// allowed end to end (RFC 9113 §8.2.2); gRPC needs it.
pub(crate) fn is_te_trailers(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(b"trailers")
}

/// Removes hop-by-hop headers, including those the `Connection` header names. `keep_upgrade` keeps
/// `Upgrade`/`Connection: upgrade` for WebSocket and other tunnels.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names finds the hop-by-hop headers present; most messages carry only `Connection`
    // (`keep-alive`), so this removes what is there without hashing every name of the list, and allocates
    // only when `Connection` names some other header.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        if keep_upgrade {
            headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    if present & (1 << CONNECTION_INDEX) != 0 {
        let mut listed: Vec<HeaderName> = Vec::new();
        for value in headers.get_all(hyper::header::CONNECTION) {
            connection_listed(value, &mut listed);
        }
        for name in listed {
            headers.remove(name);
        }
    }
    let te_trailers =
        present & (1 << TE_INDEX) != 0 && headers.get(header::TE).is_some_and(|v| is_te_trailers(v.as_bytes()));
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
    /// The client's address (after `real_ip`): `X-Real-IP`, and `X-Forwarded-For` when the client sent none.
    pub client_ip: IpAddr,
    /// The connection's peer, which a client's `X-Forwarded-For` is extended with, as Kong does.
    pub peer_ip: IpAddr,
    /// Whether the peer is in `trusted_ips`, so its `X-Forwarded-{Proto,Host,Port,Path,Prefix}` stand.
    pub trusted: bool,
    pub scheme: &'static str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// The matched prefix when the route strips it (Kong sends it unless it is `/`).
    pub prefix: Option<&'a str>,
    /// The `X-Kong-Request-Id` to send (`headers_upstream`).
    pub request_id: Option<&'a str>,
    /// The proxy's own entry for `Via` (`1.1 gatehouse/<version>`, by the client's HTTP version), after
    /// the client's, as Kong 3.8+ sends it.
    pub via: &'a [u8],
}

/// The headers [`Forwarded`] sets: a client's own values of these never reach the upstream, except
/// `X-Forwarded-For` and `Via`, which are extended, and the `X-Forwarded-*` ones a trusted client sent.
/// A static: a `const` header name used in an expression is built and dropped again each time.
static FORWARDED_NAMES: [HeaderName; 9] = [
    X_FORWARDED_FOR,
    X_REAL_IP,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_FORWARDED_PORT,
    X_FORWARDED_PATH,
    X_FORWARDED_PREFIX,
    X_KONG_REQUEST_ID,
    header::VIA,
];

/// The lines of [`FORWARDED_NAMES`] up to their values, for encoders that write the lines themselves;
/// spelled as Kong's nginx template spells them (`proxy_set_header X-Real-IP ...`).
pub(crate) static FORWARDED_LINE_STARTS: [&[u8]; 9] = [
    b"X-Forwarded-For: ",
    b"X-Real-IP: ",
    b"X-Forwarded-Proto: ",
    b"X-Forwarded-Host: ",
    b"X-Forwarded-Port: ",
    b"X-Forwarded-Path: ",
    b"X-Forwarded-Prefix: ",
    b"X-Kong-Request-Id: ",
    b"Via: ",
];

/// Whether `text` can be a header value as it is (visible ASCII, spaces and tabs).
fn is_value(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

impl Forwarded<'_> {
    /// Calls `emit` with each header the proxy sends for this request (its index in [`FORWARDED_NAMES`] and
    /// its value) and with `None` for a header the upstream must not get at all. Values are on the stack
    /// unless a client's `X-Forwarded-For` is extended. Generic, not `dyn`: the encoder's closure
    /// is inlined into each call (this runs for every request).
    pub fn each(&self, headers: &HeaderMap, mut emit: impl FnMut(usize, Option<&[u8]>)) {
        const XFF: usize = 0;
        const REAL_IP: usize = 1;
        const REQUEST_ID: usize = 7;
        const VIA: usize = 8;
        let mut ip_buffer = [0u8; 48];
        let ip = ip_text(self.client_ip, &mut ip_buffer);
        // Kong extends any client's list with the peer's address.
        let mut peer_buffer = [0u8; 48];
        match extended(headers, &FORWARDED_NAMES[XFF], || ip_text(self.peer_ip, &mut peer_buffer)) {
            Some(list) => emit(XFF, Some(&list)),
            None => emit(XFF, Some(ip)),
        }
        let mut port_buffer = [0u8; 5];
        let port_text = decimal(self.port, &mut port_buffer);
        let prefix_text = self.prefix.filter(|p| *p != "/" && is_value(p)).map(str::as_bytes);
        // In FORWARDED_NAMES order, after X-Forwarded-For.
        let values: [Option<&[u8]>; 6] = [
            Some(ip),
            Some(self.scheme.as_bytes()),
            is_value(self.host).then_some(self.host.as_bytes()),
            Some(port_text),
            is_value(self.path).then_some(self.path.as_bytes()),
            prefix_text,
        ];
        for (i, value) in (XFF + 1..).zip(values) {
            if i == REAL_IP || !(self.trusted && headers.contains_key(&FORWARDED_NAMES[i])) {
                emit(i, value);
            }
        }
        if let Some(id) = self.request_id {
            emit(REQUEST_ID, Some(id.as_bytes()));
        }
        match extended(headers, &FORWARDED_NAMES[VIA], || self.via) {
            Some(list) => emit(VIA, Some(&list)),
            None => emit(VIA, Some(self.via)),
        }
    }

    /// Whether the client's header `name` is replaced or removed by what [`Forwarded::each`] emits.
    pub fn replaces(&self, headers: &HeaderMap, name: &HeaderName) -> bool {
        if name == header::VIA {
            return true;
        }
        // The rest of the list starts with `x-`: most headers are ruled out by their first bytes.
        if !name.as_str().starts_with("x-") || !FORWARDED_NAMES.contains(name) {
            return false;
        }
        let [xff, real_ip, .., request_id, _via] = &FORWARDED_NAMES;
        if name == request_id {
            return self.request_id.is_some();
        }
        name == xff || name == real_ip || !(self.trusted && headers.contains_key(name))
    }
}

/// The client's `name` headers read as one list, as nginx reads repeated headers: a single one as it
/// is, several joined with `, ` (the last one last); `None` when the client sent none.
pub(crate) fn joined<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Cow<'h, [u8]>> {
    let mut sent = headers.get_all(name).iter();
    let first = sent.next()?.as_bytes();
    let Some(second) = sent.next() else { return Some(Cow::Borrowed(first)) };
    let mut list = first.to_vec();
    for more in std::iter::once(second).chain(sent) {
        list.extend_from_slice(b", ");
        list.extend_from_slice(more.as_bytes());
    }
    Some(Cow::Owned(list))
}

/// The client's `name` list ([`joined`]) with `tail` after it; `None` when the client sent none.
fn extended<'t>(headers: &HeaderMap, name: &HeaderName, tail: impl FnOnce() -> &'t [u8]) -> Option<Vec<u8>> {
    let mut list = joined(headers, name)?.into_owned();
    list.extend_from_slice(b", ");
    list.extend_from_slice(tail());
    Some(list)
}

/// Sets `X-Real-IP`, `X-Forwarded-{For,Proto,Host,Port,Path,Prefix}` and the request id on an upstream
/// request's header map (the upstreams reached through hyper's client; the pooled HTTP/1 connections
/// write the same lines as they encode the request).
pub fn set_forwarded(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    let mut changes: Vec<(HeaderName, Option<HeaderValue>)> = Vec::with_capacity(FORWARDED_NAMES.len());
    f.each(headers, |i, value| {
        let value = value.map(HeaderValue::from_bytes);
        if let Some(Err(_)) = value {
            return;
        }
        changes.push((FORWARDED_NAMES[i].clone(), value.and_then(Result::ok)));
    });
    for name in &FORWARDED_NAMES {
        if f.replaces(headers, name) {
            headers.remove(name);
        }
    }
    for (name, value) in changes {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
}

/// The decimal text of every byte value (its digits and their count), for IPv4 addresses.
static OCTETS: [([u8; 3], u8); 256] = {
    let mut table = [([0u8; 3], 0u8); 256];
    let mut n = 0;
    while n < 256 {
        let (hundreds, tens, ones) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        table[n] = match n {
            0..10 => ([b'0' + ones, 0, 0], 1),
            10..100 => ([b'0' + tens, b'0' + ones, 0], 2),
            _ => ([b'0' + hundreds, b'0' + tens, b'0' + ones], 3),
        };
        n += 1;
    }
    table
};

/// An address in its display form, IPv4 from a table of octets (this runs for every request, and the
/// formatting machinery costs more than the rest of the header).
fn ip_text(ip: IpAddr, buffer: &mut [u8; 48]) -> &[u8] {
    let IpAddr::V4(v4) = ip else {
        use std::io::Write as _;
        let mut cursor = std::io::Cursor::new(&mut buffer[..]);
        let _ = write!(cursor, "{ip}");
        let len = cursor.position() as usize;
        return &buffer[..len];
    };
    let mut len = 0;
    for octet in v4.octets() {
        let (digits, count) = &OCTETS[usize::from(octet)];
        // Three bytes copied (a fixed-size copy), the length moved by the digits' count, then a dot
        // (the last one cut off).
        buffer[len..len + 3].copy_from_slice(digits);
        len += usize::from(*count);
        buffer[len] = b'.';
        len += 1;
    }
    &buffer[..len - 1]
}

/// `n` in decimal, in `buffer` (which must hold its digits).
fn decimal<const N: usize>(mut n: u16, buffer: &mut [u8; N]) -> &[u8] {
    let mut start = N;
    loop {
        start -= 1;
        buffer[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || start == 0 {
            return &buffer[start..];
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
    fn the_hop_by_hop_lookup_agrees_with_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_by_hop_index(&header::HOST), None);
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
    fn the_line_starts_name_the_forwarded_headers_in_order() {
        for (start, name) in FORWARDED_LINE_STARTS.iter().zip(&FORWARDED_NAMES) {
            assert!(start.eq_ignore_ascii_case(format!("{name}: ").as_bytes()), "{name}");
        }
    }

    #[test]
    fn addresses_render_as_their_display_form() {
        for text in ["0.0.0.0", "1.2.3.4", "10.20.255.9", "100.99.9.0", "::1", "2001:db8::7"] {
            let ip: std::net::IpAddr = text.parse().unwrap();
            assert_eq!(ip_text(ip, &mut [0u8; 48]), text.as_bytes());
        }
        for n in 0..=255u8 {
            let ip = std::net::IpAddr::from([n, 255 - n, n / 10, 7]);
            assert_eq!(ip_text(ip, &mut [0u8; 48]), ip.to_string().as_bytes());
        }
    }

    #[test]
    fn untrusted_clients_cannot_spoof_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        let f = Forwarded {
            client_ip: "127.0.0.1".parse().unwrap(),
            peer_ip: "127.0.0.1".parse().unwrap(),
            trusted: false,
            scheme: "http",
            host: "example.test",
            port: 8000,
            path: "/a/b",
            prefix: Some("/a"),
            request_id: None,
            via: b"1.1 gatehouse/test",
        };
        set_forwarded(&mut h, &f);
        // As Kong: any client's X-Forwarded-For is extended, and X-Real-IP is always the client's address.
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 127.0.0.1");
        assert_eq!(h["x-real-ip"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-prefix"], "/a");
        let mut trusted = HeaderMap::new();
        trusted.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        trusted.append("x-forwarded-for", HeaderValue::from_static("5.6.7.8"));
        trusted.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let behind_balancer = Forwarded { trusted: true, client_ip: "5.6.7.8".parse().unwrap(), ..f };
        set_forwarded(&mut trusted, &behind_balancer);
        assert_eq!(trusted["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 127.0.0.1", "extended with the peer");
        assert_eq!(trusted["x-real-ip"], "5.6.7.8");
        assert_eq!(trusted["x-forwarded-proto"], "https");
    }
}
