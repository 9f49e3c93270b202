//! Consumer credentials and ACL groups, the entities of the authentication plugins (their `daos.lua`):
//! `keyauth_credentials`, `basicauth_credentials`, `jwt_secrets`, `hmacauth_credentials` and `acls`.
//! Each belongs to a consumer and is deleted with it.

use crate::entities::pem;
use crate::schema::{Check, EntityCheck, Field, OnDelete, Schema};
use crate::typedefs;
use crate::FieldErrors;
use serde_json::{Map, Value};

/// `id` and `created_at` (credentials have no `updated_at` in Kong) and the owning consumer.
fn credential_fields() -> Vec<Field> {
    vec![
        typedefs::id(),
        typedefs::timestamp("created_at"),
        Field::foreign("consumer", "consumers", OnDelete::Cascade).required(),
    ]
}

fn credential(
    name: &'static str,
    admin: &'static str,
    endpoint_key: Option<&'static str>,
    extra: Vec<Field>,
) -> Schema {
    let mut fields = credential_fields();
    fields.extend(extra);
    fields.push(typedefs::tags());
    Schema {
        name,
        admin_api_name: Some(admin),
        endpoint_key,
        cache_key: &[],
        fields,
        entity_checks: Vec::new(),
        shorthand: None,
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

/// key-auth's API keys. `key` is generated when absent; `ttl` makes a key expire.
pub fn keyauth_credentials() -> Schema {
    let key = Field::string("key").unique().auto();
    let mut schema = credential("keyauth_credentials", "key-auths", Some("key"), vec![key]);
    schema.ttl = true;
    schema
}

/// basic-auth's username/password pairs. The password is stored as Kong stores it (see
/// `basic_auth_password_hash`), never in clear.
pub fn basicauth_credentials() -> Schema {
    let fields = vec![Field::string("username").required().unique(), Field::string("password").required()];
    credential("basicauth_credentials", "basic-auths", Some("username"), fields)
}

/// jwt's issuer keys and their secrets or public keys.
pub fn jwt_secrets() -> Schema {
    const ALGORITHMS: &[&str] = &[
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
        "EdDSA",
    ];
    let fields = vec![
        Field::string("key").unique().auto(),
        Field::string("secret").auto(),
        Field::string("rsa_public_key"),
        Field::string("algorithm").default(Value::from("HS256")).check(Check::OneOf(ALGORITHMS)),
    ];
    let mut schema = credential("jwt_secrets", "jwts", Some("key"), fields);
    schema.entity_checks = vec![EntityCheck::Custom(public_key_required)];
    schema
}

/// Kong's conditional check: asymmetric algorithms need a parseable `rsa_public_key`.
fn public_key_required(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    const ASYMMETRIC: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];
    let algorithm = entity.get("algorithm").and_then(Value::as_str).unwrap_or_default();
    if !ASYMMETRIC.contains(&algorithm) {
        return;
    }
    let message = match entity.get("rsa_public_key").and_then(Value::as_str) {
        None => "required field missing",
        Some(key) if !pem::is_public_key(key) => "invalid key",
        Some(_) => return,
    };
    crate::schema::fail_conditional(errors, "algorithm", "rsa_public_key", message);
}

/// hmac-auth's usernames and shared secrets (`secret` is generated when absent).
pub fn hmacauth_credentials() -> Schema {
    let fields = vec![Field::string("username").required().unique(), Field::string("secret").auto()];
    credential("hmacauth_credentials", "hmac-auths", Some("username"), fields)
}

/// acl's consumer groups; a consumer is in each group at most once.
pub fn acls() -> Schema {
    let mut schema = credential("acls", "acls", None, vec![Field::string("group").required()]);
    schema.cache_key = &["consumer", "group"];
    schema
}

/// oauth2's client applications. (Kong hashes `client_secret` when `hash_secret` is set; Gatehouse stores
/// it as given until the oauth2 plugin runs.)
pub fn oauth2_credentials() -> Schema {
    let fields = vec![
        Field::string("name").required(),
        Field::string("client_id").unique().auto(),
        Field::string("client_secret").auto(),
        Field::boolean("hash_secret").required().default(Value::Bool(false)),
        Field::array("redirect_uris", Field::element(crate::schema::Kind::String).check(Check::Custom(redirect_uri))),
        Field::string("client_type")
            .required()
            .default(Value::from("confidential"))
            .check(Check::OneOf(&["confidential", "public"])),
    ];
    let mut schema = credential("oauth2_credentials", "oauth2", Some("client_id"), fields);
    // Kong lists tags before client_type.
    if let Some(i) = schema.fields.iter().position(|f| f.name == "tags") {
        let tags = schema.fields.remove(i);
        let at = schema.fields.len() - 1;
        schema.fields.insert(at, tags);
    }
    schema
}

/// Kong's `validate_uri`: a scheme and a host, and no fragment.
fn redirect_uri(value: &Value) -> Result<(), String> {
    let Some(uri) = value.as_str() else { return Ok(()) };
    let parsed = uri.split_once("://").filter(|(scheme, rest)| {
        !scheme.is_empty() && rest.split(['/', '?', '#']).next().is_some_and(|host| !host.is_empty())
    });
    if parsed.is_none() {
        return Err(format!("cannot parse '{uri}'"));
    }
    if uri.contains('#') {
        return Err(format!("fragment not allowed in '{uri}'"));
    }
    Ok(())
}

/// The path segment under `/consumers/{c}/` of each credential collection (Kong's `admin_api_nested_name`).
pub fn nested_admin_name(schema: &str) -> Option<&'static str> {
    Some(match schema {
        "keyauth_credentials" => "key-auth",
        "basicauth_credentials" => "basic-auth",
        "jwt_secrets" => "jwt",
        "hmacauth_credentials" => "hmac-auth",
        "acls" => "acls",
        "oauth2_credentials" => "oauth2",
        _ => return None,
    })
}

/// Kong's stored basic-auth password: `sha1_hex(password .. consumer_id)`
/// (`kong/plugins/basic-auth/crypto.lua`), so credentials exported from Kong verify unchanged.
pub fn basic_auth_password_hash(consumer_id: &str, password: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(password.as_bytes());
    hasher.update(consumer_id.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
