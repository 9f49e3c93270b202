//! Tests of the certificates, ca_certificates and snis schemas.

use super::*;
use crate::entities::test_certs::*;
use crate::schema::Context;
use serde_json::json;

fn prepare(schema: &Schema, input: Value) -> Result<Map<String, Value>, FieldErrors> {
    let mut entity = input.as_object().cloned().unwrap_or_default();
    schema.process_auto_fields(&mut entity, Context::Insert, 1);
    if let Some(transform) = schema.transform {
        transform(&mut entity)?;
    }
    schema.validate(&entity)?;
    Ok(entity)
}

fn summary(schema: &Schema, input: Value) -> String {
    prepare(schema, input).unwrap_err().summary()
}

#[test]
fn certificate_defaults_and_required() {
    let s = certificates();
    let c = prepare(&s, json!({"cert": RSA_CERT, "key": RSA_KEY})).unwrap();
    for k in ["cert_alt", "key_alt", "tags", "snis"] {
        assert_eq!(c[k], Value::Null, "{k}");
    }
    assert_eq!(
        summary(&s, json!({})),
        "2 schema violations (cert: required field missing; key: required field missing)"
    );
    assert!(s.endpoint_key.is_none());
}

#[test]
fn certificate_parsing_errors() {
    let s = certificates();
    let err = prepare(&s, json!({"cert": "nope", "key": RSA_KEY})).unwrap_err().into_value();
    assert!(err["cert"].as_str().unwrap().starts_with("invalid certificate: "), "{err}");
    let err = prepare(&s, json!({"cert": RSA_CERT, "key": "nope"})).unwrap_err().into_value();
    assert!(err["key"].as_str().unwrap().starts_with("invalid key: "), "{err}");
    assert!(prepare(&s, json!({"cert": "{vault://env/cert}", "key": "{vault://env/key}"})).is_ok());
}

#[test]
fn keys_must_match() {
    let s = certificates();
    assert_eq!(
        summary(&s, json!({"cert": RSA_CERT, "key": EC_KEY})),
        "schema violation (certificate does not match key)"
    );
    assert!(prepare(&s, json!({"cert": EC_CERT, "key": EC_KEY})).is_ok());
    assert_eq!(
        summary(&s, json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": EC_CERT, "key_alt": EC2_KEY})),
        "schema violation (alternative certificate does not match key)"
    );
    assert!(prepare(&s, json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": EC_CERT, "key_alt": EC_KEY})).is_ok());
}

#[test]
fn alternative_certificate_rules() {
    let s = certificates();
    assert_eq!(
        summary(&s, json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": EC_CERT})),
        "schema violation (all or none of these fields must be set: 'cert_alt', 'key_alt')"
    );
    assert_eq!(
        summary(&s, json!({"cert": EC_CERT, "key": EC_KEY, "cert_alt": EC2_CERT, "key_alt": EC2_KEY})),
        "schema violation (certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), \
         the provided certificates were both of the same type)"
    );
}

#[test]
fn certificate_snis_are_wildcard_hosts() {
    let s = certificates();
    assert!(prepare(&s, json!({"cert": EC_CERT, "key": EC_KEY, "snis": ["*.example.com", "a.test"]})).is_ok());
    assert_eq!(
        summary(&s, json!({"cert": EC_CERT, "key": EC_KEY, "snis": ["ok.test", "1.2.3.4"]})),
        "schema violation (snis.2: must not be an IP)"
    );
}

#[test]
fn ca_certificate_digest_and_checks() {
    let s = ca_certificates();
    let ca = prepare(&s, json!({"cert": CA_CERT})).unwrap();
    assert_eq!(ca["cert_digest"], "f4f27904568384e0d1cd05d564a2fdce629294d98e4469bb63132d7fa4a6d9e6");
    let two = format!("{CA_CERT}{CA_CERT}");
    assert_eq!(summary(&s, json!({"cert": two})), "schema violation (please submit only one certificate at a time)");
    assert_eq!(
        summary(&s, json!({"cert": EXPIRED_CA_CERT})),
        "schema violation (certificate expired, \"Not After\" time is in the past)"
    );
    assert_eq!(
        summary(&s, json!({"cert": RSA_CERT})),
        "schema violation (certificate does not appear to be a CA because it is missing the \"CA\" basic constraint)"
    );
    assert!(summary(&s, json!({"cert": "junk"})).starts_with("schema violation (cert: invalid certificate: "));
    assert_eq!(summary(&s, json!({})), "schema violation (cert: required field missing)");
}

#[test]
fn sni_rules() {
    let s = snis();
    let cert = json!({"id": "4b0c1f2e-5d6a-4e7b-8c9d-0a1b2c3d4e5f"});
    assert!(prepare(&s, json!({"name": "*.example.com", "certificate": cert})).is_ok());
    assert_eq!(
        summary(&s, json!({})),
        "2 schema violations (certificate: required field missing; name: required field missing)"
    );
    let cases = [
        ("ex*ample.com", "wildcard must be leftmost or rightmost character"),
        ("*.example.*", "only one wildcard must be specified"),
        ("10.0.0.1", "must not be an IP"),
        ("example.com:443", "must not have a port"),
        ("*.exa^mple", "invalid value: wildcard.exa^mple"),
    ];
    for (name, msg) in cases {
        assert_eq!(summary(&s, json!({"name": name, "certificate": cert})), format!("schema violation (name: {msg})"));
    }
    assert_eq!(s.foreign_fields().next().map(|(_, r, d)| (r, d)), Some(("certificates", OnDelete::Cascade)));
    assert_eq!(s.endpoint_key, Some("name"));
}
