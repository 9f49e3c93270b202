//! Name resolution for targets, done once per balancer build (never on the request path).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Turns a target hostname into addresses; a trait so tests and the node can supply their own DNS.
pub trait Resolve: Send + Sync {
    /// All addresses of `host` with `port`; an empty list means the name did not resolve (DNS_ERROR).
    fn resolve(&self, host: &str, port: u16) -> Vec<SocketAddr>;
}

/// When an answer was obtained, and the answer.
type Cached = (Instant, Vec<SocketAddr>);

/// Resolver backed by the system (`getaddrinfo`, so `/etc/hosts` is honoured) with a fixed-TTL cache,
/// because `getaddrinfo` does not report record TTLs and rebuilds should not hammer DNS.
/// Failures are not cached, so a name that starts resolving is picked up by the next rebuild.
#[derive(Debug)]
pub struct SystemResolver {
    ttl: Duration,
    cache: Mutex<HashMap<(String, u16), Cached>>,
}

impl SystemResolver {
    /// A resolver that reuses answers for `ttl`.
    pub fn new(ttl: Duration) -> SystemResolver {
        SystemResolver { ttl, cache: Mutex::new(HashMap::new()) }
    }
}

impl Default for SystemResolver {
    /// 30 seconds, a common DNS TTL.
    fn default() -> Self {
        SystemResolver::new(Duration::from_secs(30))
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        if let Some(ip) = parse_ip(host) {
            return vec![SocketAddr::new(ip, port)];
        }
        let key = (host.to_owned(), port);
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, addrs)) = cache.get(&key) {
                if at.elapsed() < self.ttl {
                    return addrs.clone();
                }
            }
        }
        let mut addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
            Ok(iter) => iter.collect(),
            Err(e) => {
                tracing::warn!(host, error = %e, "balancer could not resolve target");
                Vec::new()
            }
        };
        addrs.sort();
        addrs.dedup();
        if !addrs.is_empty() {
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(key, (Instant::now(), addrs.clone()));
            }
        }
        addrs
    }
}

/// An IP literal, with or without IPv6 brackets.
pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

/// Splits a stored target `host[:port]` into host and port (Kong's default port is 8000).
pub(crate) fn split_target(target: &str) -> (&str, u16) {
    const DEFAULT_PORT: u16 = 8000;
    if target.starts_with('[') {
        if let Some(end) = target.find(']') {
            let host = &target[..=end];
            let port = target[end + 1..].strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT);
            return (host, port);
        }
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().unwrap_or(DEFAULT_PORT)),
        _ => (target, DEFAULT_PORT),
    }
}
