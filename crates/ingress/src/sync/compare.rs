//! Deciding whether the gateway's rendering of an entity already is the desired entity, using the schemas
//! the gateway serves (`/schemas/{entity}`, `/schemas/plugins/{name}`), as decK does: the desired entity is
//! completed with the schema's defaults, then every schema field is compared, so a field removed from the
//! configuration is noticed too. Auto-generated fields (a key-auth key nobody gave), timestamps, key-auth's
//! remaining `ttl`, a certificate's `snis` list and a CA certificate's `cert_digest` are ignored; a basic-auth password matches the hash the
//! gateway stores (`sha1(password .. consumer_id)`, Kong's and Gatehouse's scheme). Without a schema only
//! the fields present in the desired entity are compared.

use super::model::Collection;
use gatehouse_model::entities::credentials::basic_auth_password_hash;
use serde_json::{Map, Value};

/// A schema's fields in order: name and specification (`{"type": ..., "default": ..., "fields": [...]}`).
pub(crate) type Fields = Vec<(String, Value)>;

/// The fields of a schema document `{"fields": [{"name": {...}}, ...]}`.
pub(crate) fn fields_of(spec: &Value) -> Option<Fields> {
    let list = spec.get("fields")?.as_array()?;
    let mut fields = Vec::with_capacity(list.len());
    for item in list {
        if let Some((name, spec)) = item.as_object().and_then(|o| o.iter().next()) {
            fields.push((name.clone(), spec.clone()));
        }
    }
    Some(fields)
}

/// A plugin's fields: the generic plugin entity's, with those of the named plugin's schema (its `config`
/// record and `protocols`) in place of the generic ones.
pub(crate) fn plugin_fields(entity: Option<&Value>, plugin: Option<&Value>) -> Option<Fields> {
    let mut fields = fields_of(entity?)?;
    for (name, spec) in plugin.and_then(fields_of).unwrap_or_default() {
        match fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = spec,
            None => fields.push((name, spec)),
        }
    }
    Some(fields)
}

/// Options the Admin API accepts beside the schema's fields.
fn accepted_options(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::KeyAuths => &["ttl"],
        _ => &[],
    }
}

/// Fields that are never compared: timestamps, what the gateway derives, what cannot be read back.
fn ignored(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Certificates => &["id", "created_at", "updated_at", "snis"],
        Collection::CaCertificates => &["id", "created_at", "updated_at", "cert_digest"],
        Collection::KeyAuths => &["id", "created_at", "updated_at", "ttl"],
        Collection::BasicAuths => &["id", "created_at", "updated_at", "password"],
        _ => &["id", "created_at", "updated_at"],
    }
}

/// Removes the top-level fields the gateway's schema does not have (it would reject the entity); returns
/// their names.
pub(crate) fn prune(collection: Collection, body: &mut Map<String, Value>, fields: &Fields) -> Vec<String> {
    let known = |k: &str| fields.iter().any(|(n, _)| n == k) || accepted_options(collection).contains(&k);
    let dropped: Vec<String> = body.keys().filter(|k| !known(k)).cloned().collect();
    for key in &dropped {
        body.shift_remove(key);
    }
    dropped
}

fn type_of(spec: Option<&Value>) -> Option<&str> {
    spec.and_then(|s| s.get("type")).and_then(Value::as_str)
}

fn flag(spec: &Value, name: &str) -> bool {
    spec.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Completes an entity with the schema's defaults, as the gateway does when it stores it: absent fields
/// with a default get it, absent required records are built from their fields' defaults.
pub(crate) fn fill_defaults(fields: &Fields, object: &mut Map<String, Value>) {
    for (name, spec) in fields {
        let record = type_of(Some(spec)) == Some("record");
        match object.get_mut(name) {
            Some(Value::Object(inner)) if record => {
                if let Some(sub) = fields_of(spec) {
                    fill_defaults(&sub, inner);
                }
            }
            Some(Value::Array(items)) => {
                let element = spec.get("elements");
                if let Some(sub) = element.filter(|e| type_of(Some(e)) == Some("record")).and_then(fields_of) {
                    items.iter_mut().filter_map(Value::as_object_mut).for_each(|item| fill_defaults(&sub, item));
                }
            }
            Some(_) => {}
            None => {
                let mut value = match spec.get("default") {
                    Some(default) if !default.is_null() => default.clone(),
                    _ if record && flag(spec, "required") => Value::Object(Map::new()),
                    _ => continue,
                };
                if let (Value::Object(inner), true, Some(sub)) = (&mut value, record, fields_of(spec)) {
                    fill_defaults(&sub, inner);
                }
                object.insert(name.clone(), value);
            }
        }
    }
}

/// Where the gateway's entity differs from the desired one (already completed with defaults), or `None`
/// when they are the same.
pub(crate) fn difference(
    collection: Collection,
    fields: Option<&Fields>,
    desired: &Map<String, Value>,
    actual: &Map<String, Value>,
) -> Option<String> {
    if collection == Collection::BasicAuths {
        if let Some(Value::String(password)) = desired.get("password") {
            let consumer = desired.get("consumer").and_then(|c| c.get("id")).and_then(Value::as_str);
            let stored = actual.get("password").and_then(Value::as_str).unwrap_or_default();
            let hashed = consumer.map(|c| basic_auth_password_hash(c, password));
            if stored != password && Some(stored) != hashed.as_deref() {
                return Some("password".into());
            }
        }
    }
    compare_record(fields.map(Vec::as_slice), desired, actual, "", ignored(collection))
}

fn compare_record(
    fields: Option<&[(String, Value)]>,
    desired: &Map<String, Value>,
    actual: &Map<String, Value>,
    path: &str,
    ignore: &[&str],
) -> Option<String> {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    let fields = fields.filter(|f| !f.is_empty());
    if let Some(fields) = fields {
        for (name, spec) in fields.iter().filter(|(n, _)| !ignore.contains(&n.as_str())) {
            if let Some(diff) = compare(Some(spec), desired.get(name), actual.get(name), &at(name)) {
                return Some(diff);
            }
        }
    }
    let in_schema = |k: &str| fields.is_some_and(|f| f.iter().any(|(n, _)| n == k));
    for (key, value) in desired {
        if ignore.contains(&key.as_str()) || in_schema(key) {
            continue;
        }
        if let Some(diff) = compare(None, Some(value), actual.get(key), &at(key)) {
            return Some(diff);
        }
    }
    None
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Compares one value; `spec` is its schema when known. Null, absent, `[]` and `{}` are the same.
fn compare(spec: Option<&Value>, desired: Option<&Value>, actual: Option<&Value>, path: &str) -> Option<String> {
    let desired = desired.filter(|v| !is_empty(v));
    let actual = actual.filter(|v| !is_empty(v));
    let kind = type_of(spec);
    let differs = Some(path.to_string());
    match (desired, actual) {
        (None, None) => None,
        (Some(_), None) => differs,
        (None, Some(actual)) => {
            let spec = spec?;
            if flag(spec, "auto") {
                return None;
            }
            // A record the gateway built from defaults although nobody asked for it.
            match (kind, actual, fields_of(spec)) {
                (Some("record"), Value::Object(actual), Some(sub)) => {
                    let mut empty = Map::new();
                    fill_defaults(&sub, &mut empty);
                    compare_record(Some(&sub), &empty, actual, path, &[])
                }
                _ => differs,
            }
        }
        (Some(Value::Object(d)), Some(Value::Object(a))) => match kind {
            Some("record") => compare_record(spec.and_then(fields_of).as_deref(), d, a, path, &[]),
            Some("map") => {
                let values = spec.and_then(|s| s.get("values"));
                let keys = d.keys().chain(a.keys().filter(|k| !d.contains_key(*k)));
                keys.into_iter().find_map(|k| compare(values, d.get(k), a.get(k), &format!("{path}.{k}")))
            }
            // Free-form values (and unknown schemas): only what the configuration says is compared.
            _ => compare_record(None, d, a, path, &[]),
        },
        (Some(Value::Array(d)), Some(Value::Array(a))) => {
            if d.len() != a.len() {
                return differs;
            }
            let element = spec.and_then(|s| s.get("elements"));
            let same = |x: &Value, y: &Value| compare(element, Some(x), Some(y), path).is_none();
            let equal = if kind == Some("set") {
                d.iter().all(|x| a.iter().any(|y| same(x, y))) && a.iter().all(|y| d.iter().any(|x| same(x, y)))
            } else {
                d.iter().zip(a).all(|(x, y)| same(x, y))
            };
            (!equal).then_some(path.to_string())
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => (x.as_f64() != y.as_f64()).then_some(path.to_string()),
        (Some(d), Some(a)) => (d != a).then_some(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Fields {
        fields_of(&json!({ "fields": [
            { "id": { "type": "string", "auto": true } },
            { "name": { "type": "string" } },
            { "retries": { "type": "integer", "default": 5 } },
            { "hosts": { "type": "array", "elements": { "type": "string" } } },
            { "tags": { "type": "set", "elements": { "type": "string" } } },
            { "key": { "type": "string", "auto": true } },
            { "hc": { "type": "record", "required": true, "fields": [
                { "timeout": { "type": "number", "default": 1 } },
                { "headers": { "type": "map", "values": { "type": "string" } } },
            ] } },
        ] }))
        .expect("fields")
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn defaults_fill_and_compare() {
        let fields = fields();
        let mut desired = object(json!({ "name": "a", "tags": ["x", "y"] }));
        fill_defaults(&fields, &mut desired);
        assert_eq!(desired["retries"], json!(5));
        assert_eq!(desired["hc"], json!({ "timeout": 1 }));
        let actual = object(json!({
            "id": "1", "created_at": 3, "name": "a", "retries": 5.0, "hosts": null, "tags": ["y", "x"],
            "key": "generated", "hc": { "timeout": 1, "headers": null },
        }));
        let c = Collection::Services;
        assert_eq!(difference(c, Some(&fields), &desired, &actual), None);
        let mut removed = actual.clone();
        removed.insert("hosts".into(), json!(["example.com"]));
        assert_eq!(difference(c, Some(&fields), &desired, &removed), Some("hosts".into()));
        let mut header = actual.clone();
        header.insert("hc".into(), json!({ "timeout": 1, "headers": { "a": "b" } }));
        assert_eq!(difference(c, Some(&fields), &desired, &header), Some("hc.headers".into()));
        // Without a schema only the desired fields count.
        assert_eq!(difference(c, None, &object(json!({ "name": "a" })), &removed), None);
    }

    #[test]
    fn basic_auth_passwords_match_their_hash() {
        let consumer = "7deb6e70-60be-5dd2-b374-06551479ea5e";
        let desired = object(json!({ "username": "u", "password": "secret", "consumer": { "id": consumer } }));
        let mut actual = desired.clone();
        actual.insert("password".into(), json!(basic_auth_password_hash(consumer, "secret")));
        assert_eq!(difference(Collection::BasicAuths, None, &desired, &actual), None);
        actual.insert("password".into(), json!(basic_auth_password_hash(consumer, "other")));
        assert_eq!(difference(Collection::BasicAuths, None, &desired, &actual), Some("password".into()));
    }

    #[test]
    fn prune_keeps_schema_fields_and_options() {
        let mut body = object(json!({ "name": "a", "bogus": 1, "ttl": 5 }));
        assert_eq!(prune(Collection::KeyAuths, &mut body, &fields()), vec!["bogus".to_string()]);
        assert_eq!(body, object(json!({ "name": "a", "ttl": 5 })));
    }
}
