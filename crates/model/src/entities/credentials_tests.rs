use super::*;
use crate::schema::Context;
use serde_json::json;

fn prepare(schema: &Schema, input: Value) -> Result<Map<String, Value>, FieldErrors> {
    schema.prepare(input.as_object().cloned().unwrap_or_default(), Context::Insert, None, 7)
}

const CONSUMER: &str = "6b0a5b3e-0bbf-4c8b-9a2f-2f4c1a3e9d10";

#[test]
fn key_auth_generates_a_key() {
    let a = prepare(&keyauth_credentials(), json!({"consumer": {"id": CONSUMER}})).unwrap();
    let key = a["key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
    let b = prepare(&keyauth_credentials(), json!({"consumer": {"id": CONSUMER}})).unwrap();
    assert_ne!(a["key"], b["key"]);
    let given = prepare(&keyauth_credentials(), json!({"consumer": {"id": CONSUMER}, "key": "k1"})).unwrap();
    assert_eq!(given["key"], "k1");
    assert_eq!(given["created_at"], 7);
    assert!(given.get("updated_at").is_none());
}

#[test]
fn consumer_is_required() {
    let err = prepare(&hmacauth_credentials(), json!({"username": "u"})).unwrap_err();
    assert_eq!(err.summary(), "schema violation (consumer: required field missing)");
    let err = prepare(&basicauth_credentials(), json!({"consumer": {"id": CONSUMER}})).unwrap_err();
    assert_eq!(
        err.summary(),
        "2 schema violations (password: required field missing; username: required field missing)"
    );
}

#[test]
fn jwt_asymmetric_algorithms_need_a_public_key() {
    let schema = jwt_secrets();
    let hs = prepare(&schema, json!({"consumer": {"id": CONSUMER}})).unwrap();
    assert_eq!(hs["algorithm"], "HS256");
    assert_eq!(hs["secret"].as_str().unwrap().len(), 32);
    let err = prepare(&schema, json!({"consumer": {"id": CONSUMER}, "algorithm": "RS256"})).unwrap_err();
    assert_eq!(
        err.summary(),
        "2 schema violations (failed conditional validation given value of field 'algorithm'; \
         rsa_public_key: required field missing)"
    );
    let err = prepare(&schema, json!({"consumer": {"id": CONSUMER}, "algorithm": "RS256", "rsa_public_key": "x"}))
        .unwrap_err();
    assert!(err.summary().contains("rsa_public_key: invalid key"), "{}", err.summary());
    let err = prepare(&schema, json!({"consumer": {"id": CONSUMER}, "algorithm": "HS1"})).unwrap_err();
    assert!(err.summary().starts_with("schema violation (algorithm: expected one of: HS256, HS384"));
}

#[test]
fn acl_cache_key_is_consumer_and_group() {
    let schema = acls();
    let acl = prepare(&schema, json!({"consumer": {"id": CONSUMER}, "group": "admins"})).unwrap();
    assert_eq!(schema.cache_key_value(&acl).unwrap(), format!("acls:{CONSUMER}:admins::::"));
}

#[test]
fn basic_auth_hash_is_kongs() {
    // sha1("secret" .. consumer id), computed with `printf %s secret<id> | sha1sum`.
    assert_eq!(
        basic_auth_password_hash("6b0a5b3e-0bbf-4c8b-9a2f-2f4c1a3e9d10", "secret"),
        "661a248c066b2dc57f08bf3771d8200a324b6f62"
    );
    assert_eq!(nested_admin_name("keyauth_credentials"), Some("key-auth"));
}

#[test]
fn oauth2_applications() {
    let schema = oauth2_credentials();
    let app = prepare(&schema, json!({"consumer": {"id": CONSUMER}, "name": "app"})).unwrap();
    assert_eq!((app["client_type"].as_str(), app["hash_secret"].as_bool()), (Some("confidential"), Some(false)));
    assert_eq!(app["client_id"].as_str().map(str::len), Some(32));
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
    assert_eq!(names.last(), Some(&"client_type"));
    let err = prepare(
        &schema,
        json!({"consumer": {"id": CONSUMER}, "name": "a", "redirect_uris": ["nope", "https://a.test/#x"]}),
    )
    .unwrap_err();
    assert_eq!(
        err.summary(),
        "2 schema violations (redirect_uris.1: cannot parse 'nope'; redirect_uris.2: fragment not allowed in 'https://a.test/#x')"
    );
    assert_eq!(nested_admin_name("oauth2_credentials"), Some("oauth2"));
}
