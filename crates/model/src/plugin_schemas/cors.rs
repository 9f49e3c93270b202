//! `cors` (`kong/plugins/cors/schema.lua`, Kong 3.9).

use super::{no_consumer, protocols_http, PluginSchema};
use crate::schema::{Check, Field, Kind};
use serde_json::{json, Value};

/// The methods `methods` accepts, and its default, in Kong's order.
pub const METHODS: &[&str] = &["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"];

fn strings() -> Field {
    Field::element(Kind::String)
}

pub fn schema() -> PluginSchema {
    PluginSchema::new(
        "cors",
        vec![
            Field::array("origins", strings().check(Check::Custom(validate_asterisk_or_regex))),
            Field::array("headers", strings()),
            Field::array("exposed_headers", strings()),
            Field::array("methods", strings().check(Check::OneOf(METHODS))).default(json!(METHODS)),
            Field::number("max_age"),
            Field::boolean("credentials").required().default(json!(false)),
            Field::boolean("private_network").required().default(json!(false)),
            Field::boolean("preflight_continue").required().default(json!(false)),
        ],
    )
    .with_field(protocols_http())
    .with_field(no_consumer())
}

/// `validate_asterisk_or_regex`: `*`, or anything `is_regex` accepts. Kong compiles it with PCRE; here the
/// router's regex engine decides, plus PCRE's rejection of stacked quantifiers (`a**`), which that engine
/// accepts. PCRE-only syntax such as look-around is rejected.
fn validate_asterisk_or_regex(value: &Value) -> Result<(), String> {
    let Some(s) = value.as_str() else {
        return Ok(());
    };
    if s == "*" || (!stacked_quantifier(s) && regex::Regex::new(s).is_ok()) {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid regex"))
    }
}

/// Whether a quantifier follows another (after its optional lazy `?` or possessive `+`): PCRE's "quantifier
/// does not follow a repeatable item".
pub fn stacked_quantifier(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let quantifier_len = |i: usize| -> usize {
        match b.get(i) {
            Some(b'*' | b'+' | b'?') => 1,
            Some(b'{') => {
                let end = b[i..].iter().position(|c| *c == b'}').map(|p| i + p);
                let body = end.map(|e| &pattern[i + 1..e]).unwrap_or("");
                let (lo, hi) = body.split_once(',').unwrap_or((body, "0"));
                let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
                match end {
                    Some(e) if !lo.is_empty() && digits(lo) && digits(hi) => e + 1 - i,
                    _ => 0,
                }
            }
            _ => 0,
        }
    };
    let (mut i, mut in_class) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' if !in_class => {
                in_class = true;
                // A `]` right after `[` or `[^` is literal.
                i += if b.get(i + 1) == Some(&b'^') { 2 } else { 1 };
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => {
                in_class = false;
                i += 1;
            }
            _ if in_class => i += 1,
            _ => match quantifier_len(i) {
                0 => i += 1,
                n => {
                    i += n;
                    if matches!(b.get(i), Some(b'?' | b'+')) {
                        i += 1;
                    }
                    if quantifier_len(i) > 0 {
                        return true;
                    }
                }
            },
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("cors").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        prepare(json!({"name": "cors", "config": config}))
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "cors"})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "origins": null, "headers": null, "exposed_headers": null,
                "methods": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"],
                "max_age": null, "credentials": false, "private_network": false, "preflight_continue": false,
            })
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    }

    #[test]
    fn origins() {
        // cors/02-schema_spec.lua
        assert!(check(json!({"origins": ["*"]})).is_ok());
        assert!(check(json!({"origins": ["example.com"]})).is_ok());
        assert!(check(json!({"origins": [r".*\.example(?:-foo)?\.com"]})).is_ok());
        let e = check(json!({"origins": [".*.example.com", "invalid_**regex"]})).unwrap_err();
        assert_eq!(e.into_value(), json!({"config": {"origins": [null, "'invalid_**regex' is not a valid regex"]}}));
        assert_eq!(
            err(json!({"origins": ["(unclosed"]})),
            "schema violation (config.origins.1: '(unclosed' is not a valid regex)"
        );
        assert_eq!(err(json!({"origins": "*"})), "schema violation (config.origins: expected an array)");
        assert!(super::stacked_quantifier("a{1,2}{3}") && super::stacked_quantifier("a??*"));
        assert!(!super::stacked_quantifier(r"a*?b+c{2}?[**]\*\*") && !super::stacked_quantifier("a{x}*"));
        assert_eq!(err(json!({"origins": [""]})), "schema violation (config.origins.1: length must be at least 1)");
    }

    #[test]
    fn methods() {
        for m in super::METHODS {
            assert!(check(json!({"methods": [m]})).is_ok(), "{m}");
        }
        assert_eq!(
            err(json!({"methods": ["FAKE"]})),
            "schema violation (config.methods.1: expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, \
             TRACE, CONNECT)"
        );
    }

    #[test]
    fn types_and_scope() {
        assert_eq!(err(json!({"max_age": "1"})), "schema violation (config.max_age: expected a number)");
        assert_eq!(err(json!({"credentials": null})), "schema violation (config.credentials: required field missing)");
        assert_eq!(err(json!({"headers": [1]})), "schema violation (config.headers.1: expected a string)");
        assert_eq!(err(json!({"unknown": 1})), "schema violation (config.unknown: unknown field)");
        let consumer = json!({"id": "6b4b9b7e-7e0b-4b1e-9a36-8b2f4a5d6e7f"});
        assert_eq!(
            prepare(json!({"name": "cors", "consumer": consumer})).unwrap_err().summary(),
            "schema violation (consumer: value must be null)"
        );
        assert_eq!(
            prepare(json!({"name": "cors", "protocols": ["tcp"]})).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https)"
        );
        let p = check(json!({"max_age": 3600, "credentials": true, "origins": ["http://a.test"]})).unwrap();
        assert_eq!(p["config"]["max_age"], 3600);
    }
}
