//! `acl` (`kong/plugins/acl/schema.lua`, Kong 3.9). The deprecated `whitelist`/`blacklist` shorthands were
//! removed in Kong 3.0, so they are unknown fields here too.

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::{EntityCheck, Field, Kind};
use serde_json::json;

const ALLOW_DENY: &[&str] = &["config.allow", "config.deny"];

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "acl",
        vec![
            Field::array("allow", Field::element(Kind::String)),
            Field::array("deny", Field::element(Kind::String)),
            Field::boolean("hide_groups_header").required().default(json!(false)),
            Field::boolean("always_use_authenticated_groups").required().default(json!(false)),
        ],
    )
    .with_field(protocols_http())
    .with_field(no_consumer())
    .with_checks(vec![EntityCheck::OnlyOneOf(ALLOW_DENY), EntityCheck::AtLeastOneOf(ALLOW_DENY)])
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("acl").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "acl", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    const ONLY_ONE: &str = "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'";
    const AT_LEAST_ONE: &str = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'";

    #[test]
    fn defaults() {
        let p = check(json!({"allow": ["admin"]})).unwrap();
        assert_eq!(
            p["config"],
            json!({"allow": ["admin"], "deny": null, "hide_groups_header": false,
                   "always_use_authenticated_groups": false})
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        assert!(check(json!({"deny": ["banned"], "hide_groups_header": true})).is_ok());
        // An empty list counts as unset.
        assert!(check(json!({"allow": ["a"], "deny": []})).is_ok());
    }

    #[test]
    fn allow_or_deny() {
        assert_eq!(err(json!({"allow": ["a"], "deny": ["b"]})), format!("schema violation ({ONLY_ONE})"));
        let both_missing = format!("2 schema violations ({ONLY_ONE}; {AT_LEAST_ONE})");
        assert_eq!(err(json!({})), both_missing);
        assert_eq!(err(json!({"allow": [], "deny": []})), both_missing);
        let e = check(json!({})).unwrap_err().into_value();
        assert_eq!(e["@entity"], json!([ONLY_ONE, AT_LEAST_ONE]));
    }

    #[test]
    fn types_and_removed_shorthands() {
        assert_eq!(err(json!({"allow": "a"})), "schema violation (config.allow: expected an array)");
        assert_eq!(err(json!({"allow": [""]})), "schema violation (config.allow.1: length must be at least 1)");
        assert_eq!(
            err(json!({"allow": ["a"], "whitelist": ["a"]})),
            "schema violation (config.whitelist: unknown field)"
        );
        let consumer = json!({"name": "acl", "config": {"allow": ["a"]},
                              "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert_eq!(prepare(consumer).unwrap_err().summary(), "schema violation (consumer: value must be null)");
    }
}
