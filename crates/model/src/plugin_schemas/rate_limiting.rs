//! `rate-limiting` (`kong/plugins/rate-limiting/schema.lua`, Kong 3.9), with the shared Redis record of
//! `kong/tools/redis/schema.lua`.

use super::{protocols_http, PluginSchema};
use crate::schema::{validate_value, Check, EntityCheck, Field};
use crate::typedefs;
use crate::FieldErrors;
use serde_json::{json, Map, Value};

/// The limits, smallest period first (`ORDERED_PERIODS`).
pub const PERIODS: &[&str] = &["second", "minute", "hour", "day", "month", "year"];
const LIMIT_BY: &[&str] = &["consumer", "credential", "ip", "service", "header", "path"];
/// Kong drops `cluster` in DB-less mode and on control planes; Gatehouse always has a database.
const POLICIES: &[&str] = &["local", "cluster", "redis"];
const SYNC_RATE_REALTIME: f64 = -1.0;

/// Kong's `gt = 0`.
pub(super) fn greater_than_zero(value: &Value) -> Result<(), String> {
    match value.as_f64() {
        Some(n) if n <= 0.0 => Err("value must be greater than 0".into()),
        _ => Ok(()),
    }
}

fn positive_number(name: &'static str) -> Field {
    Field::number(name).check(Check::Custom(greater_than_zero)).annotate("gt", json!(0))
}

/// `redis_schema.config_schema`: the Redis connection record shared by the Redis-backed plugins.
pub(super) fn redis_config() -> Field {
    let referenceable = |f: Field| f.annotate("referenceable", json!(true));
    Field::record(
        "redis",
        vec![
            typedefs::host("host"),
            typedefs::port("port").default(json!(6379)),
            typedefs::timeout("timeout").default(json!(2000)),
            referenceable(Field::string("username")),
            referenceable(Field::string("password").check(Check::LenMin(0)).annotate("encrypted", json!(true))),
            Field::integer("database").default(json!(0)),
            Field::boolean("ssl").default(json!(false)),
            Field::boolean("ssl_verify").default(json!(false)),
            typedefs::sni("server_name"),
        ],
    )
    .required()
}

pub fn schema() -> PluginSchema {
    let mut fields: Vec<Field> = PERIODS.iter().map(|p| positive_number(p)).collect();
    fields.extend([
        Field::string("limit_by").default(json!("consumer")).check(Check::OneOf(LIMIT_BY)),
        typedefs::header_name("header_name"),
        typedefs::path("path"),
        Field::string("policy").default(json!("local")).check(Check::LenMin(0)).check(Check::OneOf(POLICIES)),
        Field::boolean("fault_tolerant").required().default(json!(true)),
        redis_config(),
        Field::boolean("hide_client_headers").required().default(json!(false)),
        positive_number("error_code").default(json!(429)),
        Field::string("error_message").default(json!("API rate limit exceeded")),
        Field::number("sync_rate").required().default(json!(-1)),
    ]);
    PluginSchema::new("rate-limiting", fields)
        .with_field(protocols_http())
        .with_checks(vec![
            EntityCheck::Custom(periods_order),
            EntityCheck::AtLeastOneOf(&[
                "config.second",
                "config.minute",
                "config.hour",
                "config.day",
                "config.month",
                "config.year",
            ]),
            EntityCheck::Custom(conditionals),
        ])
        .with_shorthand(redis_shorthands)
}

fn config(entity: &Map<String, Value>) -> Option<&Map<String, Value>> {
    entity.get("config").and_then(Value::as_object)
}

/// The config record's `custom_validator = validate_periods_order`; its message is the `config` field's error.
fn periods_order(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(config) = config(entity) else {
        return;
    };
    if let Err(message) = validate_periods_order(config) {
        errors.insert("config", message);
    }
}

fn validate_periods_order(config: &Map<String, Value>) -> Result<(), String> {
    let limit = |p: &str| config.get(p).and_then(Value::as_f64);
    for (i, lower) in PERIODS.iter().enumerate() {
        let Some(v1) = limit(lower) else { continue };
        for upper in &PERIODS[i + 1..] {
            if let Some(v2) = limit(upper).filter(|v2| *v2 < v1) {
                return Err(format!(
                    "The limit for {upper}({v2:.1}) cannot be lower than the limit for {lower}({v1:.1})"
                ));
            }
        }
    }
    let redis = config.get("policy").and_then(Value::as_str) == Some("redis");
    let sync_rate = config.get("sync_rate").and_then(Value::as_f64).unwrap_or(SYNC_RATE_REALTIME);
    if !redis && sync_rate != SYNC_RATE_REALTIME {
        return Err("sync_rate can only be used with the redis policy".into());
    }
    if redis && sync_rate != SYNC_RATE_REALTIME && sync_rate < 0.02 {
        return Err("sync_rate must be greater than 0.02, or -1 to disable".into());
    }
    Ok(())
}

/// The five `conditional` entity checks, in Kong's order: a Redis policy needs `redis.host`, `redis.port`
/// and `redis.timeout`; `limit_by = header` needs `header_name`; `limit_by = path` needs `path`.
fn conditionals(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(config) = config(entity) else {
        return;
    };
    let text = |k: &str| config.get(k).and_then(Value::as_str);
    let mut nested = Map::new();
    let mut redis_errors = Map::new();
    let fail = |errors: &mut FieldErrors, if_field: &str| {
        errors.entity(format!("failed conditional validation given value of field 'config.{if_field}'"));
    };
    if text("policy") == Some("redis") {
        let redis = config.get("redis").and_then(Value::as_object);
        for key in ["host", "port", "timeout"] {
            if redis.and_then(|r| r.get(key)).is_none_or(Value::is_null) {
                fail(errors, "policy");
                redis_errors.insert(key.into(), json!("required field missing"));
            }
        }
    }
    if !redis_errors.is_empty() {
        nested.insert("redis".into(), Value::Object(redis_errors));
    }
    for (limit_by, then_field) in [("header", "header_name"), ("path", "path")] {
        if text("limit_by") == Some(limit_by) && config.get(then_field).is_none_or(Value::is_null) {
            fail(errors, "limit_by");
            nested.insert(then_field.into(), json!("required field missing"));
        }
    }
    if !nested.is_empty() {
        errors.insert_nested("config", Value::Object(nested));
    }
}

/// The deprecated `config.redis_*` shorthand fields and their types.
const SHORTHANDS: &[(&str, &str)] = &[
    ("host", "string"),
    ("port", "integer"),
    ("password", "password"),
    ("username", "string"),
    ("ssl", "boolean"),
    ("ssl_verify", "boolean"),
    ("server_name", "string"),
    ("timeout", "integer"),
    ("database", "integer"),
];

/// Kong's `shorthand_fields`: `config.redis_host = x` becomes `config.redis.host = x` unless `redis.host` is
/// already set (then both must agree). Kong reports a shorthand's type error under the shorthand's bare name
/// at the top level (`redis_port: expected an integer`), as its nested `process_auto_fields` errors bubble up.
pub(super) fn redis_shorthands(entity: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    let Some(Value::Object(config)) = entity.get_mut("config") else {
        return Ok(());
    };
    let mut errors = FieldErrors::default();
    for (key, kind) in SHORTHANDS {
        let name = format!("redis_{key}");
        let Some(value) = config.get(&name).cloned() else {
            continue;
        };
        let field = match *kind {
            "integer" => Field::integer(""),
            "boolean" => Field::boolean(""),
            "password" => Field::string("").check(Check::LenMin(0)),
            _ => Field::string(""),
        };
        if let Err(e) = validate_value(&field, &value) {
            errors.insert_nested(&name, e);
            continue;
        }
        let current = config.get("redis").and_then(|r| r.get(*key)).filter(|v| !v.is_null());
        if let Some(current) = current.filter(|c| !value.is_null() && !same(c, &value)) {
            errors.insert(
                &name,
                format!(
                    "both deprecated and new field are used but their values mismatch: {name} = {} vs redis.{key} = {}",
                    lua_tostring(&value),
                    lua_tostring(current)
                ),
            );
            continue;
        }
        config.remove(&name);
        match config.get_mut("redis") {
            Some(Value::Object(redis)) => {
                if redis.get(*key).is_none_or(Value::is_null) {
                    redis.insert((*key).into(), value);
                }
            }
            None | Some(Value::Null) => {
                config.insert("redis".into(), json!({ *key: value }));
            }
            // Not a record: left for validation to report.
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Lua's `deepcompare` of scalars: numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Lua's `tostring` of a scalar.
fn lua_tostring(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("rate-limiting").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "rate-limiting", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    const AT_LEAST_ONE: &str = "at least one of these fields must be non-empty: 'config.second', 'config.minute', \
                                'config.hour', 'config.day', 'config.month', 'config.year'";

    #[test]
    fn defaults() {
        let p = check(json!({"second": 10})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "second": 10, "minute": null, "hour": null, "day": null, "month": null, "year": null,
                "limit_by": "consumer", "header_name": null, "path": null, "policy": "local", "fault_tolerant": true,
                "redis": {
                    "host": null, "port": 6379, "timeout": 2000, "username": null, "password": null,
                    "database": 0, "ssl": false, "ssl_verify": false, "server_name": null,
                },
                "hide_client_headers": false, "error_code": 429, "error_message": "API rate limit exceeded",
                "sync_rate": -1,
            })
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    }

    #[test]
    fn valid_configs_from_kong_spec() {
        assert!(check(json!({"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 50, "year": 60})).is_ok());
        assert!(check(json!({"second": 10, "limit_by": "header", "header_name": "X-App-Version"})).is_ok());
        assert!(check(json!({"second": 10, "limit_by": "path", "path": "/request"})).is_ok());
        let redis = json!({
            "host": "localhost", "port": 6379, "database": 0, "username": "test", "password": "testXXX",
            "ssl": true, "ssl_verify": false, "timeout": 1100, "server_name": "test.example",
        });
        assert!(check(json!({"second": 10, "policy": "redis", "redis": redis})).is_ok());
        assert!(check(json!({"second": 1, "policy": "redis", "redis": {"host": "h"}, "sync_rate": 0.5})).is_ok());
    }

    #[test]
    fn limits() {
        assert_eq!(
            prepare(json!({"name": "rate-limiting"})).unwrap_err().summary(),
            format!("schema violation ({AT_LEAST_ONE})")
        );
        assert_eq!(err(json!({"minute": null})), format!("schema violation ({AT_LEAST_ONE})"));
        assert_eq!(err(json!({"second": 0})), "schema violation (config.second: value must be greater than 0)");
        assert_eq!(err(json!({"year": -5})), "schema violation (config.year: value must be greater than 0)");
        assert_eq!(err(json!({"hour": "1"})), "schema violation (config.hour: expected a number)");
        let e = check(json!({"second": 20, "hour": 10})).unwrap_err();
        assert_eq!(
            e.into_value(),
            json!({"config": "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"})
        );
        assert_eq!(
            err(json!({"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 60, "year": 50})),
            "schema violation (config: The limit for year(50.0) cannot be lower than the limit for month(60.0))"
        );
        assert!(check(json!({"second": 0.5, "minute": 0.5})).is_ok());
    }

    #[test]
    fn enums_and_ranges() {
        assert_eq!(
            err(json!({"second": 1, "limit_by": "route"})),
            "schema violation (config.limit_by: expected one of: consumer, credential, ip, service, header, path)"
        );
        assert_eq!(
            err(json!({"second": 1, "policy": ""})),
            "schema violation (config.policy: expected one of: local, cluster, redis)"
        );
        assert_eq!(
            err(json!({"second": 1, "error_code": 0})),
            "schema violation (config.error_code: value must be greater than 0)"
        );
        assert_eq!(
            err(json!({"second": 1, "redis": {"port": 70000}})),
            "schema violation (config.redis.port: value should be between 0 and 65535)"
        );
        assert_eq!(
            err(json!({"second": 1, "redis": {"host": "a:1"}})),
            "schema violation (config.redis.host: must not have a port)"
        );
        assert_eq!(err(json!({"second": 1, "redis": null})), "schema violation (config.redis: required field missing)");
        assert_eq!(
            err(json!({"second": 1, "header_name": "a b"})),
            "schema violation (config.header_name: bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-')"
        );
        assert_eq!(err(json!({"second": 1, "path": "x"})), "schema violation (config.path: should start with: /)");
        assert!(check(json!({"second": 1, "redis": {"password": ""}})).is_ok());
    }

    #[test]
    fn sync_rate() {
        assert_eq!(
            err(json!({"second": 1, "sync_rate": 1})),
            "schema violation (config: sync_rate can only be used with the redis policy)"
        );
        assert_eq!(
            err(json!({"second": 1, "policy": "redis", "redis": {"host": "h"}, "sync_rate": 0.01})),
            "schema violation (config: sync_rate must be greater than 0.02, or -1 to disable)"
        );
        assert_eq!(
            err(json!({"second": 1, "sync_rate": null})),
            "schema violation (config.sync_rate: required field missing)"
        );
    }

    #[test]
    fn conditionals() {
        let e = check(json!({"second": 10, "limit_by": "header"})).unwrap_err();
        assert_eq!(
            e.into_value(),
            json!({
                "@entity": ["failed conditional validation given value of field 'config.limit_by'"],
                "config": {"header_name": "required field missing"},
            })
        );
        assert_eq!(
            err(json!({"second": 10, "limit_by": "path"})),
            "2 schema violations (failed conditional validation given value of field 'config.limit_by'; \
             config.path: required field missing)"
        );
        let e = check(json!({"second": 10, "policy": "redis", "redis": {"port": 6379, "timeout": 1100}})).unwrap_err();
        assert_eq!(
            e.into_value(),
            json!({
                "@entity": ["failed conditional validation given value of field 'config.policy'"],
                "config": {"redis": {"host": "required field missing"}},
            })
        );
        let e = check(json!({"second": 10, "policy": "redis", "redis": {"port": null, "timeout": null}})).unwrap_err();
        assert_eq!(
            e.into_value()["config"]["redis"],
            json!({"host": "required field missing", "port": "required field missing", "timeout": "required field missing"})
        );
    }

    #[test]
    fn shorthands() {
        let p = check(json!({
            "second": 10, "policy": "redis", "redis_host": "localhost", "redis_port": 6380, "redis_database": 1,
            "redis_username": "test", "redis_password": "", "redis_ssl": true, "redis_ssl_verify": true,
            "redis_timeout": 1100, "redis_server_name": "redis.test",
        }))
        .unwrap();
        assert_eq!(
            p["config"]["redis"],
            json!({
                "host": "localhost", "port": 6380, "timeout": 1100, "username": "test", "password": "",
                "database": 1, "ssl": true, "ssl_verify": true, "server_name": "redis.test",
            })
        );
        assert!(p["config"].get("redis_host").is_none());
        // The new field wins when both agree; a null shorthand defers to it.
        let p = check(json!({"second": 1, "redis": {"host": "a", "port": 1}, "redis_host": "a", "redis_port": null}))
            .unwrap();
        assert_eq!((&p["config"]["redis"]["host"], &p["config"]["redis"]["port"]), (&json!("a"), &json!(1)));
        assert_eq!(
            err(json!({"second": 1, "redis": {"host": "a"}, "redis_host": "b"})),
            "schema violation (redis_host: both deprecated and new field are used but their values mismatch: \
             redis_host = b vs redis.host = a)"
        );
        assert_eq!(
            err(json!({"second": 1, "redis_port": "6379", "redis_ssl": 1})),
            "2 schema violations (redis_port: expected an integer; redis_ssl: expected a boolean)"
        );
        assert_eq!(
            err(json!({"second": 1, "redis_host": ""})),
            "schema violation (redis_host: length must be at least 1)"
        );
        assert_eq!(
            err(json!({"second": 1, "redis_host": "a:1"})),
            "schema violation (config.redis.host: must not have a port)"
        );
    }
}
