//! Discovery documents (`/api`, `/apis`, group versions, `/version`), a minimal OpenAPI v3 index that tells
//! kubectl the server does field validation itself, and `Table` output for kubectl's human-readable gets.

use serde_json::{json, Map, Value};

use crate::resources::{Registry, ResourceType};

pub const SERVER_MAJOR: &str = "1";
pub const SERVER_MINOR: &str = "33";

pub fn version_info() -> Value {
    json!({
        "major": SERVER_MAJOR,
        "minor": SERVER_MINOR,
        "gitVersion": format!("v{SERVER_MAJOR}.{SERVER_MINOR}.0-kube-testserver"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry.groups().iter().map(|(g, vs)| group_entry(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let (name, versions) = registry.groups().into_iter().find(|(g, _)| g == group)?;
    let mut entry = group_entry(&name, &versions);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

fn resource_entry(t: &ResourceType) -> Value {
    let mut r = Map::new();
    r.insert("name".into(), json!(t.plural));
    r.insert("singularName".into(), json!(t.singular));
    r.insert("namespaced".into(), json!(t.namespaced));
    r.insert("kind".into(), json!(t.kind));
    r.insert(
        "verbs".into(),
        json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]),
    );
    if !t.short_names.is_empty() {
        r.insert("shortNames".into(), json!(t.short_names));
    }
    if !t.categories.is_empty() {
        r.insert("categories".into(), json!(t.categories));
    }
    Value::Object(r)
}

/// `/api/v1` and `/apis/{group}/{version}`; `None` when nothing is served there.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for t in registry.in_group_version(group, version) {
        resources.push(resource_entry(t));
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() && !(group.is_empty() && version == "v1") {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// Group versions as OpenAPI v3 paths: `api/v1`, `apis/networking.k8s.io/v1`, ...
fn openapi_group_versions(registry: &Registry) -> Vec<(String, String, String)> {
    let mut out = vec![("api/v1".to_string(), String::new(), "v1".to_string())];
    for (group, versions) in registry.groups() {
        for v in versions {
            out.push((format!("apis/{group}/{v}"), group.clone(), v));
        }
    }
    out
}

/// `/openapi/v3`: one entry per group version.
pub fn openapi_v3_root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (path, _, _) in openapi_group_versions(registry) {
        let url = format!("/openapi/v3/{path}?hash={:016X}", registry.generation);
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{api/v1|apis/g/v}`: the object paths with their PATCH operations, which declare the
/// `fieldValidation` query parameter so kubectl leaves validation to the server instead of downloading
/// schemas. Schemas themselves are open objects.
pub fn openapi_v3_group_version(registry: &Registry, path: &str) -> Option<Value> {
    let (_, group, version) = openapi_group_versions(registry).into_iter().find(|(p, _, _)| p == path)?;
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in registry.in_group_version(&group, &version) {
        let gvk = json!({"group": t.group, "version": version, "kind": t.kind});
        let scope = if t.namespaced { "namespaces/{namespace}/" } else { "" };
        let item = format!("/{path}/{scope}{}/{{name}}", t.plural);
        let schema_name = format!("{}.{version}.{}", if t.group.is_empty() { "core" } else { &t.group }, t.kind);
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", t.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
                    "$ref": format!("#/components/schemas/{schema_name}")
                }}}}}
            })
        };
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch")}));
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "x-kubernetes-group-version-kind": [gvk],
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{SERVER_MAJOR}.{SERVER_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2` as an empty document (no paths or definitions): older kubectl versions download it before
/// validating and find no schema, so they skip client-side validation. `protobuf` selects the encoding
/// client-go asks for (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
pub fn openapi_v2(protobuf: bool) -> Vec<u8> {
    let version = format!("v{SERVER_MAJOR}.{SERVER_MINOR}.0");
    if !protobuf {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}});
        return serde_json::to_vec(&doc).unwrap_or_default();
    }
    // gnostic openapi_v2.Document: swagger = 1, info = 2 (Info: title = 1, version = 2), paths = 8.
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push(number << 3 | 2);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, version.as_bytes());
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    field(&mut doc, 8, &[]);
    doc
}

/// Objects as a `meta.k8s.io/v1` Table with kubectl's default columns (Name, Created At).
pub fn table(objects: &[Value], resource_version: &str, include_object: &str) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let meta = o.get("metadata").cloned().unwrap_or(json!({}));
            let created = meta.get("creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string();
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}),
            };
            let mut row = json!({"cells": [meta.get("name").cloned().unwrap_or(json!("")), created]});
            if !object.is_null() {
                row["object"] = object;
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."},
            {"name": "Created At", "type": "date", "format": "", "priority": 0,
             "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}
        ],
        "rows": rows,
    })
}
