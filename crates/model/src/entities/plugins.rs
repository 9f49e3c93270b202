//! Plugins, generic part (`kong/db/schema/entities/plugins.lua`). The per-plugin `config` schema and the
//! check that `name` is an enabled bundled plugin live elsewhere.

use crate::schema::{Check, Field, Kind, OnDelete, Schema};
use crate::typedefs;
use serde_json::{json, Value};

pub fn plugins() -> Schema {
    let fields = vec![
        typedefs::id(),
        Field::string("name").required().annotate("indexed", Value::Bool(true)),
        typedefs::utf8_name("instance_name"),
        typedefs::timestamp("created_at"),
        typedefs::timestamp("updated_at"),
        Field::foreign("route", "routes", OnDelete::Cascade),
        Field::foreign("service", "services", OnDelete::Cascade),
        Field::foreign("consumer", "consumers", OnDelete::Cascade),
        Field::new("config", Kind::Json).required().default(json!({})).check(Check::Custom(expect_record)),
        typedefs::protocols(),
        Field::boolean("enabled").required().default(json!(true)),
        typedefs::tags(),
    ];
    Schema {
        name: "plugins",
        admin_api_name: None,
        endpoint_key: Some("instance_name"),
        cache_key: &["name", "route", "service", "consumer"],
        fields,
        entity_checks: Vec::new(),
        shorthand: None,
        transform: None,
        indexed: &["name"],
        ttl: false,
    }
}

/// `config` is a record until the plugin's own schema validates its contents.
fn expect_record(value: &Value) -> Result<(), String> {
    if value.is_object() {
        Ok(())
    } else {
        Err("expected a record".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::Map;

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = plugins();
        let mut entity = input.as_object().cloned().unwrap_or_default();
        schema.process_auto_fields(&mut entity, Context::Insert, 1);
        schema.validate(&entity)?;
        Ok(entity)
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "key-auth"})).unwrap();
        assert_eq!(p["config"], json!({}));
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        assert_eq!(p["enabled"], true);
        for k in ["instance_name", "route", "service", "consumer", "tags"] {
            assert_eq!(p[k], Value::Null, "{k}");
        }
    }

    #[test]
    fn rules() {
        assert_eq!(prepare(json!({})).unwrap_err().summary(), "schema violation (name: required field missing)");
        assert_eq!(
            prepare(json!({"name": "cors", "instance_name": "a b"})).unwrap_err().summary(),
            "schema violation (instance_name: invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~)"
        );
        assert_eq!(
            prepare(json!({"name": "cors", "protocols": ["ftp"]})).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
        );
        assert_eq!(
            prepare(json!({"name": "cors", "config": [1]})).unwrap_err().summary(),
            "schema violation (config: expected a record)"
        );
        assert_eq!(
            prepare(json!({"name": "cors", "service": {"id": "nope"}})).unwrap_err().summary(),
            "schema violation (service.id: expected a valid UUID)"
        );
        assert!(prepare(json!({"name": "cors", "config": {"origins": ["*"]}, "tags": ["a"]})).is_ok());
    }

    #[test]
    fn schema_shape() {
        let schema = plugins();
        let cascades: Vec<_> = schema.foreign_fields().map(|(f, _, d)| (f.name, d)).collect();
        assert_eq!(
            cascades,
            vec![("route", OnDelete::Cascade), ("service", OnDelete::Cascade), ("consumer", OnDelete::Cascade)]
        );
        assert_eq!(schema.endpoint_key, Some("instance_name"));
        assert_eq!(schema.indexed, &["name"]);
    }
}
