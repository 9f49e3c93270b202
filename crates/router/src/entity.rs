//! Route entity (Admin API JSON, Kong's shape) → [`RouteSpec`].

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{PathHandling, RouteSpec};

fn uuid_of(v: &Value, what: &str) -> Result<Uuid, String> {
    v.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| format!("{what}: expected a uuid"))
}

fn strings(route: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match route.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key}: expected strings"))).collect()
        }
        Some(_) => Err(format!("{key}: expected an array")),
    }
}

fn boolean(route: &Map<String, Value>, key: &str, default: bool) -> Result<bool, String> {
    match route.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{key}: expected a boolean")),
    }
}

fn integer(route: &Map<String, Value>, key: &str, default: i64) -> Result<i64, String> {
    match route.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("{key}: expected an integer")),
    }
}

/// Reads the fields the router uses; defaults are Kong's schema defaults.
pub(crate) fn from_entity(route: &Map<String, Value>) -> Result<RouteSpec, String> {
    let id = uuid_of(route.get("id").unwrap_or(&Value::Null), "id")?;
    let service_id = match route.get("service").or_else(|| route.get("service_id")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(uuid_of(o.get("id").unwrap_or(&Value::Null), "service.id")?),
        Some(v) => Some(uuid_of(v, "service")?),
    };
    let mut protocols = strings(route, "protocols")?;
    if protocols.is_empty() {
        protocols = vec!["http".into(), "https".into()];
    }
    let headers = match route.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                let vals = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| format!("headers.{k}: expected strings")))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(format!("headers.{k}: expected an array")),
                };
                Ok((k.clone(), vals))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("headers: expected an object".into()),
    };
    let path_handling = match route.get("path_handling").and_then(Value::as_str) {
        Some("v1") => PathHandling::V1,
        _ => PathHandling::V0,
    };
    let code = integer(route, "https_redirect_status_code", 426)?;
    Ok(RouteSpec {
        id,
        service_id,
        protocols,
        methods: strings(route, "methods")?,
        hosts: strings(route, "hosts")?,
        hosts_is_array: matches!(route.get("hosts"), Some(Value::Array(_))),
        paths: strings(route, "paths")?,
        headers,
        snis: strings(route, "snis")?,
        regex_priority: integer(route, "regex_priority", 0)?,
        strip_path: boolean(route, "strip_path", true)?,
        preserve_host: boolean(route, "preserve_host", false)?,
        request_buffering: boolean(route, "request_buffering", true)?,
        response_buffering: boolean(route, "response_buffering", true)?,
        path_handling,
        updated_at: integer(route, "updated_at", 0)?,
        https_redirect_status_code: u16::try_from(code).map_err(|_| "https_redirect_status_code: out of range")?,
        entity: std::sync::Arc::new(crate::StoredEntity::new(route)),
    })
}
