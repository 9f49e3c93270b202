//! `key-auth` (`kong/plugins/key-auth/schema.lua`, Kong 3.9).

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::Field;
use crate::typedefs;
use serde_json::json;

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "key-auth",
        vec![
            Field::array("key_names", typedefs::header_name("")).required().default(json!(["apikey"])),
            Field::boolean("hide_credentials").required().default(json!(false)),
            Field::string("anonymous"),
            Field::boolean("key_in_header").required().default(json!(true)),
            Field::boolean("key_in_query").required().default(json!(true)),
            Field::boolean("key_in_body").required().default(json!(false)),
            Field::boolean("run_on_preflight").required().default(json!(true)),
            Field::string("realm"),
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
        let schema = crate::plugin_schemas::entity_schema("key-auth").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn err(config: Value) -> String {
        prepare(json!({"name": "key-auth", "config": config})).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "key-auth"})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "key_names": ["apikey"], "hide_credentials": false, "anonymous": null, "key_in_header": true,
                "key_in_query": true, "key_in_body": false, "run_on_preflight": true, "realm": null,
            })
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        let fields: Vec<_> = super::schema().fields.iter().map(|f| f.name).collect();
        assert_eq!(fields, ["consumer", "protocols", "config"]);
    }

    #[test]
    fn key_names_are_header_names() {
        assert_eq!(
            err(json!({"key_names": ["ok", "hello\\world"]})),
            "schema violation (config.key_names.2: bad header name 'hello\\world', allowed characters are A-Z, \
             a-z, 0-9, '_', and '-')"
        );
        assert_eq!(err(json!({"key_names": [""]})), "schema violation (config.key_names.1: length must be at least 1)");
        assert_eq!(err(json!({"key_names": null})), "schema violation (config.key_names: required field missing)");
        assert_eq!(err(json!({"key_names": "apikey"})), "schema violation (config.key_names: expected an array)");
        let p = prepare(json!({"name": "key-auth", "config": {"key_names": ["hello-world", "x_y"]}})).unwrap();
        assert_eq!(p["config"]["key_names"], json!(["hello-world", "x_y"]));
    }

    #[test]
    fn types_and_scope() {
        assert_eq!(err(json!({"key_in_body": "yes"})), "schema violation (config.key_in_body: expected a boolean)");
        assert_eq!(err(json!({"realm": 1})), "schema violation (config.realm: expected a string)");
        assert_eq!(err(json!({"foo": 1})), "schema violation (config.foo: unknown field)");
        let consumer = json!({"name": "key-auth", "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert_eq!(prepare(consumer).unwrap_err().summary(), "schema violation (consumer: value must be null)");
        let tcp = json!({"name": "key-auth", "protocols": ["tcp"]});
        assert_eq!(
            prepare(tcp).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https)"
        );
    }
}
