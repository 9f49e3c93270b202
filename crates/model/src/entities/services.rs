//! Services (`kong/db/schema/entities/services.lua`).

use super::uri;
use crate::schema::{fail_conditional, Check, EntityCheck, Field, Kind, OnDelete, Schema};
use crate::{typedefs, FieldErrors};
use serde_json::{json, Map, Value};

pub fn services() -> Schema {
    let timeout = |name| Field::integer(name).check(Check::Between(1, 2_147_483_646)).default(json!(60000));
    let mut fields = typedefs::common_fields();
    fields.extend([
        typedefs::utf8_name("name"),
        Field::integer("retries").check(Check::Between(0, 32767)).default(json!(5)),
        typedefs::protocol("protocol").required().default(json!("http")),
        typedefs::host("host").required(),
        typedefs::port("port").required().default(json!(80)),
        typedefs::path("path"),
        timeout("connect_timeout"),
        timeout("write_timeout"),
        timeout("read_timeout"),
        typedefs::tags(),
        Field::foreign("client_certificate", "certificates", OnDelete::Restrict),
        Field::boolean("tls_verify"),
        Field::integer("tls_verify_depth").check(Check::Between(0, 64)),
        Field::array("ca_certificates", Field::element(Kind::String).required().check(Check::Uuid)),
        Field::boolean("enabled").required().default(json!(true)),
    ]);
    Schema {
        name: "services",
        admin_api_name: None,
        endpoint_key: Some("name"),
        cache_key: &[],
        fields,
        entity_checks: vec![EntityCheck::Custom(protocol_conditionals)],
        shorthand: Some(url_shorthand),
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

/// The five `conditional` checks on `protocol`: no `path` for stream/gRPC protocols, and the TLS
/// client settings only with `https`/`tls`.
fn protocol_conditionals(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(protocol) = entity.get("protocol").and_then(Value::as_str) else {
        return;
    };
    let set = |k: &str| entity.get(k).is_some_and(|v| !v.is_null());
    if ["tcp", "tls", "udp", "grpc", "grpcs"].contains(&protocol) && set("path") {
        fail_conditional(errors, "protocol", "path", "value must be null");
    }
    if !["https", "tls"].contains(&protocol) {
        for field in ["client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"] {
            if set(field) {
                fail_conditional(errors, "protocol", field, "value must be null");
            }
        }
    }
}

/// The `url` shorthand: parsed with LuaSocket's rules, it overwrites protocol, host, port and path.
fn url_shorthand(input: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    let Some(value) = input.get("url") else {
        return Ok(());
    };
    let url = match value {
        Value::Null => {
            input.remove("url");
            return Ok(());
        }
        Value::String(s) if s.is_empty() => return Err(field_error("url", "length must be at least 1")),
        Value::String(s) => s.clone(),
        _ => return Err(field_error("url", "expected a string")),
    };
    input.remove("url");
    let parsed = uri::parse_url(&url).unwrap_or_default();
    let port = parsed.port.as_deref().and_then(uri::lua_tonumber);
    let protocol = match &parsed.scheme {
        Some(s) => s.clone(),
        None if port == Some(443.0) => "https".to_string(),
        None => "http".to_string(),
    };
    let port_value = match (port, &parsed.port) {
        (Some(p), _) => number(p),
        (None, Some(raw)) => Value::String(raw.clone()),
        (None, None) if protocol == "https" => json!(443),
        (None, None) => json!(80),
    };
    input.insert("protocol".into(), Value::String(protocol));
    input.insert("host".into(), parsed.host.map_or(Value::Null, Value::String));
    input.insert("port".into(), port_value);
    input.insert("path".into(), parsed.path.map_or(Value::Null, Value::String));
    Ok(())
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

fn field_error(field: &str, message: &str) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.insert(field, message);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Context;

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        services().prepare(input.as_object().cloned().unwrap_or_default(), Context::Insert, None, 1)
    }

    fn summary(input: Value) -> String {
        prepare(input).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let s = prepare(json!({"host": "example.com"})).unwrap();
        assert_eq!(s["protocol"], "http");
        assert_eq!(s["port"], 80);
        assert_eq!(s["retries"], 5);
        assert_eq!(s["connect_timeout"], 60000);
        assert_eq!(s["read_timeout"], 60000);
        assert_eq!(s["write_timeout"], 60000);
        assert_eq!(s["enabled"], true);
        for k in ["name", "path", "tags", "client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"] {
            assert_eq!(s[k], Value::Null, "{k}");
        }
    }

    #[test]
    fn field_rules() {
        assert_eq!(summary(json!({})), "schema violation (host: required field missing)");
        assert_eq!(
            summary(json!({"host": "h", "protocol": "ftp"})),
            "schema violation (protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
        );
        assert_eq!(
            summary(json!({"host": "h", "connect_timeout": 0})),
            "schema violation (connect_timeout: value should be between 1 and 2147483646)"
        );
        assert_eq!(summary(json!({"host": "h:80"})), "schema violation (host: must not have a port)");
        assert_eq!(
            summary(json!({"host": "h", "port": 70000})),
            "schema violation (port: value should be between 0 and 65535)"
        );
        assert_eq!(
            summary(json!({"host": "h", "retries": 32768})),
            "schema violation (retries: value should be between 0 and 32767)"
        );
        assert_eq!(
            summary(json!({"host": "h", "name": "a b"})),
            "schema violation (name: invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~)"
        );
        assert_eq!(
            summary(json!({"host": "h", "protocol": "https", "ca_certificates": ["x"]})),
            "schema violation (ca_certificates.1: expected a valid UUID)"
        );
    }

    #[test]
    fn conditionals_on_protocol() {
        assert_eq!(
            summary(json!({"host": "h", "client_certificate": {"id": "6e1e6a5c-4a44-4d3c-9b8f-7c2f0b1c2d3e"}})),
            "2 schema violations (failed conditional validation given value of field 'protocol'; client_certificate: value must be null)"
        );
        assert_eq!(
            summary(json!({"host": "h", "protocol": "tcp", "path": "/x", "tls_verify": false})),
            "4 schema violations (failed conditional validation given value of field 'protocol'; \
             failed conditional validation given value of field 'protocol'; path: value must be null; \
             tls_verify: value must be null)"
        );
        assert!(prepare(json!({"host": "h", "protocol": "https", "tls_verify": true, "tls_verify_depth": 3})).is_ok());
        assert!(prepare(json!({"host": "h", "protocol": "grpcs"})).is_ok());
    }

    #[test]
    fn url_shorthand_overwrites_fields() {
        let s = prepare(json!({"url": "https://example.com:8443/api?x=1#f", "host": "other", "port": 1})).unwrap();
        assert_eq!((s["protocol"].clone(), s["host"].clone()), (json!("https"), json!("example.com")));
        assert_eq!((s["port"].clone(), s["path"].clone()), (json!(8443), json!("/api")));
        assert!(!s.contains_key("url"));
        let s = prepare(json!({"url": "https://example.com"})).unwrap();
        assert_eq!((s["port"].clone(), s["path"].clone()), (json!(443), Value::Null));
        let s = prepare(json!({"url": "grpcs://example.com"})).unwrap();
        assert_eq!(s["port"], 80);
        let s = prepare(json!({"url": "http://[::1]:81/"})).unwrap();
        assert_eq!((s["host"].clone(), s["port"].clone()), (json!("::1"), json!(81)));
    }

    #[test]
    fn url_shorthand_errors() {
        assert_eq!(summary(json!({"url": 1})), "schema violation (url: expected a string)");
        assert_eq!(summary(json!({"url": ""})), "schema violation (url: length must be at least 1)");
        assert_eq!(summary(json!({"url": "http://h:/"})), "schema violation (port: expected an integer)");
        assert_eq!(
            summary(json!({"url": "example.com"})),
            "2 schema violations (host: required field missing; path: should start with: /)"
        );
    }
}
