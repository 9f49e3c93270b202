//! `hmac-auth` (`kong/plugins/hmac-auth/schema.lua`, Kong 3.9).

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::{Check, Field, Kind};
use serde_json::{json, Value};

const ALGORITHMS: &[&str] = &["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"];

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "hmac-auth",
        vec![
            Field::boolean("hide_credentials").required().default(json!(false)),
            Field::number("clock_skew").default(json!(300)).check(Check::Custom(greater_than_zero)),
            Field::string("anonymous"),
            Field::boolean("validate_request_body").required().default(json!(false)),
            Field::array("enforce_headers", Field::element(Kind::String)).default(json!([])),
            Field::array("algorithms", Field::element(Kind::String).check(Check::OneOf(ALGORITHMS)))
                .default(json!(ALGORITHMS)),
            Field::string("realm"),
        ],
    )
    .with_field(protocols_http())
    .with_field(no_consumer())
}

/// Kong's `gt = 0`.
fn greater_than_zero(value: &Value) -> Result<(), String> {
    match value.as_f64() {
        Some(n) if n <= 0.0 => Err("value must be greater than 0".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("hmac-auth").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "hmac-auth", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = check(json!({})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "hide_credentials": false, "clock_skew": 300, "anonymous": null, "validate_request_body": false,
                "enforce_headers": [], "algorithms": ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
                "realm": null,
            })
        );
        assert!(check(json!({"clock_skew": 10})).is_ok());
        assert!(check(json!({"clock_skew": 0.5, "enforce_headers": ["date", "@request-target"]})).is_ok());
    }

    #[test]
    fn clock_skew_must_be_positive() {
        assert_eq!(
            err(json!({"clock_skew": -10})),
            "schema violation (config.clock_skew: value must be greater than 0)"
        );
        assert_eq!(err(json!({"clock_skew": 0})), "schema violation (config.clock_skew: value must be greater than 0)");
        assert_eq!(err(json!({"clock_skew": "1"})), "schema violation (config.clock_skew: expected a number)");
    }

    #[test]
    fn algorithms_one_of() {
        let e = check(json!({"algorithms": ["sha1024"]})).unwrap_err();
        assert_eq!(
            e.into_value()["config"]["algorithms"][0],
            "expected one of: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512"
        );
        assert_eq!(
            err(json!({"algorithms": ["hmac-sha256", "md5"]})),
            "schema violation (config.algorithms.2: expected one of: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512)"
        );
        assert!(check(json!({"algorithms": ["hmac-sha256"]})).is_ok());
    }

    #[test]
    fn scope() {
        let consumer = json!({"name": "hmac-auth", "consumer": {"id": "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11"}});
        assert_eq!(prepare(consumer).unwrap_err().summary(), "schema violation (consumer: value must be null)");
    }
}
