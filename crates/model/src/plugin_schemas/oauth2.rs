//! `oauth2` (`kong/plugins/oauth2/schema.lua`, Kong 3.9): the plugin config only.

use super::{config_record, no_consumer, protocols_http, PluginSchema};
use crate::schema::{fail_conditional, Check, EntityCheck, Field, Kind};
use crate::FieldErrors;
use serde_json::{json, Map, Value};

/// `DAO_MAX_TTL`, the bound of `typedefs.ttl`.
const DAO_MAX_TTL: i64 = 100_000_000;
const FLOWS: &[&str] =
    &["enable_authorization_code", "enable_implicit_grant", "enable_client_credentials", "enable_password_grant"];

fn flag(name: &'static str) -> Field {
    Field::boolean(name).required().default(json!(false))
}

pub fn schema() -> PluginSchema {
    let fields = vec![
        Field::array("scopes", Field::element(Kind::String)),
        flag("mandatory_scope"),
        // Kong generates it on insert (`auto`); `encrypted` only matters to Kong Enterprise.
        Field::string("provision_key").unique().auto().required().annotate("encrypted", json!(true)),
        Field::number("token_expiration").required().default(json!(7200)),
        flag(FLOWS[0]),
        flag(FLOWS[1]),
        flag(FLOWS[2]),
        flag(FLOWS[3]),
        flag("hide_credentials"),
        flag("accept_http_if_already_terminated"),
        Field::string("anonymous"),
        flag("global_credentials"),
        Field::string("auth_header_name").default(json!("authorization")),
        Field::number("refresh_token_ttl").required().default(json!(1_209_600)).check(Check::Between(0, DAO_MAX_TTL)),
        flag("reuse_refresh_token"),
        Field::string("pkce").default(json!("lax")).check(Check::OneOf(&["none", "lax", "strict"])),
        Field::string("realm"),
    ];
    PluginSchema::new("oauth2", Vec::new())
        .with_field(config_record(fields).check(Check::Record(mandatory_scope_needs_scopes)))
        .with_field(protocols_http())
        .with_field(no_consumer())
        .with_checks(vec![EntityCheck::Custom(validate_flows)])
}

/// The config record's `conditional = { if_field = "mandatory_scope", if_match = { eq = true },
/// then_field = "scopes", then_match = { required = true } }`.
fn mandatory_scope_needs_scopes(config: &Map<String, Value>, errors: &mut FieldErrors) {
    if config.get("mandatory_scope") == Some(&Value::Bool(true)) && config.get("scopes").is_none_or(Value::is_null) {
        fail_conditional(errors, "mandatory_scope", "scopes", "required field missing");
    }
}

/// The config record's `custom_validator = validate_flows`, run once its fields and checks passed; its
/// message is the `config` field's error.
fn validate_flows(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(config) = entity.get("config").and_then(Value::as_object) else {
        return;
    };
    if !FLOWS.iter().any(|f| config.get(*f) == Some(&Value::Bool(true))) {
        errors.insert("config", format!("at least one of these fields must be true: {}", FLOWS.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("oauth2").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "oauth2", "config": config}))
    }

    #[test]
    fn defaults() {
        let p = check(json!({"enable_authorization_code": true, "provision_key": "hello"})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "scopes": null, "mandatory_scope": false, "provision_key": "hello", "token_expiration": 7200,
                "enable_authorization_code": true, "enable_implicit_grant": false, "enable_client_credentials": false,
                "enable_password_grant": false, "hide_credentials": false, "accept_http_if_already_terminated": false,
                "anonymous": null, "global_credentials": false, "auth_header_name": "authorization",
                "refresh_token_ttl": 1_209_600, "reuse_refresh_token": false, "pkce": "lax", "realm": null,
            })
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        // `provision_key` is `auto`: absent is valid (generated where the pipeline generates nested auto fields).
        let p = check(json!({"enable_password_grant": true})).unwrap();
        let key = &p["config"]["provision_key"];
        assert!(key.is_null() || key.as_str().is_some_and(|k| k.len() == 32), "{key}");
    }

    #[test]
    fn kong_spec() {
        // oauth2/01-schema_spec.lua
        assert!(check(json!({"enable_authorization_code": true, "mandatory_scope": false})).is_ok());
        assert!(check(
            json!({"enable_authorization_code": true, "mandatory_scope": true, "scopes": ["email", "info"]})
        )
        .is_ok());
        assert_eq!(
            check(json!({"enable_authorization_code": true, "refresh_token_ttl": 252_979_200}))
                .unwrap_err()
                .into_value(),
            json!({"config": {"refresh_token_ttl": "value should be between 0 and 100000000"}})
        );
        assert_eq!(
            check(json!({})).unwrap_err().into_value(),
            json!({"config": "at least one of these fields must be true: enable_authorization_code, \
                               enable_implicit_grant, enable_client_credentials, enable_password_grant"})
        );
        assert_eq!(
            check(json!({"enable_authorization_code": true, "mandatory_scope": true})).unwrap_err().into_value(),
            json!({"config": {
                "@entity": ["failed conditional validation given value of field 'mandatory_scope'"],
                "scopes": "required field missing",
            }})
        );
        // The flows check only runs once the record is otherwise valid.
        assert_eq!(
            check(json!({"mandatory_scope": true})).unwrap_err().summary(),
            "2 schema violations (config: failed conditional validation given value of field 'mandatory_scope'; \
             config.scopes: required field missing)"
        );
    }

    #[test]
    fn rules() {
        let err = |config: Value| check(config).unwrap_err().summary();
        assert_eq!(
            err(json!({"enable_implicit_grant": true, "pkce": "S256"})),
            "schema violation (config.pkce: expected one of: none, lax, strict)"
        );
        assert_eq!(
            err(json!({"enable_implicit_grant": true, "token_expiration": null})),
            "schema violation (config.token_expiration: required field missing)"
        );
        assert_eq!(
            err(json!({"enable_client_credentials": true, "refresh_token_ttl": -1})),
            "schema violation (config.refresh_token_ttl: value should be between 0 and 100000000)"
        );
        assert_eq!(
            err(json!({"enable_client_credentials": "yes"})),
            "schema violation (config.enable_client_credentials: expected a boolean)"
        );
        assert!(check(json!({"enable_client_credentials": true, "mandatory_scope": true, "scopes": []})).is_ok());
        let consumer = json!({"id": "6b4b9b7e-7e0b-4b1e-9a36-8b2f4a5d6e7f"});
        assert_eq!(
            prepare(json!({"name": "oauth2", "consumer": consumer, "config": {"enable_password_grant": true}}))
                .unwrap_err()
                .summary(),
            "schema violation (consumer: value must be null)"
        );
    }
}
