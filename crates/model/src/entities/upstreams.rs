//! Upstreams (`kong/db/schema/entities/upstreams.lua`).

use super::hostnames::{normalize_ip, HostKind};
use crate::schema::{fail_conditional, Check, EntityCheck, Field, Kind, OnDelete, Schema};
use crate::{typedefs, FieldErrors};
use serde_json::{json, Map, Value};

const HASH_ON: &[&str] = &["none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"];

pub fn upstreams() -> Schema {
    let hash = |name| Field::string(name).check(Check::OneOf(HASH_ON)).default(json!("none"));
    let mut fields = typedefs::common_fields();
    fields.extend([
        Field::string("name").required().unique().check(Check::Custom(validate_name)),
        Field::string("algorithm")
            .check(Check::OneOf(&["consistent-hashing", "least-connections", "round-robin", "latency"]))
            .default(json!("round-robin")),
        hash("hash_on"),
        hash("hash_fallback"),
        typedefs::header_name("hash_on_header"),
        typedefs::header_name("hash_fallback_header"),
        typedefs::cookie_name("hash_on_cookie"),
        typedefs::path("hash_on_cookie_path").default(json!("/")),
        Field::string("hash_on_query_arg"),
        Field::string("hash_fallback_query_arg"),
        Field::string("hash_on_uri_capture"),
        Field::string("hash_fallback_uri_capture"),
        Field::integer("slots").check(Check::Between(10, 65536)).default(json!(10000)),
        healthchecks(),
        typedefs::tags(),
        typedefs::host_with_optional_port("host_header"),
        Field::foreign("client_certificate", "certificates", OnDelete::Restrict),
        Field::boolean("use_srv_name").default(json!(false)),
    ]);
    Schema {
        name: "upstreams",
        admin_api_name: None,
        endpoint_key: Some("name"),
        cache_key: &[],
        fields,
        entity_checks: vec![EntityCheck::Custom(hash_checks)],
        shorthand: Some(algorithm_shorthands),
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

fn validate_name(value: &Value) -> Result<(), String> {
    let Some(name) = value.as_str() else {
        return Ok(());
    };
    match normalize_ip(name) {
        Err(_) => Err(format!("Invalid name ('{name}'); must be a valid hostname")),
        Ok(n) if n.kind != HostKind::Name => Err(format!("Invalid name ('{name}'); no ip addresses allowed")),
        Ok(n) if n.port.is_some() => Err(format!("Invalid name ('{name}'); no port allowed")),
        Ok(_) => Ok(()),
    }
}

fn int(name: &'static str, lo: i64, hi: i64, default: i64) -> Field {
    Field::integer(name).check(Check::Between(lo, hi)).default(json!(default))
}

fn num(name: &'static str, lo: i64, hi: i64, default: Value) -> Field {
    Field::number(name).check(Check::Between(lo, hi)).default(default)
}

fn statuses(default: Value) -> Field {
    Field::array("http_statuses", Field::element(Kind::Integer).required().check(Check::Between(100, 999)))
        .default(default)
}

fn record(name: &'static str, fields: Vec<Field>) -> Field {
    Field::record(name, fields).required()
}

fn check_type() -> Field {
    Field::string("type").check(Check::OneOf(&["tcp", "http", "https", "grpc", "grpcs"])).default(json!("http"))
}

fn unhealthy_counters() -> [Field; 3] {
    [int("tcp_failures", 0, 255, 0), int("timeouts", 0, 255, 0), int("http_failures", 0, 255, 0)]
}

/// The `healthchecks` record: every nested record is required and every leaf has Kong's default.
fn healthchecks() -> Field {
    let mut active_unhealthy =
        vec![num("interval", 0, 65535, json!(0)), statuses(json!([429, 404, 500, 501, 502, 503, 504, 505]))];
    active_unhealthy.extend(unhealthy_counters());
    let active = record(
        "active",
        vec![
            check_type(),
            num("timeout", 0, 65535, json!(1)),
            int("concurrency", 1, 2_147_483_648, 10),
            typedefs::path("http_path").default(json!("/")),
            typedefs::sni("https_sni"),
            Field::boolean("https_verify_certificate").required().default(json!(true)),
            typedefs::headers("headers"),
            record(
                "healthy",
                vec![num("interval", 0, 65535, json!(0)), statuses(json!([200, 302])), int("successes", 0, 255, 0)],
            ),
            record("unhealthy", active_unhealthy),
        ],
    );
    let mut passive_unhealthy = vec![statuses(json!([429, 500, 503]))];
    passive_unhealthy.extend(unhealthy_counters());
    let passive_healthy =
        json!([200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]);
    let passive = record(
        "passive",
        vec![
            check_type(),
            record("healthy", vec![statuses(passive_healthy), int("successes", 0, 255, 0)]),
            record("unhealthy", passive_unhealthy),
        ],
    );
    record("healthchecks", vec![active, passive, num("threshold", 0, 100, json!(0))])
}

/// Kong's conditional and distinct checks on the hashing fields, in declaration order.
fn hash_checks(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let get = |k: &str| entity.get(k).and_then(Value::as_str);
    let hash_on = get("hash_on");
    let fallback = get("hash_fallback");
    let required = |errors: &mut FieldErrors, if_field: &str, then_field: &str| {
        if get(then_field).is_none() {
            fail_conditional(errors, if_field, then_field, "required field missing");
        }
    };
    let one_of = |errors: &mut FieldErrors, options: &[&str]| {
        if let Some(f) = fallback {
            if !options.contains(&f) {
                fail_conditional(
                    errors,
                    "hash_on",
                    "hash_fallback",
                    &format!("expected one of: {}", options.join(", ")),
                );
            }
        }
    };
    let distinct = |errors: &mut FieldErrors, a: &str, b: &str| {
        if get(a).is_some() && get(a) == get(b) {
            errors.entity(format!("values of these fields must be distinct: '{a}', '{b}'"));
        }
    };
    if hash_on == Some("header") {
        required(errors, "hash_on", "hash_on_header");
    }
    if fallback == Some("header") {
        required(errors, "hash_fallback", "hash_fallback_header");
    }
    if hash_on == Some("cookie") {
        required(errors, "hash_on", "hash_on_cookie");
    }
    if fallback == Some("cookie") {
        required(errors, "hash_fallback", "hash_on_cookie");
    }
    match hash_on {
        Some("none") | Some("cookie") => one_of(errors, &["none"]),
        Some("consumer") => one_of(errors, &["none", "ip", "header", "cookie", "path", "query_arg", "uri_capture"]),
        Some("ip") => one_of(errors, &["none", "consumer", "header", "cookie", "path", "query_arg", "uri_capture"]),
        Some("path") => one_of(errors, &["none", "consumer", "header", "cookie", "query_arg", "ip", "uri_capture"]),
        _ => {}
    }
    distinct(errors, "hash_on_header", "hash_fallback_header");
    if hash_on == Some("query_arg") {
        required(errors, "hash_on", "hash_on_query_arg");
    }
    if fallback == Some("query_arg") {
        required(errors, "hash_fallback", "hash_fallback_query_arg");
    }
    distinct(errors, "hash_on_query_arg", "hash_fallback_query_arg");
    if hash_on == Some("uri_capture") {
        required(errors, "hash_on", "hash_on_uri_capture");
    }
    if fallback == Some("uri_capture") {
        required(errors, "hash_fallback", "hash_fallback_uri_capture");
    }
    distinct(errors, "hash_on_uri_capture", "hash_fallback_uri_capture");
}

/// The `algorithm` then `hash_on` shorthands: each is validated as a string, removed, and its results
/// overwrite the real fields (which share their names).
fn algorithm_shorthands(input: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    let string_error = |v: &Value| match v {
        Value::String(s) if s.is_empty() => Some("length must be at least 1"),
        Value::String(_) | Value::Null => None,
        _ => Some("expected a string"),
    };
    if let Some(value) = input.get("algorithm").cloned() {
        if let Some(e) = string_error(&value) {
            errors.insert("algorithm", e);
        } else if matches!(value.as_str(), Some("least-connections" | "latency")) {
            input.insert("hash_on".into(), Value::Null);
        }
    }
    if let Some(value) = input.get("hash_on").cloned() {
        if let Some(e) = string_error(&value) {
            errors.insert("hash_on", e);
        } else {
            match value.as_str() {
                None => {
                    input.insert("hash_on".into(), json!("none"));
                }
                Some("none") => {
                    input.insert("algorithm".into(), json!("round-robin"));
                }
                Some(_) => {
                    input.insert("algorithm".into(), json!("consistent-hashing"));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[path = "upstreams_tests.rs"]
mod tests;
