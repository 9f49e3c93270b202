//! `correlation-id` (`kong/plugins/correlation-id/schema.lua`, Kong 3.9).

use super::{protocols_http, PluginSchema};
use crate::schema::{Check, Field};
use serde_json::json;

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "correlation-id",
        vec![
            Field::string("header_name").default(json!("Kong-Request-ID")),
            Field::string("generator").required().default(json!("uuid#counter")).check(Check::OneOf(&[
                "uuid",
                "uuid#counter",
                "tracker",
            ])),
            Field::boolean("echo_downstream").required().default(json!(false)),
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
        let schema = crate::plugin_schemas::entity_schema("correlation-id").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn err(config: Value) -> String {
        prepare(json!({"name": "correlation-id", "config": config})).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "correlation-id"})).unwrap();
        assert_eq!(
            p["config"],
            json!({"header_name": "Kong-Request-ID", "generator": "uuid#counter", "echo_downstream": false})
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        let consumer = json!({"name": "correlation-id", "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert!(prepare(consumer).is_ok());
    }

    #[test]
    fn generator() {
        assert_eq!(err(json!({"generator": null})), "schema violation (config.generator: required field missing)");
        assert_eq!(
            err(json!({"generator": "random"})),
            "schema violation (config.generator: expected one of: uuid, uuid#counter, tracker)"
        );
        for g in ["uuid", "uuid#counter", "tracker"] {
            assert!(prepare(json!({"name": "correlation-id", "config": {"generator": g}})).is_ok(), "{g}");
        }
        assert_eq!(err(json!({"echo_downstream": 1})), "schema violation (config.echo_downstream: expected a boolean)");
    }
}
