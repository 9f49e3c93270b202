//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch (a merge patch
//! that also understands kubectl's directives, without per-field schemas) and server-side apply
//! (`application/apply-patch+yaml`, applied as a merge patch).

use serde_json::{Map, Value};

use crate::status::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> ApiResult<PatchKind> {
        let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match base.as_str() {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            _ => Err(ApiError::unsupported_media_type(ct)),
        }
    }
}

/// Parses a request body that may be JSON or YAML.
pub fn parse_body(body: &[u8], yaml: bool) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(_) if yaml => {
            serde_yaml_ng::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        Err(e) => Err(ApiError::bad_request(format!("error decoding JSON: {e}"))),
    }
}

/// Applies a patch body to a copy of `doc`.
pub fn apply(doc: &Value, kind: PatchKind, body: &[u8]) -> ApiResult<Value> {
    let mut doc = doc.clone();
    match kind {
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &patch).map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
        }
        PatchKind::Merge | PatchKind::Apply => {
            let patch = parse_body(body, kind == PatchKind::Apply)?;
            require_object(&patch)?;
            json_patch::merge(&mut doc, &patch);
        }
        PatchKind::Strategic => {
            let patch = parse_body(body, false)?;
            require_object(&patch)?;
            strategic_merge(&mut doc, &patch);
        }
    }
    Ok(doc)
}

fn require_object(patch: &Value) -> ApiResult<()> {
    if patch.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request("the patch must be a JSON object"))
    }
}

/// List fields whose items Kubernetes merges by `name` even without a `$setElementOrder` directive.
const MERGE_BY_NAME: &[&str] =
    &["containers", "initContainers", "ephemeralContainers", "volumes", "volumeMounts", "env", "imagePullSecrets"];

/// A strategic merge patch without the OpenAPI schema: maps merge recursively, `null` deletes, lists are
/// replaced unless a `$setElementOrder/<field>` directive (which kubectl apply sends for lists with a merge
/// key) or a well-known field name tells the merge key. Understands `$patch: replace|delete`,
/// `$retainKeys` and `$deleteFromPrimitiveList/<field>`.
pub fn strategic_merge(doc: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = patch_map.clone();
            p.remove("$patch");
            *doc = Value::Object(p);
            return;
        }
        Some("delete") => {
            *doc = Value::Null;
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let map = doc.as_object_mut().expect("object");
    if let Some(keep) = patch_map.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        map.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch_map {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) = (map.get_mut(field), value.as_array()) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        let order = patch_map.get(&format!("$setElementOrder/{key}")).and_then(Value::as_array);
        match (map.get_mut(key), value) {
            (Some(Value::Array(current)), Value::Array(items)) => match merge_key(key, order, current, items) {
                Some(mk) => merge_list(current, items, &mk, order),
                None => *current = items.clone(),
            },
            (Some(current @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(current, value);
                if current.is_null() {
                    map.remove(key);
                }
            }
            (_, Value::Object(_)) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, value);
                if !fresh.is_null() {
                    map.insert(key.clone(), fresh);
                }
            }
            (_, Value::Array(items)) => {
                let cleaned: Vec<Value> = items
                    .iter()
                    .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                    .cloned()
                    .collect();
                map.insert(key.clone(), Value::Array(cleaned));
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_key(field: &str, order: Option<&Vec<Value>>, current: &[Value], items: &[Value]) -> Option<String> {
    if let Some(first) = order.and_then(|o| o.first()).and_then(Value::as_object) {
        if first.len() == 1 {
            return first.keys().next().cloned();
        }
    }
    let all_named = |l: &[Value]| l.iter().all(|i| i.get("name").is_some_and(Value::is_string));
    (MERGE_BY_NAME.contains(&field) && all_named(current) && all_named(items)).then(|| "name".to_string())
}

fn merge_list(current: &mut Vec<Value>, items: &[Value], key: &str, order: Option<&Vec<Value>>) {
    for item in items {
        let Some(id) = item.get(key) else {
            current.push(item.clone());
            continue;
        };
        let pos = current.iter().position(|c| c.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                current.remove(p);
            }
            (Some(p), false) => strategic_merge(&mut current[p], item),
            (None, true) => {}
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item);
                current.push(fresh);
            }
        }
    }
    if let Some(order) = order {
        let rank = |v: &Value| order.iter().position(|o| o.get(key) == v.get(key)).unwrap_or(usize::MAX);
        current.sort_by_key(rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patch() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1, 2]}});
        let out =
            apply(&doc, PatchKind::Merge, br#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"x":[3]}}"#).unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": [3]}}));
        let out = apply(&doc, PatchKind::Json, br#"[{"op":"add","path":"/spec/x/-","value":9}]"#).unwrap();
        assert_eq!(out["spec"]["x"], json!([1, 2, 9]));
        assert!(apply(&doc, PatchKind::Json, br#"[{"op":"test","path":"/spec/x/0","value":5}]"#).is_err());
        let out = apply(&doc, PatchKind::Apply, b"spec:\n  y: 1\n").unwrap();
        assert_eq!(out["spec"], json!({"x": [1, 2], "y": 1}));
    }

    #[test]
    fn strategic_directives() {
        let mut doc = json!({"spec": {
            "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
            "finalizers": ["a", "b"],
            "containers": [{"name": "app", "image": "v1"}, {"name": "side", "image": "s"}]
        }});
        let patch = json!({"spec": {
            "$setElementOrder/ports": [{"port": 443}, {"port": 8080}],
            "ports": [{"port": 8080, "name": "alt"}, {"port": 80, "$patch": "delete"}],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "containers": [{"name": "app", "image": "v2"}]
        }});
        strategic_merge(&mut doc, &patch);
        assert_eq!(doc["spec"]["ports"], json!([{"port": 443, "name": "https"}, {"port": 8080, "name": "alt"}]));
        assert_eq!(doc["spec"]["finalizers"], json!(["b"]));
        assert_eq!(doc["spec"]["containers"], json!([{"name": "app", "image": "v2"}, {"name": "side", "image": "s"}]));
        strategic_merge(&mut doc, &json!({"spec": {"$patch": "replace", "z": 1}}));
        assert_eq!(doc["spec"], json!({"z": 1}));
    }
}
