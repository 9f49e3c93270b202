//! Kong-compatible load balancing for upstream entities: round-robin, consistent-hashing,
//! least-connections and latency, with passive and active health checks.
//!
//! A [`Balancer`] is built once per configuration change from the upstream and its targets; picking is
//! lock-free and allocation-free on the common path. Per-address state (health, in-flight counts,
//! latency) lives in shared atomics that [`Balancer::build_from_previous`] hands on to the next
//! generation, so configuration changes do not reset health.

mod active;
mod config;
mod hash;
mod health;
mod report;
mod resolve;

pub use active::ProbeTls;
pub use config::Algorithm;
pub use hash::{xxhash32, HashInput, Lookup};
pub use health::{InFlightGuard, Outcome};
pub(crate) use resolve::{parse_ip, unbracketed};
pub use resolve::{Address, Addresses, DnsResolver, Resolve};

use config::UpstreamConfig;
use hash::EMPTY;
use health::AddrState;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The address chosen for one try of a request.
#[derive(Debug)]
pub struct Pick {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Hostname of the target as stored (no port), or of its SRV entry under `use_srv_name`, for the
    /// upstream `Host` header (with `addr`'s port) when `preserve_host` is off and no `host_header` is
    /// set, and for SNI.
    pub target_host: Arc<str>,
    /// Least-connections in-flight slot; keep it until the upstream response is finished.
    pub guard: Option<InFlightGuard>,
    /// `Set-Cookie` value to add to the response when consistent hashing invented a hash cookie.
    pub set_cookie: Option<String>,
    /// The consistent-hashing key's hash; pass it to [`Balancer::pick_with_hash`] for retries so a
    /// generated cookie is not generated again.
    pub hash: Option<u32>,
}

/// One target as configured, with its resolved addresses.
#[derive(Debug)]
pub(crate) struct TargetInfo {
    pub entity: Map<String, Value>,
    pub raw: String,
    pub host: Arc<str>,
    pub port: u16,
    pub weight: u32,
    pub entries: Range<usize>,
    /// The name resolved to SRV entries (the health report says `SRV`).
    pub srv: bool,
}

/// One resolved address of one target.
#[derive(Debug)]
pub(crate) struct Entry {
    pub addr: SocketAddr,
    /// The target's weight, or its SRV entry's; 0 keeps the entry for reporting only.
    pub weight: u32,
    pub target: usize,
    /// The name for the upstream `Host` and SNI: the target's, or its SRV entry's (`use_srv_name`).
    pub host: Arc<str>,
    pub state: Arc<AddrState>,
}

/// An address to probe, the host for its `Host` header and its shared state.
pub(crate) type ProbeItem = (SocketAddr, Arc<str>, Arc<AddrState>);

/// The load balancer of one upstream for one configuration generation.
#[derive(Debug)]
pub struct Balancer {
    pub(crate) cfg: UpstreamConfig,
    pub(crate) upstream_id: Option<String>,
    pub(crate) targets: Vec<TargetInfo>,
    pub(crate) entries: Vec<Entry>,
    /// One state per distinct address (several targets may resolve to the same `ip:port`).
    pub(crate) states: HashMap<SocketAddr, Arc<AddrState>>,
    wheel: Vec<u32>,
    ring: Vec<u32>,
    cursor: AtomicUsize,
    pub(crate) total_weight: u64,
}

fn weight_of(target: &Map<String, Value>) -> u32 {
    target.get("weight").and_then(Value::as_u64).map_or(100, |w| w.min(u64::from(u32::MAX)) as u32)
}

impl Balancer {
    /// Builds a balancer with fresh per-address state.
    pub fn build(upstream: &Map<String, Value>, targets: &[Map<String, Value>], resolver: &dyn Resolve) -> Balancer {
        Balancer::build_from_previous(None, upstream, targets, resolver)
    }

    /// Builds a balancer, reusing health, in-flight counts and latency of addresses `prev` already had,
    /// because Kong keeps health across configuration changes.
    pub fn build_from_previous(
        prev: Option<&Balancer>,
        upstream: &Map<String, Value>,
        targets: &[Map<String, Value>],
        resolver: &dyn Resolve,
    ) -> Balancer {
        let cfg = UpstreamConfig::from_entity(upstream);
        let mut infos = Vec::with_capacity(targets.len());
        let mut entries: Vec<Entry> = Vec::new();
        let mut states: HashMap<SocketAddr, Arc<AddrState>> = HashMap::new();
        let mut fresh: Vec<Arc<AddrState>> = Vec::new();
        for entity in targets {
            let Some(raw) = entity.get("target").and_then(Value::as_str) else { continue };
            let (host, port) = resolve::split_target(raw);
            let weight = weight_of(entity);
            let mut addrs = match resolve::parse_ip(host) {
                Some(ip) => vec![Address { addr: SocketAddr::new(ip, port), srv: None }],
                None => resolver.resolve(host, port),
            };
            let mut seen = std::collections::HashSet::new();
            addrs.retain(|a| seen.insert(a.addr));
            let start = entries.len();
            let srv = addrs.iter().any(|a| a.srv.is_some());
            let target_host: Arc<str> = Arc::from(host);
            for Address { addr, srv } in addrs {
                // A weight-0 target stays out of rotation whatever its SRV entries say.
                let weight = match &srv {
                    Some((srv_weight, _)) if weight > 0 => *srv_weight,
                    _ => weight,
                };
                // Kong's `hostHeader`: the SRV entry's name under `use_srv_name`, else the target's.
                let host = match srv {
                    Some((_, name)) if cfg.use_srv_name => name,
                    _ => Arc::clone(&target_host),
                };
                let state = states
                    .entry(addr)
                    .or_insert_with(|| match prev.and_then(|p| p.states.get(&addr)) {
                        Some(old) => Arc::clone(old),
                        None => {
                            let state = AddrState::new();
                            fresh.push(Arc::clone(&state));
                            state
                        }
                    })
                    .clone();
                entries.push(Entry { addr, weight, target: infos.len(), host, state });
            }
            infos.push(TargetInfo {
                entity: entity.clone(),
                raw: raw.to_owned(),
                host: target_host,
                port,
                weight,
                entries: start..entries.len(),
                srv,
            });
        }
        // Latency slow start: new addresses begin at the average of the known ones.
        let known: Vec<f64> =
            states.values().filter(|s| !fresh.iter().any(|f| Arc::ptr_eq(f, s))).map(|s| s.latency_score()).collect();
        if !known.is_empty() {
            let average = known.iter().sum::<f64>() / known.len() as f64;
            for state in &fresh {
                state.seed_latency(average);
            }
        }
        let weighted: Vec<(usize, u32)> =
            entries.iter().enumerate().filter(|(_, e)| e.weight > 0).map(|(i, e)| (i, e.weight)).collect();
        let total_weight = weighted.iter().map(|&(_, w)| u64::from(w)).sum();
        let wheel = match cfg.algorithm {
            Algorithm::RoundRobin => hash::build_wheel(&weighted),
            _ => Vec::new(),
        };
        let ring = match cfg.algorithm {
            Algorithm::ConsistentHashing => {
                let mut members: Vec<hash::RingMember<'_>> = weighted
                    .iter()
                    .map(|&(index, weight)| {
                        let target = &infos[entries[index].target];
                        hash::RingMember {
                            index,
                            target_name: &target.host,
                            target_port: target.port,
                            addr: entries[index].addr,
                            weight,
                        }
                    })
                    .collect();
                let targets_count = infos.iter().filter(|t| t.weight > 0).count();
                hash::build_ring(&mut members, targets_count, cfg.slots)
            }
            _ => Vec::new(),
        };
        let upstream_id = upstream.get("id").and_then(Value::as_str).map(str::to_owned);
        Balancer {
            cfg,
            upstream_id,
            targets: infos,
            entries,
            states,
            wheel,
            ring,
            cursor: AtomicUsize::new(0),
            total_weight,
        }
    }

    /// The upstream's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.cfg.algorithm
    }

    /// Addresses that take part in balancing (weight above 0), healthy or not.
    pub fn address_count(&self) -> usize {
        self.entries.iter().filter(|e| e.weight > 0).count()
    }

    /// The upstream's `host_header`, which replaces the target hostname in `Host` when set.
    pub fn host_header(&self) -> Option<&str> {
        self.cfg.host_header.as_deref()
    }

    /// When the earliest DNS answer of this balancer's hostname targets expires (rebuild it then).
    pub fn dns_expiry(&self, resolver: &dyn Resolve) -> Option<Instant> {
        self.targets
            .iter()
            .filter(|t| resolve::parse_ip(&t.host).is_none())
            .filter_map(|t| resolver.expires(&t.host))
            .min()
    }

    /// The upstream's `client_certificate` id, for services that set none.
    pub fn client_certificate(&self) -> Option<&str> {
        self.cfg.client_certificate.as_deref()
    }

    /// Whether health checks are configured (Kong reports HEALTHCHECKS_OFF otherwise).
    pub fn uses_healthchecks(&self) -> bool {
        self.cfg.using_healthchecks()
    }

    /// Whether `addr` is currently considered healthy (None if the balancer does not know it).
    pub fn is_healthy(&self, addr: SocketAddr) -> Option<bool> {
        self.states.get(&addr).map(|s| s.is_healthy())
    }

    /// Kong's balancer-level health: the available weight share must exceed `healthchecks.threshold` %.
    pub fn is_balancer_healthy(&self) -> bool {
        let available = self.available_weight();
        self.total_weight > 0 && (available as f64) * 100.0 / (self.total_weight as f64) > self.cfg.threshold
    }

    pub(crate) fn available_weight(&self) -> u64 {
        self.entries.iter().filter(|e| e.state.is_healthy()).map(|e| u64::from(e.weight)).sum()
    }

    /// Chooses an address for a request, skipping unhealthy and `exclude`d addresses (pass the addresses
    /// already tried when retrying). None means no peer is available: answer 503.
    pub fn pick(&self, input: &HashInput<'_>, exclude: &[SocketAddr]) -> Option<Pick> {
        if self.cfg.algorithm == Algorithm::ConsistentHashing {
            let (hash, set_cookie) = hash::request_hash(&self.cfg, input);
            let mut pick = self.pick_with_hash(hash, exclude)?;
            pick.set_cookie = set_cookie;
            return Some(pick);
        }
        self.pick_with_hash(0, exclude)
    }

    /// Like [`Balancer::pick`] with a precomputed consistent-hashing hash (ignored by other algorithms),
    /// for retries of the same request.
    pub fn pick_with_hash(&self, hash: u32, exclude: &[SocketAddr]) -> Option<Pick> {
        if self.total_weight == 0 || (self.cfg.threshold > 0.0 && !self.is_balancer_healthy()) {
            return None;
        }
        let usable = |e: &Entry| e.weight > 0 && e.state.is_healthy() && !exclude.contains(&e.addr);
        let index = match self.cfg.algorithm {
            Algorithm::RoundRobin => {
                let len = self.wheel.len();
                if len == 0 {
                    return None;
                }
                let ticket = self.cursor.fetch_add(1, Ordering::Relaxed);
                let start = ticket % len;
                let step = (0..len).find(|&s| usable(&self.entries[self.wheel[(start + s) % len] as usize]))?;
                if step > 0 {
                    // Move the pointer past the skipped slots, as Kong's wheel pointer does (best effort).
                    let _ = self.cursor.compare_exchange(
                        ticket.wrapping_add(1),
                        ticket.wrapping_add(1 + step),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                self.wheel[(start + step) % len] as usize
            }
            Algorithm::ConsistentHashing => {
                let points = self.ring.len();
                if points == 0 {
                    return None;
                }
                let start = hash as usize % points;
                // Kong walks the continuum downwards from the key's position.
                (0..points)
                    .map(|s| self.ring[(start + points - s) % points])
                    .find(|&i| i != EMPTY && usable(&self.entries[i as usize]))? as usize
            }
            Algorithm::LeastConnections => self.scan(&usable, |e| {
                (u64::from(e.state.in_flight.load(Ordering::Relaxed)) + 1) as f64 / f64::from(e.weight)
            })?,
            Algorithm::Latency => self.scan(&usable, |e| e.state.latency_score() / f64::from(e.weight))?,
        };
        let entry = &self.entries[index];
        let guard = (self.cfg.algorithm == Algorithm::LeastConnections).then(|| InFlightGuard::acquire(&entry.state));
        Some(Pick {
            addr: entry.addr,
            target_host: Arc::clone(&entry.host),
            guard,
            set_cookie: None,
            hash: (self.cfg.algorithm == Algorithm::ConsistentHashing).then_some(hash),
        })
    }

    /// Lowest score among usable entries, starting at a rotating position so ties spread evenly.
    fn scan(&self, usable: &dyn Fn(&Entry) -> bool, score: impl Fn(&Entry) -> f64) -> Option<usize> {
        let len = self.entries.len();
        if len == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        let mut best: Option<(usize, f64)> = None;
        for step in 0..len {
            let i = (start + step) % len;
            let entry = &self.entries[i];
            if !usable(entry) {
                continue;
            }
            let s = score(entry);
            if best.is_none_or(|(_, b)| s < b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Passive health check: what a proxied request observed at `addr`. Returns false for unknown addresses.
    pub fn report(&self, addr: SocketAddr, outcome: Outcome) -> bool {
        match self.states.get(&addr) {
            Some(state) => {
                state.observe(outcome, &self.cfg.passive);
                true
            }
            None => false,
        }
    }

    /// Records a response time (connect + response) for the latency algorithm.
    pub fn record_latency(&self, addr: SocketAddr, rtt: Duration) {
        if let Some(state) = self.states.get(&addr) {
            state.record_latency(rtt);
        }
    }

    /// Manual override (`PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy`): sets every address
    /// of `target` ("host:port" as stored), or only `address`, and clears its counters. Returns false when
    /// the target or address is unknown, so the Admin API can answer an error.
    pub fn set_health(&self, target: &str, address: Option<SocketAddr>, healthy: bool) -> bool {
        let wanted = resolve::split_target(target);
        let mut found = false;
        for info in self.targets.iter().filter(|t| t.raw == target || (&*t.host, t.port) == wanted) {
            for entry in &self.entries[info.entries.clone()] {
                if address.is_none_or(|a| a == entry.addr) {
                    entry.state.force(healthy);
                    found = true;
                }
            }
        }
        found
    }

    /// Distinct addresses to probe, with the host used for the probe's `Host` header and SNI.
    pub(crate) fn probe_list(&self) -> Vec<ProbeItem> {
        let mut out: Vec<ProbeItem> = Vec::new();
        for entry in self.entries.iter().filter(|e| e.weight > 0) {
            if !out.iter().any(|(a, _, _)| *a == entry.addr) {
                out.push((entry.addr, Arc::clone(&self.targets[entry.target].host), Arc::clone(&entry.state)));
            }
        }
        out
    }
}
