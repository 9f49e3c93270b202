//! The non-entity endpoints: `/`, `/status`, `/endpoints`, `/schemas`, `/plugins/enabled`, `/tags`, `/config`,
//! and the status listener.

use crate::body::{self, query_args};
use crate::entities::parse_size;
use crate::{reply, AdminState};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse_model::{plugins, schema_by_name, schemas};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Answers the fixed endpoints; `None` lets the entity dispatcher try.
pub async fn route(state: &AdminState, segs: &[&str], method: &Method, query: Option<&str>) -> Option<Response> {
    let read = *method == Method::GET || *method == Method::HEAD;
    let response = match segs {
        [] => guard(read, root(state).await),
        ["status"] => guard(read, status(state).await),
        ["endpoints"] => guard(read, endpoints()),
        ["schemas", name] => guard(read, entity_schema(name)),
        ["plugins", "enabled"] => guard(read, enabled_plugins(state)),
        ["schemas", "plugins", name] if *name != "validate" => guard(read, plugin_schema(state, name, false)),
        ["plugins", "schema", name] => guard(read, plugin_schema(state, name, true)),
        ["tags"] => guard(read, tags(state, None, query).await),
        ["tags", tag] => guard(read, tags(state, Some(tag), query).await),
        ["config"] => reply::message(
            StatusCode::BAD_REQUEST,
            "this endpoint is only available when Kong is configured to not use a database",
        ),
        _ => return None,
    };
    Some(response)
}

fn guard(allowed: bool, response: Response) -> Response {
    if allowed {
        response
    } else {
        reply::method_not_allowed()
    }
}

async fn root(state: &AdminState) -> Response {
    let available: Map<String, Value> = plugins::BUNDLED
        .iter()
        .map(|p| (p.name.to_string(), json!({ "version": p.version, "priority": p.priority })))
        .collect();
    let enabled_in_cluster = state.dao.store().plugin_names_in_use().await.unwrap_or_default();
    let pid = std::process::id();
    let body = json!({
        "tagline": "Welcome to kong",
        "version": state.info.version,
        "edition": "community",
        "hostname": state.info.hostname,
        "node_id": state.info.node_id,
        "timers": { "running": 0, "pending": 0 },
        "plugins": { "available_on_server": available, "enabled_in_cluster": enabled_in_cluster },
        "configuration": state.info.configuration,
        "pids": { "master": pid, "workers": [pid] },
    });
    reply::json(StatusCode::OK, body)
}

async fn status_body(state: &AdminState) -> Value {
    let c = &state.counters;
    let active = c.connections_active.load(Ordering::Relaxed);
    let accepted = c.connections_accepted.load(Ordering::Relaxed);
    json!({
        "database": { "reachable": state.dao.store().reachable().await },
        "server": {
            "connections_active": active,
            "connections_reading": 0,
            "connections_writing": active,
            "connections_waiting": 0,
            "connections_accepted": accepted,
            "connections_handled": accepted,
            "total_requests": c.total_requests.load(Ordering::Relaxed),
        },
        "memory": { "workers_lua_vms": [], "lua_shared_dicts": {} },
    })
}

async fn status(state: &AdminState) -> Response {
    reply::json(StatusCode::OK, status_body(state).await)
}

/// The status listener: `/status`, and `/status/ready` which is 200 only while the database answers.
pub async fn status_listener(State(state): State<Arc<AdminState>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply::method_not_allowed();
    }
    match request.uri().path().trim_end_matches('/') {
        "/status" => status(&state).await,
        "/status/ready" => {
            if state.dao.store().reachable().await {
                reply::message(StatusCode::OK, "ready")
            } else {
                reply::message(StatusCode::SERVICE_UNAVAILABLE, "failed to connect to database")
            }
        }
        _ => reply::not_found(),
    }
}

fn endpoints() -> Response {
    let mut paths: Vec<String> = vec![
        "/".into(),
        "/status".into(),
        "/endpoints".into(),
        "/schemas/{name}".into(),
        "/schemas/{name}/validate".into(),
        "/schemas/plugins/{name}".into(),
        "/schemas/plugins/validate".into(),
        "/plugins/schema/{name}".into(),
        "/plugins/enabled".into(),
        "/tags".into(),
        "/tags/{tags}".into(),
        "/config".into(),
    ];
    for schema in schemas() {
        let name = schema.admin_name();
        if name != "targets" {
            paths.push(format!("/{name}"));
            paths.push(format!("/{name}/{{{}}}", schema.name));
        }
        for (field, reference, _) in schema.foreign_fields() {
            let Some(parent) = schema_by_name(reference) else { continue };
            let p = parent.admin_name();
            let nested = gatehouse_model::entities::credentials::nested_admin_name(schema.name).unwrap_or(name);
            paths.push(format!("/{p}/{{{}}}/{nested}", parent.name));
            paths.push(format!("/{p}/{{{}}}/{nested}/{{{}}}", parent.name, schema.name));
            if name != "targets" && !(schema.name == "snis" && field.name == "certificate") {
                paths.push(format!("/{name}/{{{}}}/{}", schema.name, field.name));
            }
        }
    }
    paths.sort_by_key(|p| p.replace('/', "\u{0}"));
    paths.dedup();
    reply::json(StatusCode::OK, json!({ "data": paths }))
}

fn entity_schema(name: &str) -> Response {
    match schema_by_name(name) {
        Some(schema) => reply::json(StatusCode::OK, schema.to_json()),
        None => reply::message(StatusCode::NOT_FOUND, &format!("No entity named '{name}'")),
    }
}

/// `GET /schemas/plugins/{name}`: the plugin's own schema, or with `config_only` (the deprecated
/// `/plugins/schema/{name}`) its config record. Enabled plugins whose config schema Gatehouse does not know
/// yet are described with a free-form `config` record.
fn plugin_schema(state: &AdminState, name: &str, config_only: bool) -> Response {
    if !state.dao.plugin_enabled(name) {
        return reply::message(StatusCode::NOT_FOUND, &format!("No plugin named '{name}'"));
    }
    let body = match (gatehouse_model::plugin_schemas::plugin_schema(name), config_only) {
        (Some(schema), false) => schema.to_json(),
        (Some(schema), true) => schema.config_json(),
        (None, false) => json!({ "entity_checks": [], "fields": [{ "config": { "type": "record", "fields": [] } }] }),
        (None, true) => json!({ "entity_checks": [], "fields": [] }),
    };
    reply::json(StatusCode::OK, body)
}

/// `POST /schemas/{entity}/validate`.
pub async fn validate_schema(state: &AdminState, name: &str, request: Request) -> Response {
    if request.method() != Method::POST {
        return reply::method_not_allowed();
    }
    let Some(schema) = schema_by_name(name) else {
        return reply::message(StatusCode::NOT_FOUND, &format!("No entity named '{name}'"));
    };
    let input = match body::read(request, Some(schema), &state.options).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state.dao.validate_only(schema, input).await {
        Ok(()) => reply::message(StatusCode::OK, "schema validation successful"),
        Err(e) => reply::store_error(e),
    }
}

fn enabled_plugins(state: &AdminState) -> Response {
    let mut names: Vec<&str> =
        plugins::BUNDLED.iter().map(|p| p.name).filter(|n| state.dao.plugin_enabled(n)).collect();
    names.sort_unstable();
    reply::json(StatusCode::OK, json!({ "enabled_plugins": names }))
}

async fn tags(state: &AdminState, tag: Option<&str>, query: Option<&str>) -> Response {
    let args = query_args(query);
    let size = match parse_size(args.get("size")) {
        Ok(s) => s,
        Err(e) => return reply::kong_error(&e),
    };
    let offset = args.get("offset").and_then(Value::as_str).map(String::from);
    match state.dao.store().page_tags(tag, size, offset.as_deref()).await {
        Ok((rows, next_offset)) => {
            let mut body = Map::new();
            body.insert("data".into(), Value::Array(rows));
            match next_offset {
                Some(token) => {
                    let escaped: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
                    let base = match tag {
                        Some(t) => format!("/tags/{t}"),
                        None => "/tags".into(),
                    };
                    body.insert("offset".into(), Value::from(token));
                    body.insert("next".into(), Value::from(format!("{base}?offset={escaped}")));
                }
                None => {
                    body.insert("next".into(), Value::Null);
                }
            }
            reply::json(StatusCode::OK, Value::Object(body))
        }
        Err(e) => reply::store_error(e),
    }
}
