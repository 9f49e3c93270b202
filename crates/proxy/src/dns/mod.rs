//! Name resolution for upstream hosts, as Kong's DNS client does it: the hosts file first, then the
//! configured (or the system's) name servers; answers are kept for their record TTL (or `dns_valid_ttl`),
//! a not-found answer for `dns_not_found_ttl` and a failure for `dns_error_ttl`, and an expired answer is
//! still used for up to `dns_stale_ttl` while it is refreshed in the background. A request picks one
//! address of the answer round-robin from a lock-free map. Record types are tried in `dns_order`
//! ([`records`]); an SRV answer gives the port and a weighted share to each of its targets.

mod records;

use records::{bare_name, usable_srv, WeightedTurns};
pub use records::{RecordKind, Records, SrvEntry};

use arc_swap::ArcSwap;
use hickory_resolver::config::{NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `dns_*` settings of kong.conf.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// `dns_resolver`: name servers to ask; empty means the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// `dns_hostsfile`: read once at start.
    pub hosts_file: Option<PathBuf>,
    /// `dns_valid_ttl`: replaces every record's TTL.
    pub valid_ttl: Option<Duration>,
    /// `dns_stale_ttl`: how long an expired answer may still be used while it is refreshed.
    pub stale_ttl: Duration,
    /// `dns_not_found_ttl`: how long a name that does not exist is remembered.
    pub not_found_ttl: Duration,
    /// `dns_error_ttl`: how long a failed lookup is remembered.
    pub error_ttl: Duration,
    /// `dns_cache_size`: answers kept.
    pub cache_size: usize,
    /// `dns_order`: the record types tried, in order.
    pub order: Vec<RecordKind>,
}

impl Default for DnsSettings {
    /// Kong's defaults.
    fn default() -> Self {
        DnsSettings {
            nameservers: Vec::new(),
            hosts_file: Some(PathBuf::from("/etc/hosts")),
            valid_ttl: None,
            stale_ttl: Duration::from_secs(3600),
            not_found_ttl: Duration::from_secs(30),
            error_ttl: Duration::from_secs(1),
            cache_size: 10_000,
            order: RecordKind::DEFAULT_ORDER.to_vec(),
        }
    }
}

/// Why a name has no address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    #[error("{0}: not a valid host name")]
    BadName(String),
    #[error("name resolution failed for {0}: {1}")]
    Failed(String, String),
}

/// What a name resolved to and until when it may be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub records: Records,
    pub valid_until: Instant,
}

/// One address a name stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub addr: SocketAddr,
    /// The SRV entry it came from: the entry's weight (which replaces a balancer target's, as in Kong)
    /// and its target name (the upstream `Host` under `use_srv_name`).
    pub srv: Option<(u32, Arc<str>)>,
}

/// Every address a name stands for.
pub type Addresses = Vec<Address>;

/// How many SRV or CNAME steps a name may take before it counts as a loop.
const MAX_DEPTH: usize = 5;

/// One cached answer, shared by the requests that use it.
struct Answer {
    records: Records,
    /// The weighted turns of an SRV answer's entries.
    turns: WeightedTurns,
    valid_until: Instant,
    /// Round-robin position.
    next: AtomicUsize,
    /// A background refresh is under way.
    refreshing: AtomicBool,
}

/// A resolver with its own answer cache; each proxy worker has one (its lookups run on its runtime).
pub struct Dns {
    settings: DnsSettings,
    resolver: TokioResolver,
    hosts: Hosts,
    answers: ArcSwap<HashMap<Box<str>, Arc<Answer>>>,
    /// The record type that last answered for each name (`LAST` in `dns_order`); only lookups touch it.
    last_answered: Mutex<HashMap<Box<str>, RecordKind>>,
}

impl Dns {
    pub fn new(settings: DnsSettings) -> Result<Arc<Dns>, DnsError> {
        let failed = |e: &dyn std::fmt::Display| DnsError::Failed("resolver".into(), e.to_string());
        let mut builder = if settings.nameservers.is_empty() {
            TokioResolver::builder_tokio().unwrap_or_else(|e| {
                // No usable /etc/resolv.conf: only the hosts file and IP literals work.
                tracing::warn!(error = %e, "system DNS configuration unreadable; set dns_resolver");
                let none = ResolverConfig::from_parts(None, Vec::new(), NameServerConfigGroup::new());
                TokioResolver::builder_with_config(none, TokioConnectionProvider::default())
            })
        } else {
            let mut servers = Vec::new();
            for &address in &settings.nameservers {
                servers.push(NameServerConfig::new(address, hickory_resolver::proto::xfer::Protocol::Udp));
                servers.push(NameServerConfig::new(address, hickory_resolver::proto::xfer::Protocol::Tcp));
            }
            let config = ResolverConfig::from_parts(None, Vec::new(), NameServerConfigGroup::from(servers));
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        };
        let options = builder.options_mut();
        options.use_hosts_file = ResolveHosts::Never;
        options.cache_size = settings.cache_size.max(1);
        options.positive_min_ttl = settings.valid_ttl;
        options.positive_max_ttl = settings.valid_ttl;
        options.negative_min_ttl = Some(settings.not_found_ttl);
        options.negative_max_ttl = Some(settings.not_found_ttl);
        let mut hosts = Hosts::default();
        if let Some(path) = &settings.hosts_file {
            match std::fs::File::open(path) {
                Ok(file) => hosts.read_hosts_conf(file).map_err(|e| failed(&e))?,
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "dns_hostsfile cannot be read"),
            }
        }
        Ok(Arc::new(Dns {
            resolver: builder.build(),
            hosts,
            settings,
            answers: ArcSwap::from_pointee(HashMap::new()),
            last_answered: Mutex::new(HashMap::new()),
        }))
    }

    /// The settings this resolver was built from (workers build their own resolver from them).
    pub fn settings(&self) -> &DnsSettings {
        &self.settings
    }

    /// What `host` resolves to, from the hosts file or DNS, with the answer's expiry.
    pub async fn lookup(&self, host: &str) -> Result<Resolved, DnsError> {
        self.lookup_within(host, MAX_DEPTH).await
    }

    async fn lookup_within(&self, host: &str, depth: usize) -> Result<Resolved, DnsError> {
        let name = Name::from_str(host).map_err(|_| DnsError::BadName(host.to_owned()))?;
        let from_file: Vec<IpAddr> = [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|kind| self.hosts.lookup_static_host(&Query::query(name.clone(), kind)))
            .flat_map(|lookup| lookup.iter().filter_map(ip_of).collect::<Vec<_>>())
            .collect();
        if !from_file.is_empty() {
            // Hosts-file entries do not expire.
            let valid_until = Instant::now() + Duration::from_secs(365 * 86_400);
            return Ok(Resolved { records: Records::Ips(from_file), valid_until });
        }
        let key = bare_name(host);
        let last = self.last_answered.lock().ok().and_then(|map| map.get(key.as_str()).copied());
        let mut tried: Vec<RecordKind> = Vec::with_capacity(self.settings.order.len());
        let mut reason = String::from("dns_order names no record type to try");
        for &kind in &self.settings.order {
            let Some(kind) = (if kind == RecordKind::Last { last } else { Some(kind) }) else { continue };
            if tried.contains(&kind) {
                continue;
            }
            tried.push(kind);
            let found = match self.resolver.lookup(name.clone(), kind.record_type()).await {
                Ok(found) => found,
                // An empty answer or a name that does not exist: the next type may have it.
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                    reason = e.to_string();
                    continue;
                }
                // Anything else ends the lookup, so an SRV failure never turns into a wrong A answer.
                Err(e) => return Err(DnsError::Failed(host.to_owned(), e.to_string())),
            };
            let valid_until = found.valid_until();
            let records = match kind {
                RecordKind::Srv => {
                    let entries = found.iter().filter_map(srv_of).collect();
                    let usable = usable_srv(&key, entries);
                    if usable.is_empty() {
                        reason = "SRV answer points back at the name itself".into();
                        continue;
                    }
                    Records::Srv(usable)
                }
                RecordKind::Cname => {
                    let target = found.iter().find_map(|data| match data {
                        RData::CNAME(alias) => Some(alias.0.to_ascii()),
                        _ => None,
                    });
                    let Some(target) = target.filter(|_| depth > 0) else {
                        reason = "CNAME without a usable target".into();
                        continue;
                    };
                    let followed = Box::pin(self.lookup_within(&target, depth - 1)).await?;
                    self.remember(key, kind);
                    let valid_until = followed.valid_until.min(valid_until);
                    return Ok(Resolved { records: followed.records, valid_until });
                }
                RecordKind::A | RecordKind::Aaaa | RecordKind::Last => {
                    let ips: Vec<IpAddr> = found.iter().filter_map(ip_of).collect();
                    if ips.is_empty() {
                        reason = "no address".into();
                        continue;
                    }
                    Records::Ips(ips)
                }
            };
            self.remember(key, kind);
            return Ok(Resolved { records, valid_until });
        }
        Err(DnsError::Failed(host.to_owned(), reason))
    }

    /// Notes the type that answered for `name` (`LAST`), keeping the map within `dns_cache_size`.
    fn remember(&self, name: String, kind: RecordKind) {
        if let Ok(mut map) = self.last_answered.lock() {
            if map.len() >= self.settings.cache_size.max(1) && !map.contains_key(name.as_str()) {
                map.clear();
            }
            map.insert(name.into(), kind);
        }
    }

    /// Every address `host` stands for, with `port` unless an SRV entry names its own, and each SRV
    /// entry's weight; the earliest expiry of the answers used. For balancer targets and gRPC services,
    /// resolved when they are built rather than per request.
    pub async fn addresses(&self, host: &str, port: u16) -> Result<(Addresses, Instant), DnsError> {
        let found = self.lookup(host).await?;
        let entries = match found.records {
            Records::Ips(ips) => {
                let addresses =
                    ips.into_iter().map(|ip| Address { addr: SocketAddr::new(ip, port), srv: None }).collect();
                return Ok((addresses, found.valid_until));
            }
            Records::Srv(entries) => entries,
        };
        let (mut addresses, mut valid_until) = (Vec::new(), found.valid_until);
        for entry in entries {
            let port = entry.port_or(port);
            let srv = Some((entry.effective_weight(), Arc::<str>::from(&*entry.target)));
            if let Ok(ip) = entry.target.parse::<IpAddr>() {
                addresses.push(Address { addr: SocketAddr::new(ip, port), srv });
                continue;
            }
            match self.lookup_within(&entry.target, MAX_DEPTH - 1).await {
                Ok(Resolved { records: Records::Ips(ips), valid_until: until }) => {
                    valid_until = valid_until.min(until);
                    let each = |ip| Address { addr: SocketAddr::new(ip, port), srv: srv.clone() };
                    addresses.extend(ips.into_iter().map(each));
                }
                Ok(_) => tracing::warn!(host, target = %entry.target, "SRV target is itself an SRV name; skipped"),
                Err(e) => tracing::warn!(host, error = %e, "SRV target does not resolve; skipped"),
            }
        }
        if addresses.is_empty() {
            return Err(DnsError::Failed(host.to_owned(), "no SRV target resolves".into()));
        }
        Ok((addresses, valid_until))
    }

    /// One address of `host` for a request, and the port an SRV entry gives (`None`: the service's).
    /// Addresses go round-robin, SRV entries weighted round-robin, as Kong's `toip`. A fresh answer
    /// costs a map lookup; an expired one within `dns_stale_ttl` is used while a background task
    /// refreshes it.
    pub async fn pick(self: &Arc<Self>, host: &str) -> Result<(IpAddr, Option<u16>), DnsError> {
        if let Some(answer) = self.answers.load().get(host) {
            if let (true, Records::Ips(ips)) = (Instant::now() < answer.valid_until, &answer.records) {
                return Ok((answer.next_of(ips), None));
            }
        }
        let (mut name, mut port) = (std::borrow::Cow::Borrowed(host), None);
        for _ in 0..MAX_DEPTH {
            let answer = self.answer(&name).await?;
            let entry = match &answer.records {
                Records::Ips(ips) => return Ok((answer.next_of(ips), port)),
                Records::Srv(entries) => match answer.turns.index(answer.next.fetch_add(1, Ordering::Relaxed)) {
                    Some(index) => &entries[index],
                    None => break,
                },
            };
            // Kong keeps the port found so far when an entry says 0.
            port = Some(entry.port_or(port.unwrap_or(0))).filter(|&p| p != 0);
            if let Ok(ip) = entry.target.parse::<IpAddr>() {
                return Ok((ip, port));
            }
            name = std::borrow::Cow::Owned(entry.target.to_string());
        }
        Err(DnsError::Failed(host.to_owned(), "SRV records lead nowhere".into()))
    }

    /// The cached answer for `host`: fresh, stale while refreshing in the background, or looked up now.
    async fn answer(self: &Arc<Self>, host: &str) -> Result<Arc<Answer>, DnsError> {
        let now = Instant::now();
        if let Some(answer) = self.answers.load().get(host) {
            if now < answer.valid_until {
                return Ok(answer.clone());
            }
            if now < answer.valid_until + self.settings.stale_ttl {
                if !answer.refreshing.swap(true, Ordering::AcqRel) {
                    let (dns, host) = (self.clone(), host.to_owned());
                    tokio::spawn(async move {
                        if let Err(e) = dns.refresh(&host).await {
                            tracing::warn!(error = %e, "DNS refresh failed; the stale answer stays in use");
                        }
                    });
                }
                return Ok(answer.clone());
            }
        }
        self.refresh(host).await
    }

    async fn refresh(&self, host: &str) -> Result<Arc<Answer>, DnsError> {
        let result = self.lookup(host).await;
        if let Err(e) = &result {
            // A failed refresh keeps a stale answer usable; let the next request after `dns_error_ttl` retry.
            if let Some(answer) = self.answers.load().get(host) {
                answer.refreshing.store(false, Ordering::Release);
            }
            return Err(e.clone());
        }
        let Resolved { records, valid_until } = result?;
        let turns = match &records {
            Records::Srv(entries) => WeightedTurns::new(entries),
            Records::Ips(_) => WeightedTurns::new(&[]),
        };
        let answer = Arc::new(Answer {
            records,
            turns,
            valid_until,
            next: AtomicUsize::new(0),
            refreshing: AtomicBool::new(false),
        });
        let limit = self.settings.cache_size.max(1);
        self.answers.rcu(|current| {
            let mut next = HashMap::clone(current);
            if next.len() >= limit && !next.contains_key(host) {
                // Full: forget expired answers first, then anything.
                let now = Instant::now();
                next.retain(|_, a| now < a.valid_until);
                if next.len() >= limit {
                    next.clear();
                }
            }
            next.insert(host.into(), answer.clone());
            next
        });
        Ok(answer)
    }
}

impl Answer {
    /// The next of an answer's addresses, round-robin.
    fn next_of(&self, ips: &[IpAddr]) -> IpAddr {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        ips[i % ips.len()]
    }
}

fn srv_of(data: &RData) -> Option<SrvEntry> {
    match data {
        RData::SRV(srv) => Some(SrvEntry {
            target: bare_name(&srv.target().to_ascii()).into(),
            port: srv.port(),
            weight: srv.weight(),
            priority: srv.priority(),
        }),
        _ => None,
    }
}

fn ip_of(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}
