//! Reads the parts of a Kong upstream entity the balancer needs, applying Kong 3.9's schema defaults so a
//! partially filled entity (as some Admin API paths store it) behaves like a fully defaulted one.

use serde_json::{Map, Value};
use std::time::Duration;

/// Load-balancing algorithm of an upstream (`algorithm` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Weighted round-robin over a precomputed wheel (Kong's default).
    RoundRobin,
    /// Ketama-style ring of `slots` points hashed with xxhash32, like Kong's continuum.
    ConsistentHashing,
    /// Fewest in-flight requests relative to weight.
    LeastConnections,
    /// Lowest decayed EWMA of response times relative to weight.
    Latency,
}

/// Where the hash value comes from (`hash_on` / `hash_fallback`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HashSource {
    None,
    Consumer,
    Ip,
    Header(String),
    Cookie,
    Path,
    QueryArg(String),
    UriCapture(String),
}

/// Protocol of active probes (`healthchecks.active.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Tcp,
    Http,
    Https,
}

/// One direction of counters and status lists, shared by the active and passive sections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub healthy_statuses: Vec<u16>,
    pub successes: u32,
    pub unhealthy_statuses: Vec<u16>,
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct ActiveConfig {
    pub kind: ProbeKind,
    pub timeout: Duration,
    pub concurrency: usize,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    pub headers: Vec<(String, String)>,
    pub healthy_interval: Duration,
    pub unhealthy_interval: Duration,
    pub counters: Counters,
}

#[derive(Debug, Clone)]
pub(crate) struct UpstreamConfig {
    pub algorithm: Algorithm,
    pub hash_on: HashSource,
    pub hash_fallback: HashSource,
    pub cookie_name: String,
    pub cookie_path: String,
    pub slots: usize,
    pub host_header: Option<String>,
    /// `use_srv_name`: the `Host` (and SNI) of an address from an SRV entry is the entry's name.
    pub use_srv_name: bool,
    /// The upstream's `client_certificate` id: presented when the service sets none (Kong's fallback).
    pub client_certificate: Option<String>,
    pub active: ActiveConfig,
    pub passive: Counters,
    pub threshold: f64,
}

const ACTIVE_HEALTHY: &[u16] = &[200, 302];
const ACTIVE_UNHEALTHY: &[u16] = &[429, 404, 500, 501, 502, 503, 504, 505];
const PASSIVE_HEALTHY: &[u16] =
    &[200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308];
const PASSIVE_UNHEALTHY: &[u16] = &[429, 500, 503];

fn obj<'a>(map: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a Map<String, Value>> {
    map.and_then(|m| m.get(key)).and_then(Value::as_object)
}

fn string(map: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    map.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned)
}

fn number(map: Option<&Map<String, Value>>, key: &str, default: f64) -> f64 {
    map.and_then(|m| m.get(key)).and_then(Value::as_f64).unwrap_or(default)
}

fn count(map: Option<&Map<String, Value>>, key: &str) -> u32 {
    number(map, key, 0.0).clamp(0.0, u32::MAX as f64) as u32
}

fn statuses(map: Option<&Map<String, Value>>, default: &[u16]) -> Vec<u16> {
    match map.and_then(|m| m.get("http_statuses")).and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_u64).filter_map(|s| u16::try_from(s).ok()).collect(),
        None => default.to_vec(),
    }
}

fn seconds(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::from_secs_f64(value.min(1.0e9))
    } else {
        Duration::ZERO
    }
}

fn counters(section: Option<&Map<String, Value>>, healthy: &[u16], unhealthy: &[u16]) -> Counters {
    let h = obj(section, "healthy");
    let u = obj(section, "unhealthy");
    Counters {
        healthy_statuses: statuses(h, healthy),
        successes: count(h, "successes"),
        unhealthy_statuses: statuses(u, unhealthy),
        http_failures: count(u, "http_failures"),
        tcp_failures: count(u, "tcp_failures"),
        timeouts: count(u, "timeouts"),
    }
}

fn source(kind: Option<&str>, header: Option<String>, arg: Option<String>, capture: Option<String>) -> HashSource {
    match kind {
        Some("consumer") => HashSource::Consumer,
        Some("ip") => HashSource::Ip,
        Some("header") => header.map(|h| HashSource::Header(h.to_ascii_lowercase())).unwrap_or(HashSource::None),
        Some("cookie") => HashSource::Cookie,
        Some("path") => HashSource::Path,
        Some("query_arg") => arg.map(HashSource::QueryArg).unwrap_or(HashSource::None),
        Some("uri_capture") => capture.map(HashSource::UriCapture).unwrap_or(HashSource::None),
        _ => HashSource::None,
    }
}

fn headers(active: Option<&Map<String, Value>>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(map) = obj(active, "headers") {
        for (name, values) in map {
            match values {
                Value::Array(list) => {
                    for v in list {
                        let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                        out.push((name.clone(), text));
                    }
                }
                Value::String(s) => out.push((name.clone(), s.clone())),
                Value::Null => {}
                other => out.push((name.clone(), other.to_string())),
            }
        }
    }
    out
}

impl UpstreamConfig {
    /// Parses an upstream entity; unknown or missing fields take Kong's defaults.
    pub(crate) fn from_entity(upstream: &Map<String, Value>) -> UpstreamConfig {
        let up = Some(upstream);
        let algorithm = match upstream.get("algorithm").and_then(Value::as_str) {
            Some("consistent-hashing") => Algorithm::ConsistentHashing,
            Some("least-connections") => Algorithm::LeastConnections,
            Some("latency") => Algorithm::Latency,
            _ => Algorithm::RoundRobin,
        };
        let hash_on = source(
            upstream.get("hash_on").and_then(Value::as_str),
            string(up, "hash_on_header"),
            string(up, "hash_on_query_arg"),
            string(up, "hash_on_uri_capture"),
        );
        let hash_fallback = source(
            upstream.get("hash_fallback").and_then(Value::as_str),
            string(up, "hash_fallback_header"),
            string(up, "hash_fallback_query_arg"),
            string(up, "hash_fallback_uri_capture"),
        );
        let checks = obj(up, "healthchecks");
        let active = obj(checks, "active");
        let passive = obj(checks, "passive");
        let kind = match string(active, "type").as_deref() {
            Some("tcp") => ProbeKind::Tcp,
            Some("https") => ProbeKind::Https,
            _ => ProbeKind::Http,
        };
        let slots = number(up, "slots", 10_000.0);
        // Kong's continuum falls back to 1000 points when `slots` is below that.
        let slots = if (1000.0..=4_294_967_296.0).contains(&slots) { slots as usize } else { 1000 };
        UpstreamConfig {
            algorithm,
            hash_on,
            hash_fallback,
            cookie_name: string(up, "hash_on_cookie").unwrap_or_default(),
            cookie_path: string(up, "hash_on_cookie_path").unwrap_or_else(|| "/".to_owned()),
            slots: slots.min(1 << 20),
            host_header: string(up, "host_header"),
            use_srv_name: upstream.get("use_srv_name").and_then(Value::as_bool).unwrap_or(false),
            client_certificate: string(obj(up, "client_certificate"), "id"),
            active: ActiveConfig {
                kind,
                timeout: seconds(number(active, "timeout", 1.0)),
                concurrency: (number(active, "concurrency", 10.0) as usize).max(1),
                http_path: string(active, "http_path").unwrap_or_else(|| "/".to_owned()),
                https_sni: string(active, "https_sni"),
                https_verify_certificate: active
                    .and_then(|a| a.get("https_verify_certificate"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                headers: headers(active),
                healthy_interval: seconds(number(obj(active, "healthy"), "interval", 0.0)),
                unhealthy_interval: seconds(number(obj(active, "unhealthy"), "interval", 0.0)),
                counters: counters(active, ACTIVE_HEALTHY, ACTIVE_UNHEALTHY),
            },
            passive: counters(passive, PASSIVE_HEALTHY, PASSIVE_UNHEALTHY),
            threshold: number(checks, "threshold", 0.0).clamp(0.0, 100.0),
        }
    }

    /// Kong's `is_upstream_using_healthcheck`: decides between HEALTHY/UNHEALTHY and HEALTHCHECKS_OFF.
    pub(crate) fn using_healthchecks(&self) -> bool {
        !self.active.healthy_interval.is_zero()
            || !self.active.unhealthy_interval.is_zero()
            || self.passive.tcp_failures != 0
            || self.passive.timeouts != 0
            || self.passive.http_failures != 0
    }
}
