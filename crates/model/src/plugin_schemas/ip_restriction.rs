//! `ip-restriction` (`kong/plugins/ip-restriction/schema.lua`, Kong 3.9). The deprecated
//! `whitelist`/`blacklist` fields were removed in Kong 3.0.

use super::PluginSchema;
use crate::schema::{EntityCheck, Field};
use crate::typedefs;
use serde_json::json;

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "ip-restriction",
        vec![
            Field::array("allow", typedefs::ip_or_cidr("")),
            Field::array("deny", typedefs::ip_or_cidr("")),
            Field::number("status"),
            Field::string("message"),
        ],
    )
    // `typedefs.protocols { default = { "http", "https", "tcp", "tls", "grpc", "grpcs" } }`
    .with_field(typedefs::protocols().default(json!(["http", "https", "tcp", "tls", "grpc", "grpcs"])))
    .with_checks(vec![EntityCheck::AtLeastOneOf(&["config.allow", "config.deny"])])
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("ip-restriction").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "ip-restriction", "config": config}))
    }

    fn config_errors(config: Value) -> Value {
        check(config).unwrap_err().into_value()["config"].clone()
    }

    #[test]
    fn defaults_and_valid_inputs() {
        let p = check(json!({"allow": ["127.0.0.1/32", "127.0.0.2/32"]})).unwrap();
        assert_eq!(
            p["config"],
            json!({"allow": ["127.0.0.1/32", "127.0.0.2/32"], "deny": null, "status": null, "message": null})
        );
        assert_eq!(p["protocols"], json!(["http", "https", "tcp", "tls", "grpc", "grpcs"]));
        assert!(check(json!({"allow": ["127.0.0.1/32"], "status": 403, "message": "Forbidden"})).is_ok());
        assert!(check(json!({"allow": ["127.0.0.1/8"]})).is_ok());
        assert!(check(json!({"deny": ["127.0.0.1/32", "127.0.0.2/32"]})).is_ok());
        assert!(check(json!({"deny": ["127.0.0.2/32"], "allow": ["127.0.0.1/32"]})).is_ok());
        assert!(check(json!({"allow": ["::/0", "::/1", "::/128", "10.0.0.1"]})).is_ok());
        // Any protocol Kong knows, including stream ones.
        assert!(prepare(json!({"name": "ip-restriction", "protocols": ["tcp"], "config": {"deny": ["::1"]}})).is_ok());
        let consumer = json!({"name": "ip-restriction", "config": {"deny": ["::1"]},
                              "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert!(prepare(consumer).is_ok());
    }

    #[test]
    fn invalid_lists() {
        assert_eq!(config_errors(json!({"allow": 12})), json!({"allow": "expected an array"}));
        assert_eq!(config_errors(json!({"deny": 12})), json!({"deny": "expected an array"}));
        assert_eq!(config_errors(json!({"allow": ["hello"]})), json!({"allow": ["invalid ip or cidr range: 'hello'"]}));
        assert_eq!(
            config_errors(json!({"deny": ["127.0.0.1/32", "127.0.0.2/32", "hello"]})),
            json!({"deny": [null, null, "invalid ip or cidr range: 'hello'"]})
        );
        let ranges = ["0.0.0.0/a", "0.0.0.0/-1", "0.0.0.0/33", "::/a", "::/-1", "::/129", "::1/a", "::1/-1", "::1/129"];
        let expected: Vec<String> = ranges.iter().map(|r| format!("invalid ip or cidr range: '{r}'")).collect();
        assert_eq!(config_errors(json!({"allow": ranges})), json!({"allow": expected}));
        assert_eq!(
            check(json!({"allow": ["1.2.3.4"], "status": "403"})).unwrap_err().summary(),
            "schema violation (config.status: expected a number)"
        );
    }

    #[test]
    fn allow_or_deny_required() {
        let e = check(json!({"deny": [], "allow": []})).unwrap_err();
        assert_eq!(
            e.into_value()["@entity"],
            json!(["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"])
        );
        assert_eq!(
            check(json!({})).unwrap_err().summary(),
            "schema violation (at least one of these fields must be non-empty: 'config.allow', 'config.deny')"
        );
    }
}
