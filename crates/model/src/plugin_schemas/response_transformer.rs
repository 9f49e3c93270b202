//! `response-transformer` (`kong/plugins/response-transformer/schema.lua`, Kong 3.9).

use super::request_transformer::{match_colon_pair, validate_colon_headers};
use super::{protocols_http, PluginSchema};
use crate::schema::{Check, Field, Kind};
use serde_json::json;

/// The types `json_types` accepts.
pub const JSON_TYPES: &[&str] = &["boolean", "number", "string"];

/// `string_array`: `default = {}`, `required = true`.
fn string_array(name: &'static str) -> Field {
    Field::array(name, Field::element(Kind::String)).required().default(json!([]))
}

/// `colon_string_array`: elements `match = "^[^:]+:.*$"`.
fn colon_string_array(name: &'static str) -> Field {
    let element =
        Field::element(Kind::String).check(Check::Custom(match_colon_pair)).annotate("match", json!("^[^:]+:.*$"));
    Field::array(name, element).required().default(json!([]))
}

/// `colon_headers_array`: `name:new_name`, both valid header names.
fn colon_headers_array(name: &'static str) -> Field {
    let element = Field::element(Kind::String)
        .check(Check::Custom(match_colon_pair))
        .annotate("match", json!("^[^:]+:.*$"))
        .check(Check::Custom(validate_colon_headers));
    Field::array(name, element).required().default(json!([]))
}

/// `colon_string_record`, used by `replace`, `add` and `append`.
fn colon_string_record(name: &'static str) -> Field {
    Field::record(
        name,
        vec![
            colon_string_array("json"),
            Field::array("json_types", Field::element(Kind::String).check(Check::OneOf(JSON_TYPES)))
                .required()
                .default(json!([])),
            colon_string_array("headers"),
        ],
    )
    .required()
}

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "response-transformer",
        vec![
            Field::record("remove", vec![string_array("json"), string_array("headers")]).required(),
            Field::record("rename", vec![colon_string_array("json"), colon_headers_array("headers")]).required(),
            colon_string_record("replace"),
            colon_string_record("add"),
            colon_string_record("append"),
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
        let schema = crate::plugin_schemas::entity_schema("response-transformer").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "response-transformer", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = check(json!({})).unwrap();
        let typed = json!({"json": [], "json_types": [], "headers": []});
        assert_eq!(
            p["config"],
            json!({
                "remove": {"json": [], "headers": []}, "rename": {"json": [], "headers": []},
                "replace": typed, "add": typed, "append": typed,
            })
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        assert_eq!(
            prepare(json!({"name": "response-transformer", "protocols": ["tcp"]})).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https)"
        );
    }

    #[test]
    fn pairs() {
        let ok = json!({
            "remove": {"json": ["a", "b:c"], "headers": ["x a"]},
            "rename": {"json": ["a:b"], "headers": ["x-a:x_b"]},
            "add": {"json": ["a:1", "b:"], "json_types": ["number", "string"], "headers": ["h:v a l"]},
            "append": {"json": ["a:true"], "json_types": ["boolean"]},
            "replace": {"headers": ["h::v"]},
        });
        assert!(check(ok).is_ok());
        for (config, violation) in [
            (json!({"add": {"json": ["a"]}}), "config.add.json.1: invalid value: a"),
            (json!({"append": {"headers": [":v"]}}), "config.append.headers.1: invalid value: :v"),
            (json!({"rename": {"json": ["a"]}}), "config.rename.json.1: invalid value: a"),
            (json!({"rename": {"headers": ["a b:c"]}}), "config.rename.headers.1: 'a b' is not a valid header"),
            (json!({"rename": {"headers": ["a:"]}}), "config.rename.headers.1: '' is not a valid header"),
            (
                json!({"replace": {"json_types": ["integer"]}}),
                "config.replace.json_types.1: expected one of: boolean, number, string",
            ),
            (json!({"remove": {"json": [1]}}), "config.remove.json.1: expected a string"),
            (json!({"remove": {"other": []}}), "config.remove.other: unknown field"),
            (json!({"add": {"json": null}}), "config.add.json: required field missing"),
        ] {
            assert_eq!(err(config), format!("schema violation ({violation})"));
        }
    }
}
