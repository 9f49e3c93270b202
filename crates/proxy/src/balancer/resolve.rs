//! Name resolution for targets, done when a balancer is built and again when its answers expire (never on
//! the request path).

use crate::dns::Dns;
pub use crate::dns::{Address, Addresses};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Turns a target hostname into addresses; a trait so tests and the node can supply their own DNS.
pub trait Resolve: Send + Sync {
    /// All addresses of `host` with `port` (or an SRV entry's), each with its SRV entry's weight, which
    /// replaces the target's as in Kong; an empty list means the name did not resolve (DNS_ERROR).
    fn resolve(&self, host: &str, port: u16) -> Addresses;

    /// When the answer for `host` expires and the targets using it should be resolved again.
    fn expires(&self, _host: &str) -> Option<Instant> {
        None
    }
}

/// Resolves targets with the node's [`Dns`] (hosts file, then DNS with record TTLs), remembering each
/// answer's expiry so the balancer can be rebuilt when it runs out, as Kong re-resolves targets.
/// Balancers are built on a blocking thread; lookups run on `runtime`.
pub struct DnsResolver {
    dns: Arc<Dns>,
    runtime: tokio::runtime::Handle,
    expiries: Mutex<HashMap<String, Instant>>,
}

impl DnsResolver {
    pub fn new(dns: Arc<Dns>, runtime: tokio::runtime::Handle) -> DnsResolver {
        DnsResolver { dns, runtime, expiries: Mutex::new(HashMap::new()) }
    }
}

impl Resolve for DnsResolver {
    fn resolve(&self, host: &str, port: u16) -> Addresses {
        let (mut addrs, expiry) = match self.runtime.block_on(self.dns.addresses(host, port)) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(host, error = %e, "balancer could not resolve target");
                // Kong retries a failed name after `dns_error_ttl`.
                (Vec::new(), Instant::now() + self.dns.settings().error_ttl)
            }
        };
        if let Ok(mut expiries) = self.expiries.lock() {
            expiries.insert(host.to_owned(), expiry);
        }
        addrs.sort();
        addrs
    }

    fn expires(&self, host: &str) -> Option<Instant> {
        self.expiries.lock().ok()?.get(host).copied()
    }
}

/// `host` without the brackets of an IPv6 literal.
pub(crate) fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// An IP literal, with or without IPv6 brackets.
pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    unbracketed(host).parse().ok()
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
