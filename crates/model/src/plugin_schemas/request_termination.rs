//! `request-termination` (`kong/plugins/request-termination/schema.lua`).

use super::{config_record, protocols_http, PluginSchema};
use crate::schema::{Check, Field};
use crate::typedefs;
use serde_json::{json, Value};

pub fn schema() -> PluginSchema {
    let fields = vec![
        Field::integer("status_code").required().default(json!(503)).check(Check::Between(100, 599)),
        Field::string("message"),
        Field::string("content_type"),
        Field::string("body"),
        Field::boolean("echo").required().default(json!(false)),
        typedefs::header_name("trigger"),
    ];
    PluginSchema {
        name: "request-termination",
        fields: vec![protocols_http(), config_record(fields).check(Check::Custom(validate))],
        entity_checks: Vec::new(),
        shorthand: None,
    }
}

/// Kong's record-level `custom_validator`.
fn validate(config: &Value) -> Result<(), String> {
    let present = |f: &str| config.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if present("message") && (present("content_type") || present("body")) {
        return Err("message cannot be used with content_type or body".into());
    }
    if present("content_type") && !present("body") {
        return Err("content_type requires a body".into());
    }
    if config.get("echo").and_then(Value::as_bool) == Some(true) && (present("content_type") || present("body")) {
        return Err("echo cannot be used with content_type and body".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use serde_json::json;

    fn prepare(input: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let schema = crate::plugin_schemas::entity_schema("request-termination").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0).map_err(|e| e.summary())
    }

    #[test]
    fn defaults_and_rules() {
        let p = prepare(json!({"name": "request-termination"})).unwrap();
        assert_eq!(p["config"]["status_code"], 503);
        assert_eq!(p["config"]["echo"], false);
        assert_eq!(
            prepare(json!({"name": "request-termination", "config": {"message": "m", "body": "b"}})).unwrap_err(),
            "schema violation (config: message cannot be used with content_type or body)"
        );
        assert_eq!(
            prepare(json!({"name": "request-termination", "config": {"content_type": "text/plain"}})).unwrap_err(),
            "schema violation (config: content_type requires a body)"
        );
        assert_eq!(
            prepare(json!({"name": "request-termination", "config": {"status_code": 99}})).unwrap_err(),
            "schema violation (config.status_code: value should be between 100 and 599)"
        );
        assert!(prepare(
            json!({"name": "request-termination", "consumer": {"id": "6b0a5b3e-0bbf-4c8b-9a2f-2f4c1a3e9d10"}})
        )
        .is_ok());
    }
}
