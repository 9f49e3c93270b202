//! Name resolution for upstream hosts, as Kong's DNS client does it: the hosts file first, then the
//! configured (or the system's) name servers; answers are kept for their record TTL (or `dns_valid_ttl`),
//! a not-found answer for `dns_not_found_ttl` and a failure for `dns_error_ttl`, and an expired answer is
//! still used for up to `dns_stale_ttl` while it is refreshed in the background. A request picks one
//! address of the answer round-robin from a lock-free map.

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
use std::sync::Arc;
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

/// The addresses of a name and until when they may be used as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub ips: Vec<IpAddr>,
    pub valid_until: Instant,
}

/// One cached answer, shared by the requests that use it.
struct Answer {
    ips: Vec<IpAddr>,
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
        Ok(Arc::new(Dns { resolver: builder.build(), hosts, settings, answers: ArcSwap::from_pointee(HashMap::new()) }))
    }

    /// The settings this resolver was built from (workers build their own resolver from them).
    pub fn settings(&self) -> &DnsSettings {
        &self.settings
    }

    /// Every address of `host`, from the hosts file or DNS, with the answer's expiry.
    pub async fn lookup(&self, host: &str) -> Result<Resolved, DnsError> {
        let name = Name::from_str(host).map_err(|_| DnsError::BadName(host.to_owned()))?;
        let from_file: Vec<IpAddr> = [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|kind| self.hosts.lookup_static_host(&Query::query(name.clone(), kind)))
            .flat_map(|lookup| lookup.iter().filter_map(ip_of).collect::<Vec<_>>())
            .collect();
        if !from_file.is_empty() {
            // Hosts-file entries do not expire.
            return Ok(Resolved { ips: from_file, valid_until: Instant::now() + Duration::from_secs(365 * 86_400) });
        }
        match self.resolver.lookup_ip(name).await {
            Ok(found) => {
                let ips: Vec<IpAddr> = found.iter().collect();
                let valid_until = found.valid_until();
                match ips.is_empty() {
                    true => Err(DnsError::Failed(host.to_owned(), "no address".into())),
                    false => Ok(Resolved { ips, valid_until }),
                }
            }
            Err(e) => Err(DnsError::Failed(host.to_owned(), e.to_string())),
        }
    }

    /// One address of `host` for a request, round-robin over its answer. A fresh answer costs a map
    /// lookup; an expired one within `dns_stale_ttl` is used while a background task refreshes it.
    pub async fn pick(self: &Arc<Self>, host: &str) -> Result<IpAddr, DnsError> {
        let now = Instant::now();
        if let Some(answer) = self.answers.load().get(host) {
            if now < answer.valid_until {
                return Ok(answer.take());
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
                return Ok(answer.take());
            }
        }
        self.refresh(host).await.map(|answer| answer.take())
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
        let Resolved { ips, valid_until } = result?;
        let answer =
            Arc::new(Answer { ips, valid_until, next: AtomicUsize::new(0), refreshing: AtomicBool::new(false) });
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
    fn take(&self) -> IpAddr {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.ips[i % self.ips.len()]
    }
}

fn ip_of(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}
