//! `request-size-limiting` (`kong/plugins/request-size-limiting/schema.lua`, Kong 3.9).

use super::{protocols_http, PluginSchema};
use crate::schema::{Check, Field};
use serde_json::json;

/// The handler's `size_units`; the first is the default.
pub const SIZE_UNITS: &[&str] = &["megabytes", "kilobytes", "bytes"];

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "request-size-limiting",
        vec![
            Field::integer("allowed_payload_size").default(json!(128)),
            Field::string("size_unit").required().default(json!(SIZE_UNITS[0])).check(Check::OneOf(SIZE_UNITS)),
            Field::boolean("require_content_length").required().default(json!(false)),
        ],
    )
    .with_field(protocols_http())
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("request-size-limiting").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn err(config: Value) -> String {
        prepare(json!({"name": "request-size-limiting", "config": config})).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "request-size-limiting"})).unwrap();
        assert_eq!(
            p["config"],
            json!({"allowed_payload_size": 128, "size_unit": "megabytes", "require_content_length": false})
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        let ok = json!({"name": "request-size-limiting", "config": {"allowed_payload_size": 10, "size_unit": "bytes"}});
        assert!(prepare(ok).is_ok());
    }

    #[test]
    fn rules() {
        assert_eq!(
            err(json!({"size_unit": "gigabytes"})),
            "schema violation (config.size_unit: expected one of: megabytes, kilobytes, bytes)"
        );
        assert_eq!(err(json!({"size_unit": null})), "schema violation (config.size_unit: required field missing)");
        assert_eq!(
            err(json!({"allowed_payload_size": 1.5})),
            "schema violation (config.allowed_payload_size: expected an integer)"
        );
        assert_eq!(
            err(json!({"require_content_length": "true"})),
            "schema violation (config.require_content_length: expected a boolean)"
        );
        assert_eq!(
            prepare(json!({"name": "request-size-limiting", "protocols": ["tcp"]})).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https)"
        );
    }
}
