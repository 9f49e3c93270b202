//! Renders the translated state as KIC's `deckgen.ToDeckContent` does: deterministic ids (go-kong's `FillID`),
//! defaults (`fillRoute`, `fillUpstream`), descending sorts, and the DB-less stub upstream for an empty config.

use super::certs::{KCaCert, KCert};
use super::consumers::KConsumer;
use super::ingress::{KRoute, KService};
use super::meta::Ctx;
use super::plugins::KPlugin;
use super::upstreams::KUpstream;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Everything translated, ready to be rendered.
pub(crate) struct State<'a> {
    pub services: BTreeMap<String, KService<'a>>,
    pub upstreams: Vec<KUpstream>,
    pub certificates: Vec<KCert>,
    pub ca_certificates: Vec<KCaCert>,
    pub plugins: Vec<KPlugin>,
    pub consumers: Vec<KConsumer>,
}

const KONG_ENTITIES_NS: Uuid = Uuid::from_u128(0xfd02801f_0957_4a15_a55a_c8d9606f30b5);

/// go-kong's deterministic ids: UUIDv5 of `[<workspace>/]<key>` in the namespace UUIDv5(ns, `<plural>`).
pub(crate) struct Ids {
    workspace: String,
    enabled: bool,
    services: Uuid,
    routes: Uuid,
    consumers: Uuid,
    plugins: Uuid,
}

impl Ids {
    pub(crate) fn new(workspace: &str, enabled: bool) -> Ids {
        let ns = |plural: &str| Uuid::new_v5(&KONG_ENTITIES_NS, plural.as_bytes());
        Ids {
            workspace: workspace.to_string(),
            enabled,
            services: ns("services"),
            routes: ns("routes"),
            consumers: ns("consumers"),
            plugins: ns("plugins"),
        }
    }

    fn id(&self, ns: &Uuid, key: &str) -> Option<Value> {
        if !self.enabled || key.is_empty() {
            return None;
        }
        let key = if self.workspace.is_empty() { key.to_string() } else { format!("{}/{key}", self.workspace) };
        Some(Value::String(Uuid::new_v5(ns, key.as_bytes()).to_string()))
    }
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// Inserts a list unless it is empty (Go's `omitempty`).
fn put_list(m: &mut Map<String, Value>, key: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(key.to_string(), strings(v));
    }
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v.into());
    }
}

fn route_json(r: &KRoute, ids: &Ids, expression_routes: bool) -> Value {
    let mut m = Map::new();
    put(&mut m, "expression", r.expression.clone());
    put_list(&mut m, "hosts", &r.hosts);
    if !r.headers.is_empty() {
        m.insert("headers".into(), json!(r.headers));
    }
    put(&mut m, "id", ids.id(&ids.routes, &r.name));
    m.insert("name".into(), Value::String(r.name.clone()));
    put_list(&mut m, "methods", &r.methods);
    put_list(&mut m, "paths", &r.paths);
    let path_handling = r.path_handling.clone().or_else(|| (!expression_routes).then(|| "v0".to_string()));
    put(&mut m, "path_handling", path_handling);
    put(&mut m, "preserve_host", r.preserve_host);
    put(&mut m, "priority", r.priority);
    put_list(&mut m, "protocols", &r.protocols);
    put(&mut m, "regex_priority", r.regex_priority);
    put(&mut m, "strip_path", r.strip_path);
    put_list(&mut m, "snis", &r.snis);
    put_list(&mut m, "tags", &r.tags);
    m.insert("https_redirect_status_code".into(), Value::from(r.https_redirect_status_code.unwrap_or(426)));
    put(&mut m, "request_buffering", r.request_buffering);
    put(&mut m, "response_buffering", r.response_buffering);
    if !r.plugins.is_empty() {
        let mut plugins = r.plugins.clone();
        plugins.sort_by(|a, b| b["name"].as_str().cmp(&a["name"].as_str()));
        m.insert("plugins".into(), Value::Array(plugins));
    }
    Value::Object(m)
}

fn service_json(s: &KService, ids: &Ids, expression_routes: bool) -> Value {
    let mut m = Map::new();
    put(&mut m, "client_certificate", s.client_certificate.clone());
    m.insert("connect_timeout".into(), s.connect_timeout.into());
    m.insert("host".into(), s.host.clone().into());
    put(&mut m, "id", ids.id(&ids.services, &s.name));
    m.insert("name".into(), s.name.clone().into());
    put(&mut m, "path", s.path.clone());
    m.insert("port".into(), s.port.into());
    m.insert("protocol".into(), s.protocol.clone().into());
    m.insert("read_timeout".into(), s.read_timeout.into());
    m.insert("retries".into(), s.retries.into());
    m.insert("write_timeout".into(), s.write_timeout.into());
    put_list(&mut m, "tags", &s.tags);
    put(&mut m, "tls_verify", s.tls_verify);
    put(&mut m, "tls_verify_depth", s.tls_verify_depth);
    put_list(&mut m, "ca_certificates", &s.ca_certificates);
    let mut routes: Vec<&KRoute> = s.routes.iter().collect();
    routes.sort_by(|a, b| b.name.cmp(&a.name));
    if !routes.is_empty() {
        m.insert("routes".into(), routes.iter().map(|r| route_json(r, ids, expression_routes)).collect());
    }
    Value::Object(m)
}

fn upstream_json(u: &KUpstream) -> Value {
    let mut m = u.fields.clone();
    m.insert("name".into(), u.name.clone().into());
    m.entry("algorithm").or_insert_with(|| "round-robin".into());
    put_list(&mut m, "tags", &u.tags);
    let mut targets: Vec<_> = u.targets.iter().collect();
    targets.sort_by(|a, b| b.target.cmp(&a.target));
    if !targets.is_empty() {
        let list = targets
            .iter()
            .map(|t| {
                let mut tm = Map::new();
                tm.insert("target".into(), t.target.clone().into());
                put(&mut tm, "weight", t.weight);
                Value::Object(tm)
            })
            .collect();
        m.insert("targets".into(), list);
    }
    Value::Object(m)
}

/// `PluginString`: the sorting key of top-level plugins.
fn plugin_sort_key(p: &KPlugin) -> String {
    let mut key = p.name.clone();
    for part in [&p.consumer, &p.route, &p.service].into_iter().flatten() {
        key.push_str(part);
    }
    key
}

fn plugin_json(p: &KPlugin, ids: &Ids) -> Value {
    let mut m = Map::new();
    let mut id_key = p.name.clone();
    if let Some(s) = &p.service {
        id_key.push_str(&format!(":service/{s}"));
    }
    if let Some(r) = &p.route {
        id_key.push_str(&format!(":route/{r}"));
    }
    if let Some(c) = &p.consumer {
        id_key.push_str(&format!(":consumer/{c}"));
    }
    put(&mut m, "id", ids.id(&ids.plugins, &id_key));
    m.insert("name".into(), p.name.clone().into());
    put(&mut m, "instance_name", p.instance_name.clone());
    if !p.config.is_empty() {
        m.insert("config".into(), Value::Object(p.config.clone()));
    }
    put(&mut m, "service", p.service.clone());
    put(&mut m, "consumer", p.consumer.clone());
    put(&mut m, "route", p.route.clone());
    put(&mut m, "enabled", p.enabled);
    put(&mut m, "run_on", p.run_on.clone());
    if let Some(ordering) = &p.ordering {
        let mut o = Map::new();
        for phase in ["before", "after"] {
            if let Some(v) = ordering.get(phase).filter(|v| v.as_object().is_some_and(|m| !m.is_empty())) {
                o.insert(phase.into(), v.clone());
            }
        }
        m.insert("ordering".into(), Value::Object(o));
    }
    put_list(&mut m, "protocols", &p.protocols);
    put_list(&mut m, "tags", &p.tags);
    Value::Object(m)
}

fn consumer_json(c: &KConsumer, ids: &Ids) -> Value {
    let mut m = Map::new();
    put(&mut m, "custom_id", c.custom_id.clone());
    put(&mut m, "id", c.username.as_deref().and_then(|u| ids.id(&ids.consumers, u)));
    put(&mut m, "username", c.username.clone());
    put_list(&mut m, "tags", &c.tags);
    for (key, creds) in &c.credentials {
        if !creds.is_empty() {
            m.insert(key.to_string(), Value::Array(creds.clone()));
        }
    }
    Value::Object(m)
}

fn cert_json(c: &KCert) -> Value {
    let mut m = Map::new();
    m.insert("cert".into(), c.cert.clone().into());
    m.insert("id".into(), c.id.clone().into());
    m.insert("key".into(), c.key.clone().into());
    put_list(&mut m, "tags", &c.tags);
    if !c.snis.is_empty() {
        let snis = c.snis.iter().map(|s| json!({"name": s, "certificate": {"id": c.id}})).collect();
        m.insert("snis".into(), snis);
    }
    Value::Object(m)
}

/// The declarative configuration.
pub(crate) fn render(ctx: &Ctx, state: State) -> Value {
    let settings = ctx.settings;
    let ids = Ids::new(&settings.workspace, settings.fill_ids);
    let mut root = Map::new();
    root.insert("_format_version".into(), "3.0".into());

    let mut services: Vec<&KService> = state.services.values().collect();
    services.sort_by(|a, b| b.name.cmp(&a.name));
    let services: Vec<Value> = services.iter().map(|s| service_json(s, &ids, settings.expression_routes)).collect();

    let mut plugins: Vec<(String, &KPlugin)> = state.plugins.iter().map(|p| (plugin_sort_key(p), p)).collect();
    plugins.sort_by(|a, b| b.0.cmp(&a.0));
    let plugins: Vec<Value> = plugins.iter().map(|(_, p)| plugin_json(p, &ids)).collect();

    let mut upstreams: Vec<&KUpstream> = state.upstreams.iter().collect();
    upstreams.sort_by(|a, b| b.name.cmp(&a.name));
    let mut upstreams: Vec<Value> = upstreams.iter().map(|u| upstream_json(u)).collect();

    let mut certs: Vec<&KCert> = state.certificates.iter().collect();
    certs.sort_by(|a, b| b.cert.cmp(&a.cert));
    let certs: Vec<Value> = certs.iter().map(|c| cert_json(c)).collect();

    let mut ca_certs: Vec<&KCaCert> = state.ca_certificates.iter().collect();
    ca_certs.sort_by(|a, b| b.cert.cmp(&a.cert));
    let ca_certs: Vec<Value> = ca_certs
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("cert".into(), c.cert.clone().into());
            m.insert("id".into(), c.id.clone().into());
            put_list(&mut m, "tags", &c.tags);
            Value::Object(m)
        })
        .collect();

    let mut consumers: Vec<&KConsumer> =
        state.consumers.iter().filter(|c| c.username.is_some() || c.custom_id.is_some()).collect();
    consumers.sort_by(|a, b| (&a.username, &a.custom_id).cmp(&(&b.username, &b.custom_id)));
    let consumers: Vec<Value> = consumers.iter().map(|c| consumer_json(c, &ids)).collect();

    let empty = services.is_empty()
        && plugins.is_empty()
        && upstreams.is_empty()
        && certs.is_empty()
        && ca_certs.is_empty()
        && consumers.is_empty();
    if empty && settings.stub_upstream_when_empty {
        upstreams.push(json!({"name": "kong"}));
    }
    for (key, list) in [
        ("ca_certificates", ca_certs),
        ("certificates", certs),
        ("consumers", consumers),
        ("plugins", plugins),
        ("services", services),
        ("upstreams", upstreams),
    ] {
        if !list.is_empty() {
            root.insert(key.into(), Value::Array(list));
        }
    }
    Value::Object(root)
}
