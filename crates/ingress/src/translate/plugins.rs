//! KongPlugin / KongClusterPlugin binding (KIC's `getPluginRelations`, `buildPlugins`,
//! `globalKongClusterPlugins` and `kongstate/plugin.go`).

use super::consumers::KConsumer;
use super::ingress::KService;
use super::meta::{annotations, obj_ref, Ctx, PluginObj, SecretKeyRef};
use super::ObjectRef;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// A Kong plugin (top level of the declarative configuration).
#[derive(Debug, Clone, Default)]
pub(crate) struct KPlugin {
    pub name: String,
    pub config: Map<String, Value>,
    pub enabled: Option<bool>,
    pub run_on: Option<String>,
    pub ordering: Option<Value>,
    pub protocols: Vec<String>,
    pub instance_name: Option<String>,
    pub tags: Vec<String>,
    pub service: Option<String>,
    pub route: Option<String>,
    pub consumer: Option<String>,
}

/// A foreign relation: the Kong entity's name and the object that asked for the plugin.
#[derive(Debug, Clone)]
struct Fr {
    id: String,
    referer: ObjectRef,
}

#[derive(Debug, Default)]
struct Rels {
    consumer: Vec<Fr>,
    route: Vec<Fr>,
    service: Vec<Fr>,
}

/// One plugin instance: (consumer, route, service).
type Combo<'r> = (Option<&'r Fr>, Option<&'r Fr>, Option<&'r Fr>);

impl Rels {
    /// `ForeignRelations.GetCombinations`.
    fn combinations(&self) -> Vec<Combo<'_>> {
        let entities =
            || self.service.iter().map(|s| (None, Some(s))).chain(self.route.iter().map(|r| (Some(r), None)));
        let mut out = Vec::new();
        if !self.consumer.is_empty() {
            for c in &self.consumer {
                if self.service.is_empty() && self.route.is_empty() {
                    out.push((Some(c), None, None));
                }
                for (route, service) in entities() {
                    out.push((Some(c), route, service));
                }
            }
        } else {
            out.extend(entities().map(|(route, service)| (None, route, service)));
        }
        out
    }
}

/// KIC's `ExtractPluginsNamespacedNames`: `name` or `namespace:name`, comma separated.
pub(crate) fn plugin_names(anns: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let Some(value) = anns.get("konghq.com/plugins").filter(|v| !v.is_empty()) else { return Vec::new() };
    let mut out = Vec::new();
    for s in value.split(',') {
        if s.trim().is_empty() {
            continue;
        }
        match s.find(':') {
            Some(i) if i == 0 || i == s.len() - 1 => continue,
            Some(i) => out.push((s[..i].trim().to_string(), s[i + 1..].trim().to_string())),
            None => out.push((String::new(), s.trim().to_string())),
        }
    }
    out
}

#[derive(Clone, Copy)]
enum RelKind {
    Consumer,
    Route,
    Service,
}

fn add_relation(
    ctx: &Ctx,
    rels: &mut BTreeMap<(String, String), Rels>,
    referer: &ObjectRef,
    plugin: (String, String),
    id: &str,
    kind: RelKind,
) {
    let (ns, name) = plugin;
    if !ns.is_empty() {
        // Remote references need a ReferenceGrant, which is not among the translator's inputs.
        ctx.fail(
            referer,
            format!("no grant found to referenced \"{ns}:{name}\" plugin in the requested remote KongPlugin bind"),
        );
        return;
    }
    let entry = rels.entry((referer.namespace.clone(), name)).or_default();
    let fr = Fr { id: id.to_string(), referer: referer.clone() };
    match kind {
        RelKind::Consumer => entry.consumer.push(fr),
        RelKind::Route => entry.route.push(fr),
        RelKind::Service => entry.service.push(fr),
    }
}

/// `FillPlugins`: plugins bound through `konghq.com/plugins`, then the global KongClusterPlugins.
pub(crate) fn fill_plugins(ctx: &Ctx, services: &BTreeMap<String, KService>, consumers: &[KConsumer]) -> Vec<KPlugin> {
    let mut rels: BTreeMap<(String, String), Rels> = BTreeMap::new();
    for service in services.values() {
        for svc in service.k8s_services.values() {
            let referer = obj_ref::<Service>(&svc.metadata);
            for p in plugin_names(annotations(&svc.metadata)) {
                add_relation(ctx, &mut rels, &referer, p, &service.name, RelKind::Service);
            }
        }
        for route in &service.routes {
            let mut referer = obj_ref::<Ingress>(&route.ingress.metadata);
            referer.uid.clear();
            for p in plugin_names(route.annotations()) {
                add_relation(ctx, &mut rels, &referer, p, &route.name, RelKind::Route);
            }
        }
    }
    for c in consumers {
        let Some(id) = c.identifier() else { continue };
        for p in plugin_names(&c.meta.annotations) {
            add_relation(ctx, &mut rels, &c.meta.r, p, id, RelKind::Consumer);
        }
    }

    let mut plugins = Vec::new();
    for ((ns, name), rel) in &rels {
        let obj = ctx.kong_plugins.get(&(ns.clone(), name.clone())).or_else(|| ctx.cluster_plugins.get(name));
        let Some(obj) = obj else {
            for (c, r, s) in rel.combinations() {
                for fr in [c, r, s].into_iter().flatten() {
                    ctx.fail(
                        &fr.referer,
                        format!("referenced KongPlugin or KongClusterPlugin {name:?} does not exist"),
                    );
                }
            }
            continue;
        };
        let base = match plugin_from_object(ctx, obj) {
            Ok(p) => p,
            Err(e) => {
                ctx.fail(&obj.meta.r, e);
                continue;
            }
        };
        let mut used = HashSet::new();
        for (c, r, s) in rel.combinations() {
            let mut plugin = base.clone();
            let mut to_hash = String::new();
            if let Some(s) = s {
                plugin.service = Some(s.id.clone());
                to_hash.push_str(&format!("_service-{}", s.id));
            }
            if let Some(r) = r {
                plugin.route = Some(r.id.clone());
                to_hash.push_str(&format!("_route-{}", r.id));
            }
            if let Some(c) = c {
                plugin.consumer = Some(c.id.clone());
                to_hash.push_str(&format!("_consumer-{}", c.id));
            }
            if let Some(instance) = &plugin.instance_name {
                let sum = hex::encode(Sha256::digest(to_hash.as_bytes()));
                let mut suffixed = format!("{instance}-{}", &sum[..9]);
                if used.contains(&suffixed) {
                    suffixed = format!("{instance}-{sum}");
                }
                used.insert(suffixed.clone());
                plugin.instance_name = Some(suffixed);
            }
            plugins.push(plugin);
        }
    }
    plugins.extend(global_plugins(ctx));
    plugins
}

/// `globalKongClusterPlugins`: KongClusterPlugins labelled `global: "true"` (of this ingress class); two global
/// plugins of the same kind cancel each other.
fn global_plugins(ctx: &Ctx) -> Vec<KPlugin> {
    let mut globals: Vec<&PluginObj> = ctx
        .cluster_plugins
        .values()
        .filter(|p| {
            p.meta.labels.get("global").is_some_and(|v| v == "true") && ctx.crd_class_matches(&p.meta.annotations)
        })
        .collect();
    globals.sort_by(|a, b| a.meta.r.name.cmp(&b.meta.r.name));
    let mut res: BTreeMap<String, KPlugin> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for obj in globals {
        if obj.plugin.is_empty() {
            continue;
        }
        if res.contains_key(&obj.plugin) {
            duplicates.push(obj.plugin.clone());
            continue;
        }
        // Build errors are only logged by KIC.
        if let Ok(plugin) = plugin_from_object(ctx, obj) {
            res.insert(obj.plugin.clone(), plugin);
        }
    }
    for name in duplicates {
        res.remove(&name);
    }
    res.into_values().collect()
}

/// `kongPluginFromK8SPlugin` / `kongPluginFromK8SClusterPlugin`.
fn plugin_from_object(ctx: &Ctx, obj: &PluginObj) -> Result<KPlugin, String> {
    let r = &obj.meta.r;
    let kind = if obj.cluster { "KongClusterPlugin" } else { "KongPlugin" };
    let mut raw = match &obj.config {
        Some(v) if !v.is_null() => v.clone(),
        _ => Value::Object(Map::new()),
    };
    for (path, secret) in &obj.config_patches {
        let value = secret_value(ctx, secret)?;
        let value: Value = serde_json::from_slice(&value)
            .map_err(|e| format!("could not parse {kind} {}/{} config: {e}", r.namespace, r.name))?;
        json_patch_add(&mut raw, path, value)
            .map_err(|e| format!("could not parse {kind} {}/{} config: {e}", r.namespace, r.name))?;
    }
    let mut config = match raw {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(format!(
                "could not parse {kind} {}/{} config: json: cannot unmarshal {} into Go value of type \
                 kong.Configuration",
                r.namespace,
                r.name,
                json_type(&other)
            ))
        }
    };
    if let Some(from) = &obj.config_from {
        if !config.is_empty() {
            return Err(if obj.cluster {
                format!("KongClusterPlugin '/{}' has both Config and ConfigFrom set", r.name)
            } else {
                format!("KongPlugin '{}/{}' has both Config and ConfigFrom set", r.namespace, r.name)
            });
        }
        let data = secret_value(ctx, from).map_err(|e| format!("error parsing config for {kind} {}: {e}", r.name))?;
        config = parse_config_secret(&data).ok_or_else(|| {
            format!(
                "error parsing config for {kind} {}: key '{}' in secret '{}/{}' contains neither valid JSON nor valid \
                 YAML)",
                r.name, from.key, from.namespace, from.name
            )
        })?;
    }
    let config = match go_json(Value::Object(config)) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(KPlugin {
        name: obj.plugin.clone(),
        config,
        enabled: obj.disabled.then_some(false),
        run_on: (!obj.run_on.is_empty()).then(|| obj.run_on.clone()),
        ordering: obj.ordering.clone(),
        protocols: obj.protocols.clone(),
        instance_name: (!obj.instance_name.is_empty()).then(|| obj.instance_name.clone()),
        tags: obj.meta.tags(),
        ..Default::default()
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        _ => "value",
    }
}

fn secret_value(ctx: &Ctx, r: &SecretKeyRef) -> Result<Vec<u8>, String> {
    let secret = ctx
        .secret(&r.namespace, &r.name)
        .ok_or_else(|| format!("error fetching plugin configuration secret '{}/{}'", r.namespace, r.name))?;
    let data = secret.data.as_ref().and_then(|d| d.get(&r.key));
    data.map(|b| b.0.clone()).ok_or_else(|| format!("no key '{}' in secret '{}/{}'", r.key, r.namespace, r.name))
}

/// A plugin configuration held in a Secret: a JSON object, else a YAML mapping.
fn parse_config_secret(data: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        return match v {
            Value::Object(m) => Some(m),
            Value::Null => Some(Map::new()),
            _ => None,
        };
    }
    match serde_yaml_ng::from_slice::<Value>(data).ok()? {
        Value::Object(m) => Some(m),
        Value::Null => Some(Map::new()),
        _ => None,
    }
}

/// Numbers as Go's `encoding/json` renders a `map[string]interface{}`: every number is a float64, integral values
/// below 1e21 print without a fraction.
pub(crate) fn go_json(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 1e21 {
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    return Value::from(f as u64);
                }
                if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    return Value::from(f as i64);
                }
            }
            serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(go_json).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, go_json(v))).collect()),
        other => other,
    }
}

/// A JSON-patch `add` (RFC 6902) creating missing parents (json-patch's `EnsurePathExistsOnAdd`); the root
/// path replaces the whole document.
pub(crate) fn json_patch_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else { return Err(format!("invalid JSON pointer {path:?}")) };
    let parts: Vec<String> = rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
    let mut cur = doc;
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        let next_is_index = parts.get(i + 1).is_some_and(|n| n == "-" || n.parse::<usize>().is_ok());
        match cur {
            Value::Object(m) => {
                if last {
                    m.insert(part.clone(), value);
                    return Ok(());
                }
                let child = m.entry(part.clone()).or_insert(Value::Null);
                if !child.is_object() && !child.is_array() {
                    *child = if next_is_index { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
                }
                cur = child;
            }
            Value::Array(a) => {
                let idx = if part == "-" { a.len() } else { part.parse::<usize>().map_err(|e| e.to_string())? };
                if last {
                    if idx > a.len() {
                        return Err(format!("add operation does not apply: index {idx} out of bounds"));
                    }
                    a.insert(idx, value);
                    return Ok(());
                }
                while a.len() <= idx {
                    a.push(Value::Null);
                }
                let child = &mut a[idx];
                if !child.is_object() && !child.is_array() {
                    *child = if next_is_index { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
                }
                cur = child;
            }
            _ => return Err(format!("add operation does not apply: doc is missing path: {path:?}")),
        }
    }
    Ok(())
}
