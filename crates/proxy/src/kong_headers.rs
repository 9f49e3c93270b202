//! The headers Kong adds to its responses, each as kong.conf's `headers` enables it (Kong 3.9's
//! `kong/runloop/handler.lua`, `header_filter`). A *proxied* response — the upstream's, or an error after
//! the request was on its way to the upstream — gets the upstream and proxy latencies, `Via` beside any
//! of the upstream's, `Server` only when the upstream sent none, and `X-Kong-Upstream-Status`. A response
//! the proxy made before proxying (no route, a plugin's exit, no target to balance to) gets
//! `X-Kong-Response-Latency` and `Server`. Both get `X-Kong-Request-Id` (see `forward`).

use hyper::header::{HeaderMap, HeaderName, HeaderValue, SERVER, VIA};
use hyper::StatusCode;
use std::time::Duration;

const X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
const X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
const X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
const X_KONG_UPSTREAM_STATUS: HeaderName = HeaderName::from_static("x-kong-upstream-status");

/// Which of Kong's response headers are sent: kong.conf's `headers`, with `server_tokens` meaning `Via`
/// and `Server` and `latency_tokens` the latency headers, as Kong's `enabled_headers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeaders {
    pub via: bool,
    pub server: bool,
    pub upstream_latency: bool,
    pub proxy_latency: bool,
    pub response_latency: bool,
    /// Off by default in Kong.
    pub upstream_status: bool,
}

impl Default for ResponseHeaders {
    /// Kong's default `headers = server_tokens, latency_tokens, X-Kong-Request-Id`.
    fn default() -> Self {
        ResponseHeaders {
            via: true,
            server: true,
            upstream_latency: true,
            proxy_latency: true,
            response_latency: true,
            upstream_status: false,
        }
    }
}

/// The enabled headers with their fixed values rendered once per proxy.
#[derive(Debug, Clone)]
pub(crate) struct KongHeaders {
    shown: ResponseHeaders,
    /// `Via` for HTTP upstreams (`1.1 gatehouse/<version>`) and for gRPC ones (`2 ...`), as Kong's
    /// `proxy_http_version`.
    via_http: HeaderValue,
    via_grpc: HeaderValue,
    /// `Via` towards the upstream for HTTP/1.0 clients (`1`: Kong prints LuaJIT's number 1.0).
    via_http10: HeaderValue,
    server: HeaderValue,
}

/// What one proxied response gets, decided when its upstream answered (or failed).
#[derive(Debug, Default)]
pub(crate) struct Added {
    pub upstream_latency: Option<Duration>,
    pub proxy_latency: Option<Duration>,
    pub via: Option<HeaderValue>,
    pub server: Option<HeaderValue>,
    pub upstream_status: Option<StatusCode>,
}

impl KongHeaders {
    pub fn new(shown: ResponseHeaders, version: &str) -> KongHeaders {
        let value = |text: String| HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("gatehouse"));
        KongHeaders {
            shown,
            via_http: value(format!("1.1 gatehouse/{version}")),
            via_grpc: value(format!("2 gatehouse/{version}")),
            via_http10: value(format!("1 gatehouse/{version}")),
            server: value(format!("gatehouse/{version}")),
        }
    }

    /// The proxy's entry for the `Via` header sent upstream, by the client's HTTP version (Kong 3.8+).
    pub fn inbound_via(&self, version: hyper::Version) -> &[u8] {
        match version {
            hyper::Version::HTTP_2 => self.via_grpc.as_bytes(),
            hyper::Version::HTTP_10 | hyper::Version::HTTP_09 => self.via_http10.as_bytes(),
            _ => self.via_http.as_bytes(),
        }
    }

    /// The headers for a proxied response: `latencies` are (upstream, proxy); `has_server` says whether
    /// the response already carries a `Server` header, which Kong leaves alone.
    pub fn proxied(&self, latencies: (Duration, Duration), grpc: bool, status: StatusCode, has_server: bool) -> Added {
        let shown = &self.shown;
        Added {
            upstream_latency: shown.upstream_latency.then_some(latencies.0),
            proxy_latency: shown.proxy_latency.then_some(latencies.1),
            via: shown.via.then(|| if grpc { self.via_grpc.clone() } else { self.via_http.clone() }),
            server: (shown.server && !has_server).then(|| self.server.clone()),
            upstream_status: shown.upstream_status.then_some(status),
        }
    }

    /// Adds to a response made before proxying: `X-Kong-Response-Latency` (`elapsed` since the request
    /// began) and `Server`, which a disabled `Server` removes — unless a plugin's exit set `Via` to the
    /// server's own value, which Kong leaves as it is.
    pub fn add_unproxied(&self, headers: &mut HeaderMap, elapsed: Duration) {
        if self.shown.response_latency {
            headers.insert(X_KONG_RESPONSE_LATENCY, milliseconds(elapsed));
        }
        if self.shown.via && headers.get(VIA) == Some(&self.server) {
            return;
        }
        match self.shown.server {
            true => headers.insert(SERVER, self.server.clone()),
            false => headers.remove(SERVER),
        };
    }
}

impl Added {
    /// Adds the headers to a header map: the latencies and the status replace an upstream's `X-Kong-*`
    /// headers, `Via` goes beside the upstream's.
    pub fn add_to(&self, headers: &mut HeaderMap) {
        if let Some(latency) = self.upstream_latency {
            headers.insert(X_KONG_UPSTREAM_LATENCY, milliseconds(latency));
        }
        if let Some(latency) = self.proxy_latency {
            headers.insert(X_KONG_PROXY_LATENCY, milliseconds(latency));
        }
        if let Some(via) = &self.via {
            headers.append(VIA, via.clone());
        }
        if let Some(server) = &self.server {
            headers.insert(SERVER, server.clone());
        }
        if let Some(status) = self.upstream_status {
            headers.insert(X_KONG_UPSTREAM_STATUS, HeaderValue::from(status.as_u16()));
        }
    }

    /// Hands each header, as Kong spells its name, to `emit`, for a head written without a map (only
    /// for responses without `X-Kong-*` headers of their own, so nothing is to be replaced).
    pub fn each(&self, mut emit: impl FnMut(&[u8], &[u8])) {
        let mut number = itoa::Buffer::new();
        if let Some(latency) = self.upstream_latency {
            emit(b"X-Kong-Upstream-Latency", number.format(latency.as_millis()).as_bytes());
        }
        if let Some(latency) = self.proxy_latency {
            emit(b"X-Kong-Proxy-Latency", number.format(latency.as_millis()).as_bytes());
        }
        if let Some(via) = &self.via {
            emit(b"Via", via.as_bytes());
        }
        if let Some(server) = &self.server {
            emit(b"Server", server.as_bytes());
        }
        if let Some(status) = self.upstream_status {
            emit(b"X-Kong-Upstream-Status", status.as_str().as_bytes());
        }
    }
}

/// A latency header's value: whole milliseconds, as Kong's. Values under 100 ms (nearly all) come from a
/// static table rather than an allocation.
fn milliseconds(duration: Duration) -> HeaderValue {
    const TWO_DIGITS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                              40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                              8081828384858687888990919293949596979899";
    match duration.as_millis() {
        n @ 0..10 => HeaderValue::from_static(&TWO_DIGITS[2 * n as usize + 1..2 * n as usize + 2]),
        n @ 10..100 => HeaderValue::from_static(&TWO_DIGITS[2 * n as usize..2 * n as usize + 2]),
        n => HeaderValue::from(u64::try_from(n).unwrap_or(u64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_whole_milliseconds() {
        let ms = |n: u64| milliseconds(Duration::from_micros(n * 1000 + 999));
        for n in [0, 7, 10, 42, 99, 100, 12345] {
            assert_eq!(ms(n), n.to_string().as_str());
        }
    }

    #[test]
    fn each_header_follows_its_own_switch() {
        let only_upstream = ResponseHeaders {
            via: false,
            server: false,
            upstream_latency: true,
            proxy_latency: false,
            response_latency: false,
            upstream_status: true,
        };
        let kong = KongHeaders::new(only_upstream, "1.0");
        let added = kong.proxied((Duration::from_millis(3), Duration::from_millis(1)), false, StatusCode::OK, false);
        let mut headers = HeaderMap::new();
        added.add_to(&mut headers);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers["x-kong-upstream-latency"], "3");
        assert_eq!(headers["x-kong-upstream-status"], "200");
        let mut lines = Vec::new();
        added.each(|name, value| lines.push((name.to_vec(), value.to_vec())));
        assert_eq!(lines.len(), 2, "the map and the raw head get the same headers");

        let all = KongHeaders::new(ResponseHeaders::default(), "1.0");
        let grpc = all.proxied((Duration::ZERO, Duration::ZERO), true, StatusCode::OK, true);
        assert_eq!(grpc.via.as_ref().map(|v| v.as_bytes()), Some(&b"2 gatehouse/1.0"[..]));
        assert!(grpc.server.is_none(), "an upstream's Server stays alone");
        let mut unproxied = HeaderMap::new();
        unproxied.insert(SERVER, HeaderValue::from_static("plugin"));
        all.add_unproxied(&mut unproxied, Duration::from_millis(5));
        assert_eq!(unproxied["x-kong-response-latency"], "5");
        assert_eq!(unproxied["server"], "gatehouse/1.0");
        let mut quiet = HeaderMap::new();
        quiet.insert(SERVER, HeaderValue::from_static("plugin"));
        kong.add_unproxied(&mut quiet, Duration::ZERO);
        assert!(quiet.is_empty(), "a disabled Server removes a plugin's, as Kong does");
    }
}
