//! Targets (`kong/db/schema/entities/targets.lua`, DAO `kong/db/dao/targets.lua`).
//!
//! Kong's target timestamps are float seconds with millisecond precision (`auto_timestamp_ms`); here they
//! stay integer seconds like every other entity (the store sets them). Kong normalises `target` on insert
//! and upsert only; the `transform` here runs on every write, so a PATCH is normalised too.

use super::hostnames::{normalize_ip, HostKind};
use crate::schema::{Check, Field, OnDelete, Schema};
use crate::{typedefs, FieldErrors};
use serde_json::{json, Map, Value};

pub fn targets() -> Schema {
    let mut fields = typedefs::common_fields();
    fields.extend([
        Field::foreign("upstream", "upstreams", OnDelete::Cascade).required(),
        Field::string("target").required().check(Check::Custom(validate_target)),
        Field::integer("weight").check(Check::Between(0, 65535)).default(json!(100)),
        typedefs::tags(),
    ]);
    Schema {
        name: "targets",
        admin_api_name: None,
        endpoint_key: Some("target"),
        cache_key: &["upstream", "target"],
        fields,
        entity_checks: Vec::new(),
        shorthand: None,
        transform: Some(format_target),
        indexed: &["target"],
        ttl: false,
    }
}

fn validate_target(value: &Value) -> Result<(), String> {
    let Some(target) = value.as_str() else {
        return Ok(());
    };
    match normalize_ip(target) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("Invalid target ('{target}'); not a valid hostname or ip address")),
    }
}

/// `host:port` with the default port 8000: IPv4 without leading zeros, IPv6 expanded and bracketed,
/// hostnames with their case preserved.
pub fn format_target_value(target: &str) -> Option<String> {
    let n = normalize_ip(target).ok()?;
    let port = n.port.unwrap_or(8000);
    Some(match n.kind {
        HostKind::Ipv6 => format!("[{}]:{port}", n.host),
        HostKind::Ipv4 | HostKind::Name => format!("{}:{port}", n.host),
    })
}

fn format_target(entity: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    let Some(Value::String(target)) = entity.get("target") else {
        return Ok(());
    };
    if target.is_empty() {
        return Ok(());
    }
    match format_target_value(target) {
        Some(formatted) => {
            entity.insert("target".into(), Value::String(formatted));
            Ok(())
        }
        None => {
            let mut errors = FieldErrors::default();
            errors.insert("target", "Invalid target; not a valid hostname or ip address");
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Context;

    const UPSTREAM: &str = "0b0a3c52-54c1-4c5c-bb0e-3e2d3c1f4a55";

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = targets();
        let mut entity = input.as_object().cloned().unwrap_or_default();
        schema.process_auto_fields(&mut entity, Context::Insert, 1);
        if let Some(transform) = schema.transform {
            transform(&mut entity)?;
        }
        schema.validate(&entity)?;
        Ok(entity)
    }

    fn target(t: &str) -> Value {
        prepare(json!({"upstream": {"id": UPSTREAM}, "target": t})).unwrap()["target"].clone()
    }

    #[test]
    fn defaults_and_schema_shape() {
        let t = prepare(json!({"upstream": {"id": UPSTREAM}, "target": "example.com"})).unwrap();
        assert_eq!(t["weight"], 100);
        assert_eq!(t["tags"], Value::Null);
        let schema = targets();
        assert_eq!(schema.cache_key, &["upstream", "target"]);
        assert_eq!(schema.foreign_fields().next().map(|(_, r, d)| (r, d)), Some(("upstreams", OnDelete::Cascade)));
    }

    #[test]
    fn normalises_targets() {
        assert_eq!(target("konghq.TEST"), "konghq.TEST:8000");
        assert_eq!(target("konghq.test:81"), "konghq.test:81");
        assert_eq!(target("001.002.003.004"), "1.2.3.4:8000");
        assert_eq!(target("::1"), "[0000:0000:0000:0000:0000:0000:0000:0001]:8000");
        assert_eq!(target("[::1]:9000"), "[0000:0000:0000:0000:0000:0000:0000:0001]:9000");
    }

    #[test]
    fn rejects_bad_targets() {
        let err = prepare(json!({"upstream": {"id": UPSTREAM}, "target": "a..b"})).unwrap_err();
        assert_eq!(err.summary(), "schema violation (target: Invalid target; not a valid hostname or ip address)");
        let err = targets().validate(&json!({"target": "a..b"}).as_object().cloned().unwrap_or_default()).unwrap_err();
        assert_eq!(
            err.summary(),
            "2 schema violations (target: Invalid target ('a..b'); not a valid hostname or ip address; \
             upstream: required field missing)"
        );
        let err = prepare(json!({"upstream": {"id": UPSTREAM}, "target": "h", "weight": 65536})).unwrap_err();
        assert_eq!(err.summary(), "schema violation (weight: value should be between 0 and 65535)");
        let err = prepare(json!({"target": "h"})).unwrap_err();
        assert_eq!(err.summary(), "schema violation (upstream: required field missing)");
    }
}
