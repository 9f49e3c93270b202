//! KongConsumers and their credential Secrets (KIC's `FillConsumersAndCredentials`, `kongstate/credentials.go`
//! and `credentials_conflicts.go`).

use super::meta::{labels, obj_ref, str_field, tags_for, CrdMeta, Ctx};
use super::ObjectRef;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// A Kong consumer with its credentials (each list already in Kong's declarative field names).
#[derive(Debug, Clone, Default)]
pub(crate) struct KConsumer {
    pub meta: CrdMeta,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Vec<String>,
    /// Credential lists by declarative key (`keyauth_credentials`, `acls`, …).
    pub credentials: BTreeMap<&'static str, Vec<Value>>,
}

impl KConsumer {
    /// The identifier plugins use to refer to the consumer: username, else custom_id.
    pub(crate) fn identifier(&self) -> Option<&str> {
        self.username.as_deref().or(self.custom_id.as_deref())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum F {
    Str,
    Int,
    Bool,
    StrList,
    /// A nested object (`consumer`, `ca_certificate`): a string value cannot be decoded into it.
    Obj,
}

/// (credential type, declarative key, go-kong fields, required field, conflict index)
struct CredType {
    name: &'static str,
    key: &'static str,
    fields: &'static [(&'static str, F)],
    required: &'static str,
    unique: Option<&'static str>,
}

const COMMON: [(&str, F); 4] = [("consumer", F::Obj), ("created_at", F::Int), ("id", F::Str), ("tags", F::StrList)];

const TYPES: &[CredType] = &[
    CredType {
        name: "key-auth",
        key: "keyauth_credentials",
        fields: &[("key", F::Str), ("ttl", F::Int)],
        required: "key",
        unique: Some("key"),
    },
    CredType {
        name: "basic-auth",
        key: "basicauth_credentials",
        fields: &[("username", F::Str), ("password", F::Str)],
        required: "username",
        unique: Some("username"),
    },
    CredType {
        name: "hmac-auth",
        key: "hmacauth_credentials",
        fields: &[("username", F::Str), ("secret", F::Str)],
        required: "username",
        unique: Some("username"),
    },
    CredType {
        name: "oauth2",
        key: "oauth2_credentials",
        fields: &[
            ("name", F::Str),
            ("client_id", F::Str),
            ("client_secret", F::Str),
            ("client_type", F::Str),
            ("hash_secret", F::Bool),
            ("redirect_uris", F::StrList),
        ],
        required: "client_id",
        unique: Some("client_id"),
    },
    CredType {
        name: "jwt",
        key: "jwt_secrets",
        fields: &[("algorithm", F::Str), ("key", F::Str), ("rsa_public_key", F::Str), ("secret", F::Str)],
        required: "key",
        unique: Some("key"),
    },
    CredType { name: "acl", key: "acls", fields: &[("group", F::Str)], required: "group", unique: None },
    CredType {
        name: "mtls-auth",
        key: "mtls_auth_credentials",
        fields: &[("subject_name", F::Str), ("ca_certificate", F::Obj)],
        required: "subject_name",
        unique: None,
    },
];

/// Decodes the Secret's values into the go-kong credential struct as mapstructure does (json tags, exact then
/// case-insensitive key match, no weak typing).
fn decode(t: &CredType, config: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (field, kind) in COMMON.iter().chain(t.fields.iter()) {
        let value =
            config.get(*field).or_else(|| config.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v));
        let Some(value) = value else { continue };
        let ok = match kind {
            F::Str => value.is_string(),
            F::Int => value.is_i64(),
            F::Bool => value.is_boolean(),
            F::StrList => value.is_array(),
            F::Obj => false,
        };
        if !ok {
            return Err(format!("failed to decode credential: '{field}' has an unconvertible type"));
        }
        out.insert(field.to_string(), value.clone());
    }
    if t.name == "jwt" && out.get("algorithm").and_then(Value::as_str).unwrap_or("").is_empty() {
        out.insert("algorithm".into(), Value::String("HS256".into()));
    }
    if !out.contains_key(t.required) {
        return Err(format!("{} is invalid: no {}", t.name, t.required));
    }
    if t.name == "oauth2" && !out.contains_key("name") {
        return Err("oauth2 is invalid: no name".into());
    }
    Ok(out)
}

/// `FillConsumersAndCredentials`.
pub(crate) fn fill_consumers(ctx: &Ctx) -> Vec<KConsumer> {
    let mut consumers: Vec<(Option<KConsumer>, ObjectRef)> = Vec::new();
    // (index name, unique value) → [(secret, consumer index)]
    let mut index: HashMap<(&'static str, String), Vec<(ObjectRef, usize)>> = HashMap::new();
    let mut sorted: Vec<&Value> = ctx.objects.kong_consumers.iter().collect();
    sorted.sort_by_cached_key(|v| {
        let m = CrdMeta::from_value(v);
        (m.r.namespace, m.r.name)
    });
    for v in sorted {
        let meta = CrdMeta::from_value(v);
        if !ctx.crd_class_matches(&meta.annotations) {
            continue;
        }
        let (username, custom_id) = (str_field(v, "username"), str_field(v, "custom_id"));
        if username.is_empty() && custom_id.is_empty() {
            ctx.fail(&meta.r, "no username or custom_id specified");
            continue;
        }
        let mut c = KConsumer {
            username: (!username.is_empty()).then(|| username.to_string()),
            custom_id: (!custom_id.is_empty()).then(|| custom_id.to_string()),
            tags: meta.tags(),
            ..Default::default()
        };
        let idx = consumers.len();
        let creds = v.get("credentials").and_then(Value::as_array).cloned().unwrap_or_default();
        for cred in creds.iter().filter_map(Value::as_str) {
            let fail = |msg: String| ctx.fail(&meta.r, format!("credential {cred:?} failure: {msg}"));
            let Some(secret) = ctx.secret(&meta.r.namespace, cred) else {
                fail(format!("Failed to fetch secret: Secret {}/{cred} not found", meta.r.namespace));
                continue;
            };
            let cred_type = match labels(&secret.metadata).get("konghq.com/credential") {
                Some(t) => t.as_str(),
                None => {
                    fail(format!(
                        "could not load credential from Secret: Secret {}/{cred} used as credential, but lacks \
                         konghq.com/credential label",
                        meta.r.namespace
                    ));
                    ""
                }
            };
            let Some(t) = TYPES.iter().find(|t| t.name == cred_type) else {
                fail(format!("failed to provision credential: unsupported credential type: {cred_type:?}"));
                continue;
            };
            let config = secret_config(secret, &fail);
            match decode(t, &config) {
                Ok(mut fields) => {
                    let secret_ref = obj_ref::<Secret>(&secret.metadata);
                    let anns = secret.metadata.annotations.clone().unwrap_or_default();
                    fields.insert(
                        "tags".into(),
                        Value::Array(tags_for(&secret_ref, &anns).into_iter().map(Value::String).collect()),
                    );
                    if let Some(unique) = t.unique {
                        let value = fields.get(unique).and_then(Value::as_str).unwrap_or("").to_string();
                        index.entry((t.key, value)).or_default().push((secret_ref, idx));
                    }
                    c.credentials.entry(t.key).or_default().push(Value::Object(fields));
                }
                Err(e) => fail(format!("failed to provision credential: {e}")),
            }
        }
        c.meta = meta.clone();
        consumers.push((Some(c), meta.r));
    }

    // Conflicting credentials drop their consumers.
    let mut conflicts: Vec<_> = index.into_iter().filter(|(_, v)| v.len() > 1).collect();
    conflicts.sort_by(|a, b| a.0.cmp(&b.0));
    for ((kind, _), creds) in conflicts {
        let message = format!("conflict detected in {:?} index", index_name(kind));
        for (secret, idx) in creds {
            ctx.fail(&secret, format!("Secret has conflicting credential: {message}"));
            if consumers[idx].0.take().is_some() {
                ctx.fail(&consumers[idx].1, format!("Consumer has conflicting credentials: {message}"));
            }
        }
    }
    consumers.into_iter().filter_map(|(c, _)| c).collect()
}

fn index_name(key: &str) -> &'static str {
    match key {
        "keyauth_credentials" => "key-auth on 'key'",
        "hmacauth_credentials" => "hmac-auth on 'username'",
        "jwt_secrets" => "jwt-auth on 'key'",
        "basicauth_credentials" => "basic-auth on 'username'",
        _ => "oauth2-credentials on 'client_id'",
    }
}

/// The Secret's data as credential configuration: strings, except `redirect_uris` (comma list), `hash_secret`
/// (bool, false when unparseable) and `ttl` (int, dropped when unparseable).
fn secret_config(secret: &Secret, fail: &dyn Fn(String)) -> Map<String, Value> {
    let mut config = Map::new();
    for (k, v) in secret.data.iter().flatten() {
        let s = String::from_utf8_lossy(&v.0).into_owned();
        match k.as_str() {
            "redirect_uris" => {
                config.insert(k.clone(), Value::Array(s.split(',').map(|u| Value::String(u.to_string())).collect()));
            }
            "hash_secret" => {
                let b = super::meta::parse_go_bool(&s).unwrap_or_else(|| {
                    fail(format!("Failed to parse hash_secret to bool: invalid syntax {s:?}. defaulting to false"));
                    false
                });
                config.insert(k.clone(), Value::Bool(b));
            }
            "ttl" => match super::meta::parse_go_int(&s) {
                Some(n) => {
                    config.insert(k.clone(), Value::from(n));
                }
                None => fail(format!("Failed to parse ttl to int: invalid syntax {s:?}, skipfilling the field")),
            },
            _ => {
                config.insert(k.clone(), Value::String(s));
            }
        }
    }
    config
}
