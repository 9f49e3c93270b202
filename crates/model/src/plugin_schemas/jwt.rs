//! `jwt` (`kong/plugins/jwt/schema.lua`, Kong 3.9).

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::{Check, EntityCheck, Field, Kind};
use crate::FieldErrors;
use serde_json::{json, Map, Value};

fn strings() -> Field {
    Field::element(Kind::String)
}

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "jwt",
        vec![
            Field::set("uri_param_names", strings()).default(json!(["jwt"])),
            Field::set("cookie_names", strings()).default(json!([])),
            Field::string("key_claim_name").default(json!("iss")),
            Field::boolean("secret_is_base64").required().default(json!(false)),
            Field::set("claims_to_verify", strings().check(Check::OneOf(&["exp", "nbf"]))),
            Field::string("anonymous"),
            Field::boolean("run_on_preflight").required().default(json!(true)),
            Field::number("maximum_expiration").default(json!(0)).check(Check::Between(0, 31_536_000)),
            Field::set("header_names", strings()).default(json!(["authorization"])),
            Field::string("realm"),
        ],
    )
    .with_field(protocols_http())
    .with_field(no_consumer())
    .with_checks(vec![EntityCheck::Custom(maximum_expiration_needs_exp)])
}

/// `conditional = { if_field = "config.maximum_expiration", if_match = { gt = 0 },
/// then_field = "config.claims_to_verify", then_match = { contains = "exp" } }`. A null `claims_to_verify`
/// passes, as Kong's `validate_field` accepts null for a field that is not required.
fn maximum_expiration_needs_exp(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(config) = entity.get("config").and_then(Value::as_object) else {
        return;
    };
    if !config.get("maximum_expiration").and_then(Value::as_f64).is_some_and(|n| n > 0.0) {
        return;
    }
    let Some(claims) = config.get("claims_to_verify").and_then(Value::as_array) else {
        return;
    };
    if claims.iter().any(|c| c == "exp") {
        return;
    }
    errors.entity("failed conditional validation given value of field 'config.maximum_expiration'");
    errors.insert_nested("config", json!({"claims_to_verify": "expected to contain: exp"}));
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("jwt").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "jwt", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "jwt"})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "uri_param_names": ["jwt"], "cookie_names": [], "key_claim_name": "iss", "secret_is_base64": false,
                "claims_to_verify": null, "anonymous": null, "run_on_preflight": true, "maximum_expiration": 0,
                "header_names": ["authorization"], "realm": null,
            })
        );
        // Sets drop duplicates silently.
        let p = check(json!({"claims_to_verify": ["exp", "exp", "nbf"]})).unwrap();
        assert_eq!(p["config"]["claims_to_verify"], json!(["exp", "nbf"]));
    }

    #[test]
    fn claims_to_verify_elements() {
        assert_eq!(
            err(json!({"claims_to_verify": ["exp", "iat"]})),
            "schema violation (config.claims_to_verify.2: expected one of: exp, nbf)"
        );
        assert_eq!(
            err(json!({"claims_to_verify": "exp"})),
            "schema violation (config.claims_to_verify: expected a set)"
        );
    }

    #[test]
    fn maximum_expiration_range() {
        assert!(check(json!({"maximum_expiration": 60, "claims_to_verify": ["exp", "nbf"]})).is_ok());
        assert!(check(json!({"maximum_expiration": 31_536_000, "claims_to_verify": ["exp"]})).is_ok());
        for claims in [json!(["exp", "nbf"]), json!(["nbf"])] {
            let e = check(json!({"maximum_expiration": -1, "claims_to_verify": claims})).unwrap_err();
            assert_eq!(
                e.into_value(),
                json!({"config": {"maximum_expiration": "value should be between 0 and 31536000"}})
            );
        }
        assert_eq!(
            err(json!({"maximum_expiration": 31_536_001})),
            "schema violation (config.maximum_expiration: value should be between 0 and 31536000)"
        );
        assert_eq!(
            err(json!({"maximum_expiration": "1"})),
            "schema violation (config.maximum_expiration: expected a number)"
        );
    }

    #[test]
    fn maximum_expiration_requires_exp_claim() {
        let e = check(json!({"maximum_expiration": 60, "claims_to_verify": ["nbf"]})).unwrap_err();
        assert_eq!(
            e.summary(),
            "2 schema violations (failed conditional validation given value of field 'config.maximum_expiration'; \
             config.claims_to_verify: expected to contain: exp)"
        );
        assert_eq!(e.into_value()["config"]["claims_to_verify"], "expected to contain: exp");
        assert!(check(json!({"maximum_expiration": 60, "claims_to_verify": []})).is_err());
        // Kong's conditional lets a null then-field through, and `0` does not trigger it.
        assert!(check(json!({"maximum_expiration": 60})).is_ok());
        assert!(check(json!({"maximum_expiration": 0, "claims_to_verify": ["nbf"]})).is_ok());
    }

    #[test]
    fn scope_and_types() {
        let consumer = json!({"name": "jwt", "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert_eq!(prepare(consumer).unwrap_err().summary(), "schema violation (consumer: value must be null)");
        assert_eq!(
            err(json!({"key_claim_name": ""})),
            "schema violation (config.key_claim_name: length must be at least 1)"
        );
        assert_eq!(err(json!({"header_names": [1]})), "schema violation (config.header_names.1: expected a string)");
    }
}
