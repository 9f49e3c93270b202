//! Routes (`kong/db/schema/entities/routes.lua`, `routes_subschemas.lua`), traditional_compatible flavor.
//!
//! Kong picks a subschema from the first protocol that names one. That is reproduced with three checks:
//! a `Precheck` (missing or unknown protocols are reported alone), `FieldRules` (the subschema's `no_*`
//! fields, grpc's `strip_path`, the `headers` and `sources`/`destinations` element rules) and a `Custom`
//! entity check (the `snis` conditional, regex validity and the subschemas' at-least-one-of rules).
//! grpc/grpcs routes default `strip_path` to false: the shorthand hook inserts `strip_path: false` when
//! the input selects the grpc subschema and has no `strip_path` (so a PATCH that switches a route to grpc
//! without `strip_path` also gets false, where Kong would keep the stored value and reject it).
//! The ATC expression validation is not reproduced, except that regex paths must compile with the
//! `regex` crate (the engine of Kong's router).

use crate::schema::{Check, EntityCheck, Field, Kind, OnDelete, Schema};
use crate::{typedefs, FieldErrors};
use serde_json::{json, Map, Value};

pub fn routes() -> Schema {
    let mut fields = typedefs::common_fields();
    fields.extend([
        typedefs::utf8_name("name"),
        Field::set("protocols", Field::element(Kind::String).required().check(Check::OneOf(typedefs::PROTOCOLS)))
            .required()
            .check(Check::LenMin(1))
            .check(Check::Custom(mutually_exclusive_protocols))
            .default(json!(["http", "https"])),
        typedefs::methods(),
        typedefs::hosts(),
        typedefs::router_paths(),
        typedefs::headers("headers"),
        Field::integer("https_redirect_status_code")
            .required()
            .check(Check::OneOfInt(&[426, 301, 302, 307, 308]))
            .default(json!(426)),
        Field::integer("regex_priority").default(json!(0)),
        Field::boolean("strip_path").required().default(json!(true)),
        Field::string("path_handling").check(Check::OneOf(&["v0", "v1"])).default(json!("v0")),
        Field::boolean("preserve_host").required().default(json!(false)),
        Field::boolean("request_buffering").required().default(json!(true)),
        Field::boolean("response_buffering").required().default(json!(true)),
        Field::set(
            "snis",
            Field::element(Kind::String).required().check(Check::Custom(typedefs::validate_wildcard_host)),
        ),
        typedefs::ip_port_set("sources"),
        typedefs::ip_port_set("destinations"),
        typedefs::tags(),
        Field::foreign("service", "services", OnDelete::Restrict),
    ]);
    Schema {
        name: "routes",
        admin_api_name: None,
        endpoint_key: Some("name"),
        cache_key: &[],
        fields,
        entity_checks: vec![
            EntityCheck::Precheck(select_subschema),
            EntityCheck::FieldRules(subschema_fields),
            EntityCheck::Custom(route_checks),
        ],
        shorthand: Some(grpc_strip_path_default),
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

/// The subschemas of `routes_subschemas.lua`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subschema {
    Http,
    Stream,
    Grpc,
}

fn subschema_of(protocol: &str) -> Option<Subschema> {
    match protocol {
        "http" | "https" => Some(Subschema::Http),
        "tcp" | "tls" | "udp" | "tls_passthrough" => Some(Subschema::Stream),
        "grpc" | "grpcs" => Some(Subschema::Grpc),
        _ => None,
    }
}

/// The subschema named by the first protocol that names one.
fn subschema(entity: &Map<String, Value>) -> Option<Subschema> {
    match entity.get("protocols")? {
        Value::Array(items) => items.iter().filter_map(Value::as_str).find_map(subschema_of),
        Value::String(s) => subschema_of(s),
        _ => None,
    }
}

fn protocols(entity: &Map<String, Value>) -> Vec<&str> {
    match entity.get("protocols") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn select_subschema(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let value = entity.get("protocols").unwrap_or(&Value::Null);
    if value.is_null() {
        errors.insert("protocols", "required field missing");
    } else if subschema(entity).is_none() {
        let first = match value {
            Value::Array(items) => match items.first() {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "nil".to_string(),
            },
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        errors.insert("protocols", format!("unknown type: {first}"));
    }
}

fn grpc_strip_path_default(input: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    if subschema(input) == Some(Subschema::Grpc) && !input.contains_key("strip_path") {
        input.insert("strip_path".into(), Value::Bool(false));
    }
    Ok(())
}

const PROTOCOL_SUBSETS: &[&[&str]] =
    &[&["http", "https"], &["tcp", "tls", "udp"], &["tls_passthrough"], &["grpc", "grpcs"]];

fn mutually_exclusive_protocols(value: &Value) -> Result<(), String> {
    let Some(items) = value.as_array() else {
        return Ok(());
    };
    let mut present: Vec<&[&str]> = Vec::new();
    for p in items.iter().filter_map(Value::as_str) {
        if let Some(subset) = PROTOCOL_SUBSETS.iter().find(|s| s.contains(&p)) {
            if !present.contains(subset) {
                present.push(subset);
            }
        }
    }
    if present.len() <= 1 {
        return Ok(());
    }
    let groups: Vec<String> = present.iter().map(|s| format!("({})", quoted(s))).collect();
    Err(format!("these sets are mutually exclusive: {}", groups.join(", ")))
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

fn set(entity: &Map<String, Value>, key: &str) -> bool {
    entity.get(key).is_some_and(|v| !v.is_null())
}

fn subschema_fields(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(sub) = subschema(entity) else { return };
    let (forbidden, suffix): (&[&str], &str) = match sub {
        Subschema::Http => (&["sources", "destinations"], "'http' or 'https'"),
        Subschema::Stream => (&["methods", "hosts", "paths", "headers"], "'tcp', 'tls', 'tls_passthrough' or 'udp'"),
        Subschema::Grpc => (&["methods", "sources", "destinations"], "'grpc' or 'grpcs'"),
    };
    for field in forbidden {
        if set(entity, field) {
            errors.insert(field, format!("cannot set '{field}' when 'protocols' is {suffix}"));
        }
    }
    if sub == Subschema::Grpc && entity.get("strip_path") == Some(&Value::Bool(true)) {
        errors.insert("strip_path", "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'");
    }
    if sub != Subschema::Stream {
        if let Some(Value::Object(headers)) = entity.get("headers") {
            if let Some(e) = headers_error(headers) {
                errors.insert_nested("headers", e);
            }
        }
    }
    for field in ["sources", "destinations"] {
        if !errors.contains(field) {
            if let Some(e) = element_errors(typedefs::ip_port_set(field), entity.get(field), empty_ip_port) {
                errors.insert_nested(field, e);
            }
        }
    }
    if !errors.contains("paths") {
        if let Some(e) = element_errors(typedefs::router_paths(), entity.get("paths"), pcre_regex_error) {
            errors.insert_nested("paths", e);
        }
    }
}

/// The field's own validation errors, with `extra` filling in elements that passed it.
fn element_errors(field: Field, value: Option<&Value>, extra: fn(&Value) -> Option<Value>) -> Option<Value> {
    let Some(Value::Array(items)) = value else { return None };
    let mut errors = match crate::schema::validate_value(&field, value.unwrap_or(&Value::Null)) {
        Ok(()) => vec![Value::Null; items.len()],
        Err(Value::Array(errors)) if errors.len() == items.len() => errors,
        Err(other) => return Some(other),
    };
    for (error, item) in errors.iter_mut().zip(items) {
        if error.is_null() {
            *error = extra(item).unwrap_or(Value::Null);
        }
    }
    errors.iter().any(|e| !e.is_null()).then_some(Value::Array(errors))
}

/// Kong's map validation returns only the first error, unkeyed.
fn headers_error(headers: &Map<String, Value>) -> Option<Value> {
    for (name, values) in headers {
        if name.eq_ignore_ascii_case("host") {
            return Some(json!("cannot contain 'host' header, which must be specified in the 'hosts' attribute"));
        }
        if let Err(e) = typedefs::validate_header_name(&json!(name)) {
            return Some(Value::String(e));
        }
        let Some(items) = values.as_array() else {
            return Some(json!("expected an array"));
        };
        let element_errors: Vec<Value> = items
            .iter()
            .map(|v| match v {
                Value::Null => json!("required field missing"),
                Value::String(s) if s.is_empty() => json!("length must be at least 1"),
                Value::String(_) => Value::Null,
                _ => json!("expected a string"),
            })
            .collect();
        if element_errors.iter().any(|e| !e.is_null()) {
            return Some(Value::Array(element_errors));
        }
    }
    None
}

/// `sources`/`destinations` elements need an `ip` or a `port` (the record's own entity check).
fn empty_ip_port(item: &Value) -> Option<Value> {
    let o = item.as_object()?;
    (!set(o, "ip") && !set(o, "port"))
        .then(|| json!({"@entity": ["at least one of these fields must be non-empty: 'ip', 'port'"]}))
}

/// A regex path PCRE would reject too (PCRE's `invalid regex` message, with the regex crate's reason).
fn pcre_regex_error(item: &Value) -> Option<Value> {
    let path = item.as_str()?;
    if uses_pcre_only_syntax(path) {
        return None;
    }
    let (re, e) = typedefs::router_regex_error(path)?;
    Some(Value::String(format!("invalid regex: '{re}' (PCRE returned: {})", short(&e))))
}

/// Constructs PCRE accepts but the router's regex engine does not (look-around, backreferences, atomic
/// groups): Kong accepts them as fields and fails in the router validation instead.
fn uses_pcre_only_syntax(path: &str) -> bool {
    ["(?=", "(?!", "(?<=", "(?<!", "(?>"].iter().any(|s| path.contains(s))
        || path.as_bytes().windows(2).any(|w| w[0] == b'\\' && (b'1'..=b'9').contains(&w[1]))
}

/// The last line of a multi-line `regex` error, without its `error: ` prefix.
fn short(error: &str) -> String {
    let last = error.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(error);
    last.trim().trim_start_matches("error: ").to_string()
}

fn route_checks(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let protos = protocols(entity);
    let nonempty = |k: &str| typedefs::is_nonempty(entity.get(k));
    // Base `conditional`: snis only with TLS-terminating protocols.
    let tls = ["grpcs", "https", "tls", "tls_passthrough"];
    if !protos.iter().any(|p| tls.contains(p)) && nonempty("snis") {
        errors.entity("'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");
        errors.insert("snis", "length must be 0");
    }
    // Router validation: regexes the router's engine rejects.
    if let Some(Value::Array(paths)) = entity.get("paths") {
        for path in paths.iter().filter_map(Value::as_str) {
            if let Some((_, e)) = typedefs::router_regex_error(path) {
                errors.entity(format!("Router Expression failed validation: {}", short(&e)));
                break;
            }
        }
    }
    let any_of = |names: &[&str]| names.iter().any(|n| nonempty(n));
    let require = |errors: &mut FieldErrors, names: &[&str], when: &str| {
        if !any_of(names) {
            errors.entity(format!("must set one of {} when 'protocols' is {when}", quoted(names)));
        }
    };
    match subschema(entity) {
        Some(Subschema::Http) if protos.contains(&"https") => {
            require(errors, &["methods", "hosts", "headers", "paths", "snis"], "'https'");
        }
        Some(Subschema::Http) => require(errors, &["methods", "hosts", "headers", "paths"], "'http'"),
        Some(Subschema::Grpc) if protos.contains(&"grpcs") => {
            require(errors, &["hosts", "headers", "paths", "snis"], "'grpcs'");
        }
        Some(Subschema::Grpc) => require(errors, &["hosts", "headers", "paths"], "'grpc'"),
        Some(Subschema::Stream) => {
            if protos.iter().all(|p| ["tcp", "tls", "udp"].contains(p)) {
                require(errors, &["sources", "destinations", "snis"], "'tcp', 'tls' or 'udp'");
            }
            if protos.iter().all(|p| *p == "tls_passthrough") && !nonempty("snis") {
                errors.entity("must set snis when 'protocols' is 'tls_passthrough'");
            }
        }
        None => {}
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
