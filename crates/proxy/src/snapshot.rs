//! The immutable configuration the proxy serves from: the compiled router and the services, built once per
//! change and swapped in atomically so the request path never takes a lock.

use crate::balancer::Balancer;
use gatehouse_router::{Match, Request, RouteSpec, Router};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Whether `protocol` is a service protocol whose requests go over h2 (`grpc`, `grpcs`).
fn is_grpc(protocol: &str) -> bool {
    matches!(protocol, "grpc" | "grpcs")
}

/// A service as the proxy needs it, with its upstream address pre-rendered.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub id: Uuid,
    pub name: Option<String>,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
    pub retries: u32,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
    pub enabled: bool,
    /// Upstream TLS: verify the certificate (`tls_verify`), against these CA certificates
    /// (`ca_certificates`), presenting this client certificate (`client_certificate`).
    pub tls_verify: bool,
    /// `tls_verify_depth`: intermediate CA certificates allowed in the verified chain (unset: nginx's 1).
    pub tls_verify_depth: Option<u8>,
    pub ca_certificates: Vec<Uuid>,
    pub client_certificate: Option<Uuid>,
    /// `host` or `host:port` for the upstream `Host` header (the port only when it is not the scheme's).
    pub host_header: String,
    /// `scheme://host:port` that request paths are appended to.
    pub base_uri: String,
    /// `host_header` as a header value, rendered once.
    pub host_value: Option<hyper::header::HeaderValue>,
    /// Where to connect when the host is an IP address.
    pub address: Option<std::net::SocketAddr>,
    /// The host is a name resolved for each request (so a new DNS answer applies at once, as Kong's
    /// connections are pooled by address): not an IP, and not gRPC (whose h2 `:authority` is the URI's).
    pub resolve_per_request: bool,
    /// The service entity as stored, shared so plugins can read it (Kong's `kong.router.get_service()`).
    pub entity: Arc<gatehouse_router::StoredEntity>,
}

fn millis(entity: &Map<String, Value>, field: &str) -> Duration {
    Duration::from_millis(entity.get(field).and_then(Value::as_u64).unwrap_or(60_000))
}

impl ServiceSpec {
    /// gRPC services go over h2 through hyper's client, and Kong's `Via` says `2` for them.
    pub fn is_grpc(&self) -> bool {
        is_grpc(&self.protocol)
    }

    /// Reads a service entity as stored by the Admin API.
    pub fn from_entity(entity: &Map<String, Value>) -> Result<ServiceSpec, String> {
        let id = entity
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or("service without a valid id")?;
        let text = |f: &str| entity.get(f).and_then(Value::as_str).map(String::from);
        let protocol = text("protocol").unwrap_or_else(|| "http".into());
        let host = text("host").ok_or("service without a host")?;
        let port = entity.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).unwrap_or(80);
        let default_port = matches!((protocol.as_str(), port), ("http" | "grpc", 80) | ("https" | "grpcs", 443));
        let bracketed = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() };
        let host_header = if default_port { bracketed.clone() } else { format!("{bracketed}:{port}") };
        let scheme = if matches!(protocol.as_str(), "https" | "grpcs") { "https" } else { "http" };
        let address = crate::balancer::parse_ip(&host).map(|ip| std::net::SocketAddr::new(ip, port));
        let resolve_per_request = address.is_none() && !is_grpc(&protocol);
        Ok(ServiceSpec {
            id,
            address,
            name: text("name"),
            base_uri: format!("{scheme}://{bracketed}:{port}"),
            protocol,
            host,
            port,
            path: text("path"),
            retries: entity.get("retries").and_then(Value::as_u64).unwrap_or(5) as u32,
            connect_timeout: millis(entity, "connect_timeout"),
            write_timeout: millis(entity, "write_timeout"),
            read_timeout: millis(entity, "read_timeout"),
            enabled: entity.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            tls_verify: entity.get("tls_verify").and_then(Value::as_bool).unwrap_or(false),
            tls_verify_depth: entity.get("tls_verify_depth").and_then(Value::as_u64).and_then(|d| u8::try_from(d).ok()),
            ca_certificates: entity
                .get("ca_certificates")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect())
                .unwrap_or_default(),
            client_certificate: entity
                .get("client_certificate")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
            resolve_per_request,
            host_value: hyper::header::HeaderValue::from_str(&host_header).ok(),
            host_header,
            entity: Arc::new(gatehouse_router::StoredEntity::new(entity)),
        })
    }
}

/// Services by id, shared by snapshots until a service changes (a route change does not copy the map).
pub type Services = Arc<HashMap<Uuid, Arc<ServiceSpec>, crate::FastHash>>;

/// Everything one request needs, immutable once built.
///
/// Routes live in two compiled routers: a large `base`, rebuilt rarely, and a small `delta` holding the
/// routes changed since. Publishing a change then compiles only the delta; `shadowed` hides the base's
/// stale copies of changed or deleted routes.
pub struct Snapshot {
    /// Shared between snapshots until the next full rebuild.
    pub base: Arc<Router>,
    pub delta: Arc<Router>,
    pub shadowed: Arc<HashSet<Uuid>>,
    pub services: Services,
    /// Load balancers of the upstreams, shared between snapshots until upstreams or targets change.
    pub balancers: Arc<Balancers>,
    /// CA certificates (PEM) by id, for services that verify their upstream.
    pub ca_certificates: Arc<HashMap<Uuid, String>>,
    /// Compiled plugin configs, shared between snapshots until plugins change.
    pub plugins: Arc<gatehouse_plugins::PluginSet>,
    /// Increases with every rebuild; exposed for diagnostics.
    pub version: u64,
}

impl Snapshot {
    /// A snapshot with no routes: every request gets Kong's 404.
    pub fn empty() -> Snapshot {
        Snapshot::from_shared(Vec::new(), Services::default(), 0)
    }

    /// Compiles routes and services from their entities. Entities that cannot be read are skipped and logged.
    pub fn build(routes: &[Map<String, Value>], services: &[Map<String, Value>], version: u64) -> Snapshot {
        let mut by_id = HashMap::with_capacity_and_hasher(services.len(), crate::FastHash::default());
        for entity in services {
            match ServiceSpec::from_entity(entity) {
                Ok(s) => {
                    by_id.insert(s.id, Arc::new(s));
                }
                Err(e) => tracing::warn!(error = %e, "service skipped"),
            }
        }
        let mut specs = Vec::with_capacity(routes.len());
        for entity in routes {
            match RouteSpec::from_entity(entity) {
                Ok(spec) => specs.push(spec),
                Err(e) => tracing::warn!(error = %e, "route skipped"),
            }
        }
        Snapshot::from_specs(specs, Arc::new(by_id), version)
    }

    /// Compiles already-parsed routes and services. Routes of disabled services are left out, as Kong does.
    pub fn from_specs(routes: Vec<RouteSpec>, services: Services, version: u64) -> Snapshot {
        Snapshot::from_shared(routes.into_iter().map(Arc::new).collect(), services, version)
    }

    /// Like `from_specs` with route specs the caller keeps, so a rebuild does not copy them.
    pub fn from_shared(routes: Vec<Arc<RouteSpec>>, services: Services, version: u64) -> Snapshot {
        let enabled: Vec<Arc<RouteSpec>> = routes
            .into_iter()
            .filter(|r| r.service_id.and_then(|id| services.get(&id)).is_none_or(|s| s.enabled))
            .collect();
        let base = compile(enabled);
        Snapshot {
            base: Arc::new(base),
            delta: Arc::new(Router::build(Vec::new())),
            shadowed: Arc::new(HashSet::new()),
            services,
            balancers: Arc::new(Balancers::default()),
            ca_certificates: Arc::new(HashMap::new()),
            plugins: Arc::default(),
            version,
        }
    }

    /// Keeps this snapshot's base router and layers `changed` routes over it. `shadowed` lists every route
    /// changed or deleted since the base was built.
    pub fn layered(
        &self,
        changed: Vec<Arc<RouteSpec>>,
        shadowed: HashSet<Uuid>,
        services: Services,
        version: u64,
    ) -> Snapshot {
        let enabled = changed
            .into_iter()
            .filter(|r| r.service_id.and_then(|id| services.get(&id)).is_none_or(|s| s.enabled))
            .collect();
        Snapshot {
            base: self.base.clone(),
            delta: Arc::new(compile(enabled)),
            shadowed: Arc::new(shadowed),
            services,
            balancers: self.balancers.clone(),
            ca_certificates: self.ca_certificates.clone(),
            plugins: self.plugins.clone(),
            version,
        }
    }

    /// A snapshot with new services but the same routers, for changes that cannot alter routing (the caller
    /// rebuilds instead when a service's `enabled` flag changes).
    pub fn with_services(&self, services: Services, version: u64) -> Snapshot {
        Snapshot {
            base: self.base.clone(),
            delta: self.delta.clone(),
            shadowed: self.shadowed.clone(),
            services,
            balancers: self.balancers.clone(),
            ca_certificates: self.ca_certificates.clone(),
            plugins: self.plugins.clone(),
            version,
        }
    }

    /// The highest-priority matching route across both routers, ordered as Kong orders matchers.
    pub fn find(&self, req: &Request<'_>) -> Option<Match<'_>> {
        let changed = self.delta.find(req);
        let stable = if self.shadowed.is_empty() {
            self.base.find(req)
        } else {
            self.base.find_filtered(req, &|r| self.shadowed.contains(&r.id))
        };
        match (stable, changed) {
            (Some(s), Some(c)) => Some(if (c.priority, c.matcher_id) > (s.priority, s.matcher_id) { c } else { s }),
            (s, None) => s,
            (None, c) => c,
        }
    }
}

fn compile(routes: Vec<Arc<RouteSpec>>) -> Router {
    let router = Router::build_shared(routes);
    for (id, error) in router.errors() {
        tracing::warn!(route = %id, %error, "route skipped by the router");
    }
    router
}

impl Snapshot {
    /// Number of routes in the delta layer, so the owner knows when to rebuild the base.
    pub fn delta_len(&self) -> usize {
        self.shadowed.len()
    }
}

/// The balancers of every upstream, by the name a service's `host` refers to and by id (Admin API).
#[derive(Default)]
pub struct Balancers {
    pub by_name: HashMap<String, Arc<Balancer>, crate::FastHash>,
    pub by_id: HashMap<Uuid, Arc<Balancer>>,
}
