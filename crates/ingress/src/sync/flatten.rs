//! Flattens a nested declarative configuration (the form KIC produces: routes inside services, targets
//! inside upstreams, snis inside certificates, credentials and plugins inside consumers, plugins inside
//! services and routes) into entities per Admin API collection, with foreign keys as `{"id": ...}`, the
//! managed tag on every entity, and deterministic ids for entities that have none.

use super::model::{Collection, Entity, MANAGED_TAG};
use super::SyncError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// The entities of a desired configuration, parents before children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    pub entities: Vec<Entity>,
    /// Parts of the configuration that were ignored.
    pub warnings: Vec<String>,
}

/// Namespace of the ids derived for entities that have none (uuid v5 over the entity's natural key).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6761_7465_686f_7573_652d_696e_6772_6573);

/// Nested collections: (parent, key in the parent, child collection, the child's field for the parent).
const NESTED: &[(Collection, &str, Collection, &str)] = &[
    (Collection::Services, "routes", Collection::Routes, "service"),
    (Collection::Services, "plugins", Collection::Plugins, "service"),
    (Collection::Routes, "plugins", Collection::Plugins, "route"),
    (Collection::Upstreams, "targets", Collection::Targets, "upstream"),
    (Collection::Certificates, "snis", Collection::Snis, "certificate"),
    (Collection::Consumers, "keyauth_credentials", Collection::KeyAuths, "consumer"),
    (Collection::Consumers, "basicauth_credentials", Collection::BasicAuths, "consumer"),
    (Collection::Consumers, "jwt_secrets", Collection::Jwts, "consumer"),
    (Collection::Consumers, "hmacauth_credentials", Collection::HmacAuths, "consumer"),
    (Collection::Consumers, "acls", Collection::Acls, "consumer"),
    (Collection::Consumers, "oauth2_credentials", Collection::Oauth2, "consumer"),
    (Collection::Consumers, "plugins", Collection::Plugins, "consumer"),
];

/// Top-level keys that carry no entities.
const META_KEYS: &[&str] = &["_format_version", "_info", "_transform", "_workspace", "_plugin_configs"];

/// A reference before resolution: an id, or a name (username) to look up among the desired entities.
enum Ref {
    Id(String),
    Key(String),
}

struct Raw {
    entity: Entity,
    refs: Vec<(&'static str, Collection, Ref)>,
}

#[derive(Default)]
struct Flattener {
    raws: Vec<Raw>,
    warnings: Vec<String>,
}

/// Flattens a declarative configuration (`_format_version: "3.0"`). Entities that cannot be written (a
/// plugin naming a route that is not in the configuration) carry a `problem` and are reported by the sync.
pub fn flatten(config: &Value) -> Result<DesiredState, SyncError> {
    let Some(top) = config.as_object() else {
        return Err(SyncError::Config("the declarative configuration must be an object".into()));
    };
    let mut flattener = Flattener::default();
    for (key, value) in top {
        if META_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some(collection) = Collection::from_schema_name(key) else {
            flattener.warnings.push(format!("ignored unsupported top-level key '{key}'"));
            continue;
        };
        match value {
            Value::Array(items) => items.iter().for_each(|item| flattener.add(collection, item, None)),
            Value::Null => {}
            _ => flattener.warnings.push(format!("ignored '{key}': not a list")),
        }
    }
    Ok(flattener.finish())
}

impl Flattener {
    fn add(&mut self, collection: Collection, value: &Value, parent: Option<(&'static str, &str)>) {
        let mut body = match value {
            Value::Object(map) => map.clone(),
            // Kong's certificate shorthand: `snis: ["a.example.com"]`.
            Value::String(name) if collection == Collection::Snis => Map::from_iter([("name".into(), json!(name))]),
            other => {
                self.warnings.push(format!("ignored a {collection} entry that is not an object: {other}"));
                return;
            }
        };
        let mut children = Vec::new();
        for (owner, key, child, field) in NESTED {
            if *owner != collection {
                continue;
            }
            if let Some(items) = body.shift_remove(*key) {
                children.push((items, *child, *field));
            }
        }
        if collection == Collection::Consumers && body.shift_remove("groups").is_some() {
            self.warnings.push("ignored consumer groups: not supported".into());
        }
        if collection == Collection::Services {
            expand_url(&mut body);
        }
        let given_id = body.shift_remove("id");
        body.retain(|k, _| !k.starts_with('_') && k != "created_at" && k != "updated_at");
        if let Some((field, parent_id)) = parent {
            body.insert(field.into(), json!({ "id": parent_id }));
        }
        let mut refs = Vec::new();
        for (field, target) in collection.foreign_fields() {
            let reference = match body.get(*field) {
                Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Ref::Id(s.clone()),
                Some(Value::String(s)) => Ref::Key(s.clone()),
                Some(Value::Object(o)) => match (o.get("id"), o.get("name").or_else(|| o.get("username"))) {
                    (Some(Value::String(id)), _) => Ref::Id(id.clone()),
                    (_, Some(Value::String(name))) => Ref::Key(name.clone()),
                    _ => continue,
                },
                Some(Value::Null) => {
                    body.shift_remove(*field);
                    continue;
                }
                _ => continue,
            };
            refs.push((*field, *target, reference));
        }
        add_managed_tag(&mut body);
        let id = match given_id {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => derive_id(collection, &body),
        };
        let mut deps = Vec::new();
        if collection == Collection::Services {
            for ca in body.get("ca_certificates").and_then(Value::as_array).into_iter().flatten() {
                if let Some(ca) = ca.as_str() {
                    deps.push((Collection::CaCertificates, ca.to_string()));
                }
            }
        }
        let entity = Entity { collection, id: id.clone(), body, deps, problem: None };
        self.raws.push(Raw { entity, refs });
        for (items, child, field) in children {
            match items {
                Value::Array(items) => {
                    items.iter().for_each(|item| self.add(child, item, Some((field, &id))));
                }
                Value::Null => {}
                _ => self.warnings.push(format!("ignored {child} of {collection} {id}: not a list")),
            }
        }
    }

    /// Resolves references by name, drops duplicate ids and orders entities parents first.
    fn finish(mut self) -> DesiredState {
        let mut names: HashMap<(Collection, String), String> = HashMap::new();
        for raw in &self.raws {
            let e = &raw.entity;
            let keys: &[&str] = match e.collection {
                Collection::Services | Collection::Routes | Collection::Upstreams => &["name"],
                Collection::Consumers => &["username", "custom_id"],
                _ => &[],
            };
            for key in keys {
                if let Some(name) = e.body.get(*key).and_then(Value::as_str) {
                    names.entry((e.collection, name.to_string())).or_insert_with(|| e.id.clone());
                }
            }
        }
        let mut seen = HashSet::new();
        let mut entities = Vec::with_capacity(self.raws.len());
        for raw in self.raws {
            let mut entity = raw.entity;
            if !seen.insert((entity.collection, entity.id.clone())) {
                self.warnings.push(format!("ignored a second {} with id {}", entity.collection, entity.id));
                continue;
            }
            for (field, target, reference) in raw.refs {
                let id = match reference {
                    Ref::Id(id) => id,
                    Ref::Key(key) => match names.get(&(target, key.clone())) {
                        Some(id) => id.clone(),
                        None => {
                            let what = target.schema_name().trim_end_matches('s');
                            entity.problem =
                                Some(format!("{field}: references {what} '{key}', which is not in the configuration"));
                            continue;
                        }
                    },
                };
                entity.body.insert(field.into(), json!({ "id": id }));
                entity.deps.push((target, id));
            }
            entities.push(entity);
        }
        entities.sort_by_key(|e| e.collection);
        DesiredState { entities, warnings: self.warnings }
    }
}

/// Kong's service shorthand: `url` sets `protocol`, `host`, `port` and `path`.
fn expand_url(body: &mut Map<String, Value>) {
    let Some(Value::String(url)) = body.shift_remove("url") else { return };
    let Some((scheme, rest)) = url.split_once("://") else {
        body.insert("url".into(), json!(url));
        return;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let default_port = if scheme == "https" || scheme == "grpcs" || scheme == "tls" { 443 } else { 80 };
    // `[::1]:8080`: the port is what follows the bracketed address.
    let port_at = authority.rfind(':').filter(|&i| !authority[i..].contains(']'));
    let (host, port) = match port_at.map(|i| (&authority[..i], authority[i + 1..].parse::<u16>())) {
        Some((host, Ok(port))) => (host, port),
        _ => (authority, default_port),
    };
    body.insert("protocol".into(), json!(scheme));
    body.insert("host".into(), json!(host));
    body.insert("port".into(), json!(port));
    body.insert("path".into(), path.map(Value::from).unwrap_or(Value::Null));
}

/// Adds the managed tag and removes duplicate tags (tags are a set: duplicates would never compare equal).
fn add_managed_tag(body: &mut Map<String, Value>) {
    let mut tags: Vec<String> = Vec::new();
    if let Some(Value::Array(given)) = body.get("tags") {
        for tag in given.iter().filter_map(Value::as_str) {
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
    }
    if !tags.iter().any(|t| t == MANAGED_TAG) {
        tags.push(MANAGED_TAG.to_string());
    }
    body.insert("tags".into(), json!(tags));
}

/// A uuid v5 over the entity's natural key (its name, or its whole content when it has none), so that the
/// same configuration always yields the same ids.
fn derive_id(collection: Collection, body: &Map<String, Value>) -> String {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let parents = || {
        let refs: Vec<String> = collection
            .foreign_fields()
            .iter()
            .filter_map(|(f, _)| body.get(*f).map(|v| format!("{f}={}", canonical_json(v))))
            .collect();
        refs.join(",")
    };
    let key = match collection {
        Collection::Services | Collection::Routes | Collection::Upstreams | Collection::Snis => text("name"),
        Collection::Consumers => text("username").map(|u| format!("username:{u}")).or(text("custom_id")),
        Collection::Certificates | Collection::CaCertificates => text("cert"),
        Collection::KeyAuths | Collection::Jwts => text("key"),
        Collection::BasicAuths | Collection::HmacAuths => text("username"),
        Collection::Oauth2 => text("client_id"),
        Collection::Targets => text("target").map(|t| format!("{t}|{}", parents())),
        Collection::Acls => text("group").map(|g| format!("{g}|{}", parents())),
        Collection::Plugins => text("name").map(|n| {
            let instance = text("instance_name").unwrap_or_default();
            format!("{n}|{instance}|{}", parents())
        }),
    };
    let key = key.unwrap_or_else(|| canonical_json(&Value::Object(body.clone())));
    let name = format!("{}\n{key}", collection.schema_name());
    uuid::Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}

/// JSON with object keys sorted at every level, so equal values always serialise the same way.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The sha256 (hex) of the configuration's canonical JSON: equal configurations hash equal whatever the
/// order of their object keys.
pub fn config_hash(config: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(config).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_entities_get_parents_tags_and_ids() {
        let config = json!({
            "_format_version": "3.0",
            "services": [{
                "id": "edc1d53e-73b4-5932-9455-0e01f0d53e3f", "name": "svc", "host": "h",
                "routes": [{ "id": "fc9a8135-0253-5631-b1e0-8712f796a4e2", "name": "r", "paths": ["/"],
                             "plugins": [{ "name": "cors" }] }],
            }],
            "upstreams": [{ "name": "u", "targets": [{ "target": "10.0.0.1:80" }] }],
            "plugins": [{ "name": "key-auth", "route": "r", "tags": ["k8s-kind:KongPlugin", "k8s-kind:KongPlugin"] },
                        { "name": "acl", "service": "missing" }],
        });
        let desired = flatten(&config).expect("flatten");
        let kinds: Vec<Collection> = desired.entities.iter().map(|e| e.collection).collect();
        use Collection::*;
        assert_eq!(kinds, [Upstreams, Services, Targets, Routes, Plugins, Plugins, Plugins]);
        let route = &desired.entities[3];
        assert_eq!(route.body["service"], json!({ "id": "edc1d53e-73b4-5932-9455-0e01f0d53e3f" }));
        assert_eq!(route.body["tags"], json!([MANAGED_TAG]));
        let target = &desired.entities[2];
        assert_eq!(target.body["upstream"]["id"], json!(desired.entities[0].id));
        let by_name =
            desired.entities.iter().find(|e| e.body.get("name") == Some(&json!("key-auth"))).expect("key-auth");
        assert_eq!(by_name.body["route"], json!({ "id": route.id }));
        assert_eq!(by_name.body["tags"], json!(["k8s-kind:KongPlugin", MANAGED_TAG]));
        let broken = desired.entities.iter().find(|e| e.body.get("name") == Some(&json!("acl"))).expect("acl");
        assert!(broken.problem.as_deref().unwrap_or_default().contains("'missing'"));
        assert_eq!(flatten(&config).expect("again"), desired, "ids are deterministic");
    }

    #[test]
    fn service_urls_are_expanded() {
        let config = json!({ "services": [{ "name": "s", "url": "https://example.test:8443/api" },
                                          { "name": "t", "url": "http://example.test" }] });
        let desired = flatten(&config).expect("flatten");
        let s = &desired.entities[0].body;
        assert_eq!(
            (&s["protocol"], &s["host"], &s["port"], &s["path"]),
            (&json!("https"), &json!("example.test"), &json!(8443), &json!("/api"))
        );
        let t = &desired.entities[1].body;
        assert_eq!((&t["port"], &t["path"]), (&json!(80), &Value::Null));
        assert!(!t.contains_key("url"));
    }

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({ "a": 1, "b": { "x": [1, 2], "y": null } });
        let b = json!({ "b": { "y": null, "x": [1, 2] }, "a": 1 });
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&json!({ "a": 2 })));
    }
}
