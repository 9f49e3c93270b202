//! `basic-auth` (`kong/plugins/basic-auth/schema.lua`, Kong 3.9).

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::Field;
use serde_json::json;

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "basic-auth",
        vec![
            Field::string("anonymous"),
            Field::boolean("hide_credentials").required().default(json!(false)),
            Field::string("realm").required().default(json!("service")),
        ],
    )
    .with_field(protocols_http())
    .with_field(no_consumer())
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("basic-auth").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn err(config: Value) -> String {
        prepare(json!({"name": "basic-auth", "config": config})).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "basic-auth"})).unwrap();
        assert_eq!(p["config"], json!({"anonymous": null, "hide_credentials": false, "realm": "service"}));
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        let p = prepare(json!({"name": "basic-auth", "config": {"anonymous": "guest", "realm": "r"}})).unwrap();
        assert_eq!(p["config"]["anonymous"], "guest");
        assert_eq!(p["config"]["realm"], "r");
    }

    #[test]
    fn rules() {
        assert_eq!(err(json!({"realm": null})), "schema violation (config.realm: required field missing)");
        assert_eq!(err(json!({"anonymous": ""})), "schema violation (config.anonymous: length must be at least 1)");
        assert_eq!(
            err(json!({"hide_credentials": null})),
            "schema violation (config.hide_credentials: required field missing)"
        );
        let consumer = json!({"name": "basic-auth", "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert_eq!(prepare(consumer).unwrap_err().summary(), "schema violation (consumer: value must be null)");
    }
}
