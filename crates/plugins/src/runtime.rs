//! The plugin runtime: Kong's phases, priority order and scope precedence
//! (`kong/runloop/plugins_iterator.lua`).
//!
//! A `PluginSet` is built once per snapshot from the plugin entities: each config is validated already and
//! is compiled here (regexes, key material, lists), so the request path only looks configs up. For each
//! plugin name the most specific enabled config wins, in Kong's order: route+service+consumer >
//! route+consumer > service+consumer > route+service > consumer > route > service > global. Configs are
//! resolved in the access phase in priority order, so consumer-scoped configs of lower-priority plugins see
//! the consumer an authentication plugin set.

use crate::bundled::Handler;
use crate::cache::EntityCache;
use crate::context::{ClientHelloInfo, Exit, LogRecord, Protocol, RequestCtx, ServerCertificate};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::HeaderMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

/// The phases a plugin takes part in besides access, so the proxy only wraps bodies and schedules log
/// work when some plugin in the chain needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub certificate: bool,
    pub rewrite: bool,
    pub response_headers: bool,
    pub response_body: bool,
    pub log: bool,
}

/// A plugin with Kong's phases. Every method has a do-nothing default.
pub trait Plugin: Send + Sync + 'static {
    fn phases(&self) -> Phases {
        Phases::default()
    }
    /// Whether the access phase reads the request body (it is buffered before the phase runs).
    fn needs_body(&self) -> bool {
        false
    }
    /// During the TLS handshake, when the ClientHello has arrived (Kong's `ssl_certificate_by_lua`); global
    /// plugins only. Returning a certificate serves it instead of the one the SNI selects. Runs on the
    /// handshake path, synchronously: no I/O.
    fn certificate(&self, _hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate> {
        None
    }
    /// Before routing; only global plugins run it, as in Kong.
    fn rewrite(&self, _ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        Ok(())
    }
    /// After routing, before the request is sent upstream. An `Exit` answers the client instead.
    fn access(&self, _ctx: &mut RequestCtx<'_>) -> impl Future<Output = Result<(), Exit>> + Send {
        async { Ok(()) }
    }
    /// The response head, upstream's or a plugin's exit, before it goes to the client.
    fn response_headers(&self, _status: u16, _headers: &mut HeaderMap) {}
    /// Each chunk of the response body as it streams; `eof` marks the last call.
    fn response_body(&self, chunk: Bytes, _eof: bool) -> Bytes {
        chunk
    }
    /// After the response was sent; never delays it.
    fn log(&self, _record: &LogRecord) {}
}

/// The object-safe form of `Plugin`, for plugins registered at run time rather than bundled.
pub trait DynPlugin: Send + Sync + 'static {
    fn phases(&self) -> Phases;
    fn needs_body(&self) -> bool;
    fn certificate(&self, hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate>;
    fn rewrite(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit>;
    fn access<'a, 'b>(&'a self, ctx: &'a mut RequestCtx<'b>) -> BoxFuture<'a, Result<(), Exit>>;
    fn response_headers(&self, status: u16, headers: &mut HeaderMap);
    fn response_body(&self, chunk: Bytes, eof: bool) -> Bytes;
    fn log(&self, record: &LogRecord);
}

impl<T: Plugin> DynPlugin for T {
    fn phases(&self) -> Phases {
        Plugin::phases(self)
    }
    fn needs_body(&self) -> bool {
        Plugin::needs_body(self)
    }
    fn certificate(&self, hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate> {
        Plugin::certificate(self, hello)
    }
    fn rewrite(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        Plugin::rewrite(self, ctx)
    }
    fn access<'a, 'b>(&'a self, ctx: &'a mut RequestCtx<'b>) -> BoxFuture<'a, Result<(), Exit>> {
        Box::pin(Plugin::access(self, ctx))
    }
    fn response_headers(&self, status: u16, headers: &mut HeaderMap) {
        Plugin::response_headers(self, status, headers)
    }
    fn response_body(&self, chunk: Bytes, eof: bool) -> Bytes {
        Plugin::response_body(self, chunk, eof)
    }
    fn log(&self, record: &LogRecord) {
        Plugin::log(self, record)
    }
}

/// Builds a registered plugin from its validated config.
pub type Factory = fn(&Value) -> Result<Arc<dyn DynPlugin>, String>;

/// Plugins outside the bundled set, by name, with their priority (the `plugins` property's custom names).
#[derive(Default, Clone)]
pub struct Registry {
    custom: HashMap<String, (i64, Factory)>,
}

impl Registry {
    pub fn register(&mut self, name: &str, priority: i64, factory: Factory) {
        self.custom.insert(name.to_string(), (priority, factory));
    }
}

/// One configured plugin, compiled.
pub struct Instance {
    pub id: Uuid,
    pub name: Arc<str>,
    /// Bits of `Protocol::bit` for the plugin's `protocols`.
    protocols: u8,
    pub handler: Handler,
    phases: Phases,
}

impl Instance {
    pub fn phases(&self) -> Phases {
        self.phases
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Scope {
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
}

/// The scope with no route, service or consumer.
const GLOBAL: Scope = Scope { route: None, service: None, consumer: None };

/// All configs of one plugin name, as indexes into the set's instances.
struct Slot {
    scopes: HashMap<Scope, u32, foldhash::fast::RandomState>,
    consumer_scoped: bool,
}

impl Slot {
    /// The most specific config for this request, in Kong's precedence order.
    fn resolve(&self, route: Option<Uuid>, service: Option<Uuid>, consumer: Option<Uuid>) -> Option<u32> {
        let consumer = if self.consumer_scoped { consumer } else { None };
        let get = |r: Option<Uuid>, s: Option<Uuid>, c: Option<Uuid>| {
            // A combination naming an entity this request does not have cannot match.
            let usable = (r.is_none() || route.is_some()) && (s.is_none() || service.is_some());
            let usable = usable && (c.is_none() || consumer.is_some());
            usable.then(|| self.scopes.get(&Scope { route: r, service: s, consumer: c }).copied()).flatten()
        };
        let (r, s, c) = (route, service, consumer);
        let with_consumer = || {
            c.and_then(|_| get(r, s, c).filter(|_| r.is_some() && s.is_some()))
                .or_else(|| c.and_then(|_| get(r, None, c).filter(|_| r.is_some())))
                .or_else(|| c.and_then(|_| get(None, s, c).filter(|_| s.is_some())))
        };
        with_consumer()
            .or_else(|| get(r, s, None).filter(|_| r.is_some() && s.is_some()))
            .or_else(|| c.and_then(|_| get(None, None, c)))
            .or_else(|| get(r, None, None).filter(|_| r.is_some()))
            .or_else(|| get(None, s, None).filter(|_| s.is_some()))
            .or_else(|| get(None, None, None))
    }
}

/// Every plugin config of one snapshot, compiled, in priority order.
#[derive(Default)]
pub struct PluginSet {
    slots: Vec<Slot>,
    /// Every config; slots and requests refer to them by index, so a request that records which plugins
    /// ran takes no reference count the other workers also write.
    instances: Vec<Instance>,
    /// Absent only in the empty set a node starts with.
    cache: Option<Arc<EntityCache>>,
    /// Whether some global config has a rewrite phase.
    rewrite: bool,
    /// Whether some global config has a certificate phase.
    certificate: bool,
    /// Whether any config reads the request body (most sets have none, and skip resolving for it).
    body_readers: bool,
}

/// Why a plugin row was left out of a snapshot.
#[derive(Debug, thiserror::Error)]
#[error("plugin {id} ({name}) skipped: {reason}")]
pub struct SkippedPlugin {
    pub id: String,
    pub name: String,
    pub reason: String,
}

impl PluginSet {
    /// Compiles the enabled plugin entities. Rows that cannot be compiled are left out and reported.
    pub fn build<'a>(
        rows: impl IntoIterator<Item = &'a Map<String, Value>>,
        registry: &Registry,
        cache: Arc<EntityCache>,
    ) -> (PluginSet, Vec<SkippedPlugin>) {
        let mut by_name: HashMap<Arc<str>, (i64, Slot)> = HashMap::new();
        let mut skipped = Vec::new();
        let mut instances = Vec::new();
        for row in rows {
            if row.get("enabled").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let name = row.get("name").and_then(Value::as_str).unwrap_or_default();
            let id_text = row.get("id").and_then(Value::as_str).unwrap_or_default();
            let skip = |reason: String| SkippedPlugin { id: id_text.to_string(), name: name.to_string(), reason };
            let Ok(id) = Uuid::parse_str(id_text) else {
                skipped.push(skip("invalid id".into()));
                continue;
            };
            let config = row.get("config").cloned().unwrap_or(Value::Object(Map::new()));
            let (priority, handler) = match gatehouse_model::plugins::bundled(name) {
                Some(info) => (info.priority, Handler::compile(name, &config)),
                None => match registry.custom.get(name) {
                    Some((priority, factory)) => (*priority, factory(&config).map(Handler::Custom)),
                    None => {
                        skipped.push(skip("not a known plugin".into()));
                        continue;
                    }
                },
            };
            let handler = match handler {
                Ok(h) => h,
                Err(reason) => {
                    skipped.push(skip(reason));
                    continue;
                }
            };
            let protocols = row
                .get("protocols")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter().filter_map(|p| p.as_str().and_then(Protocol::from_name)).fold(0, |m, p| m | p.bit())
                })
                .unwrap_or(0xff);
            let foreign = |field: &str| {
                row.get(field).and_then(|v| v.get("id")).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
            };
            let scope = Scope { route: foreign("route"), service: foreign("service"), consumer: foreign("consumer") };
            let phases = handler.phases();
            let name: Arc<str> = Arc::from(name);
            let Ok(index) = u32::try_from(instances.len()) else {
                skipped.push(skip("too many plugins".into()));
                continue;
            };
            instances.push(Instance { id, name: name.clone(), protocols, handler, phases });
            let (_, slot) = by_name
                .entry(name)
                .or_insert_with(|| (priority, Slot { scopes: HashMap::default(), consumer_scoped: false }));
            slot.consumer_scoped |= scope.consumer.is_some();
            slot.scopes.insert(scope, index);
        }
        let mut slots: Vec<(Arc<str>, i64, Slot)> = by_name.into_iter().map(|(n, (p, s))| (n, p, s)).collect();
        slots.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let slots: Vec<Slot> = slots.into_iter().map(|(_, _, s)| s).collect();
        let set = PluginSet { slots, instances, cache: Some(cache), ..PluginSet::default() };
        let rewrite = set.globals().any(|i| i.phases.rewrite);
        let certificate = set.globals().any(|i| i.phases.certificate);
        let body_readers = set
            .slots
            .iter()
            .flat_map(|s| s.scopes.values())
            .filter_map(|i| set.instance(*i))
            .any(|i| i.handler.needs_body());
        (PluginSet { rewrite, certificate, body_readers, ..set }, skipped)
    }

    fn instance(&self, index: u32) -> Option<&Instance> {
        self.instances.get(index as usize)
    }

    /// The global config of each plugin that has one, in priority order.
    fn globals(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.slots.iter().filter_map(|s| s.scopes.get(&GLOBAL)).filter_map(|i| self.instance(*i))
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The entity cache credential lookups go through (`None` only for the initial empty set).
    pub fn cache(&self) -> Option<&EntityCache> {
        self.cache.as_deref()
    }

    /// Whether a global config runs in the certificate phase.
    pub fn has_certificate(&self) -> bool {
        self.certificate
    }

    /// Whether a global config runs in the rewrite phase.
    pub fn has_rewrite(&self) -> bool {
        self.rewrite
    }

    /// Whether a config that applies to this route and service (before authentication) reads the body.
    pub fn needs_body(&self, route: Option<Uuid>, service: Option<Uuid>) -> bool {
        self.body_readers
            && self
                .slots
                .iter()
                .filter_map(|s| s.resolve(route, service, None).and_then(|i| self.instance(i)))
                .any(|i| i.handler.needs_body())
    }

    /// The rewrite phase: global configs only.
    pub fn rewrite(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        for instance in self.globals() {
            if instance.phases.rewrite && instance.protocols & ctx.protocol.bit() != 0 {
                instance.handler.rewrite(ctx)?;
            }
        }
        Ok(())
    }

    /// The TLS handshake phase: global configs only, in priority order. As in Kong, where each plugin may
    /// set the certificate, the last plugin that picks one wins.
    pub fn certificate(&self, hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate> {
        let mut chosen = None;
        for instance in self.globals().filter(|i| i.phases.certificate) {
            chosen = instance.handler.certificate(hello).or(chosen);
        }
        chosen
    }

    /// The access phase: resolves each plugin's config in priority order (after earlier plugins may have
    /// set the consumer) and runs it. The configs that ran are pushed to `collected` (as instance indexes)
    /// for the response phases, including when one of them exits.
    pub async fn access(&self, ctx: &mut RequestCtx<'_>, collected: &mut Vec<u32>) -> Result<(), Exit> {
        for slot in &self.slots {
            let consumer = ctx.consumer.as_ref().map(|c| c.id);
            let Some(index) = slot.resolve(ctx.route_id, ctx.service_id, consumer) else { continue };
            let Some(instance) = self.instance(index) else { continue };
            if instance.protocols & ctx.protocol.bit() == 0 {
                continue;
            }
            collected.push(index);
            instance.handler.access(ctx).await?;
        }
        Ok(())
    }

    /// The configs that ran in access, from the indexes it collected.
    fn ran<'a>(&'a self, collected: &'a [u32]) -> impl Iterator<Item = &'a Instance> + 'a {
        collected.iter().filter_map(|i| self.instance(*i))
    }

    /// Runs the response-headers phase of the configs that ran in access.
    pub fn response_headers(&self, collected: &[u32], status: u16, headers: &mut HeaderMap) {
        for instance in self.ran(collected).filter(|i| i.phases.response_headers) {
            instance.handler.response_headers(status, headers);
        }
    }

    /// Runs the response-body phase over one chunk.
    pub fn response_body(&self, collected: &[u32], mut chunk: Bytes, eof: bool) -> Bytes {
        for instance in self.ran(collected).filter(|i| i.phases.response_body) {
            chunk = instance.handler.response_body(chunk, eof);
        }
        chunk
    }

    /// Runs the log phase.
    pub fn log(&self, collected: &[u32], record: &LogRecord) {
        for instance in self.ran(collected).filter(|i| i.phases.log) {
            instance.handler.log(record);
        }
    }

    /// Whether any collected config has `phase`.
    pub fn any_phase(&self, collected: &[u32], phase: impl Fn(&Phases) -> bool) -> bool {
        self.ran(collected).any(|i| phase(&i.phases))
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
