//! Write rules specific to a few entity types that the generic DAO pipeline applies: plugin configs
//! validated by the plugin's own schema, basic-auth passwords stored hashed, and key-auth's `ttl`.

use crate::StoreError;
use gatehouse_model::entities::credentials::basic_auth_password_hash;
use gatehouse_model::schema::Schema;
use gatehouse_model::{ErrorCode, KongError};
use serde_json::{json, Map, Value};

type Entity = Map<String, Value>;

/// Kong's `DAO_MAX_TTL`.
const MAX_TTL: i64 = 100_000_000;

/// The schema a write is validated with: for plugins, the generic plugin schema specialised by the named
/// plugin's config schema (the name comes from the input, or from the stored entity on PATCH).
pub(crate) fn write_schema(schema: &'static Schema, input: &Entity, stored: Option<&Entity>) -> &'static Schema {
    if schema.name != "plugins" {
        return schema;
    }
    let name = input.get("name").or_else(|| stored.and_then(|s| s.get("name"))).and_then(Value::as_str);
    name.and_then(gatehouse_model::plugin_schemas::entity_schema).unwrap_or(schema)
}

/// Takes the `ttl` option out of a write's input (Kong accepts it among the arguments of entities with a
/// ttl) and turns it into an expiry time. `Ok(None)`: no expiry.
pub(crate) fn take_ttl(schema: &Schema, input: &mut Entity, now: i64) -> Result<Option<i64>, StoreError> {
    if !schema.ttl {
        return Ok(None);
    }
    let Some(raw) = input.shift_remove("ttl") else { return Ok(None) };
    let ttl = match &raw {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=MAX_TTL as f64).contains(f)),
        Value::String(s) => s.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && (0.0..=MAX_TTL as f64).contains(f)),
        _ => None,
    };
    match ttl {
        Some(0.0) => Ok(None),
        Some(t) => Ok(Some(now + t as i64)),
        None => {
            let message = format!("must be an integer between 0 and {MAX_TTL}");
            let error = KongError::new(ErrorCode::InvalidOptions, format!("invalid option (ttl: {message})"))
                .with_fields(json!({ "ttl": message }));
            Err(error.into())
        }
    }
}

/// The stored entity as the validator sees it: without the expiry the store keeps beside the fields.
pub(crate) fn without_ttl(schema: &Schema, stored: Option<Entity>) -> Option<Entity> {
    let mut stored = stored?;
    if schema.ttl {
        stored.shift_remove("ttl");
    }
    Some(stored)
}

/// What the write rules need from a write's input, kept before validation consumes it: for basic-auth
/// credentials, the password and consumer given in this write (nothing for other entities).
#[derive(Default)]
pub(crate) struct Given {
    password: Option<Value>,
    consumer: Option<Value>,
}

impl Given {
    pub(crate) fn of(schema: &Schema, input: &Entity) -> Given {
        if schema.name != "basicauth_credentials" {
            return Given::default();
        }
        Given { password: input.get("password").cloned(), consumer: input.get("consumer").cloned() }
    }
}

/// Rules applied to a validated entity before it is written. A basic-auth password is hashed with its
/// consumer's id, so moving a credential to another consumer needs the password again (Kong's
/// transformation `needs`).
pub(crate) fn before_write(
    schema: &Schema,
    given: &Given,
    stored: Option<&Entity>,
    entity: &mut Entity,
    expiry: Option<i64>,
) -> Result<(), StoreError> {
    if schema.ttl {
        entity.insert("ttl".into(), expiry.map(Value::from).unwrap_or(Value::Null));
    }
    if schema.name == "basicauth_credentials" {
        // Kong's `on_write` transformation: only a password given in this write is hashed.
        if let (Some(Value::String(password)), Some(consumer)) = (
            &given.password,
            entity.get("consumer").and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_string),
        ) {
            entity.insert("password".into(), Value::from(basic_auth_password_hash(&consumer, password)));
        } else if given.password.is_none() && moves_consumer(given.consumer.as_ref(), stored) {
            let mut errors = gatehouse_model::FieldErrors::default();
            errors.entity("all or none of these fields must be set: 'password', 'consumer.id'");
            return Err(KongError::schema_violation(errors).into());
        }
    }
    Ok(())
}

/// Whether a write names a consumer (`given`) other than the stored one.
fn moves_consumer(given: Option<&Value>, stored: Option<&Entity>) -> bool {
    let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
    match given {
        None => false,
        Some(given) => stored.is_none_or(|s| s.get("consumer").and_then(id) != id(given)),
    }
}

/// Renders a stored entity for the Admin API: the expiry becomes the seconds left, as Kong's `ttl`.
pub(crate) fn render(schema: &Schema, entity: &mut Entity, now: i64) {
    if !schema.ttl {
        return;
    }
    match entity.get("ttl").and_then(Value::as_i64) {
        Some(expiry) => {
            entity.insert("ttl".into(), Value::from((expiry - now).max(0)));
        }
        None => {
            entity.shift_remove("ttl");
        }
    }
}
