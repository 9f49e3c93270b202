//! A declarative schema language modelled on Kong's (`kong/db/schema/init.lua`). Entities are JSON objects;
//! one schema per entity type drives defaults, validation, the Admin API's type inference for form bodies,
//! the storage columns and `GET /schemas/{entity}`. Writing each entity as data rather than code keeps the
//! dozens of Kong rules in one place per entity.

mod field;
mod serialize;
mod validate;

pub use field::{Check, EntityCheck, Field, Kind, OnDelete};
pub use validate::lookup;
pub(crate) use validate::validate_value;

use serde_json::{Map, Value};

/// Why defaults are being filled: inserts and upserts fill defaults, updates only refresh timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Insert,
    Upsert,
    Update,
}

/// A hook that rewrites shorthand input (e.g. a service's `url`) before validation.
pub type Shorthand = fn(&mut Map<String, Value>) -> Result<(), crate::FieldErrors>;

/// An entity type: its fields and rules, and how the Admin API and storage address it.
#[derive(Debug)]
pub struct Schema {
    /// Table and declarative-config name, e.g. `services`, `ca_certificates`.
    pub name: &'static str,
    /// Collection path segment when it differs from `name` (e.g. `key-auths`).
    pub admin_api_name: Option<&'static str>,
    /// Alternate key accepted in URLs and foreign references (`name`, `username`, ...).
    pub endpoint_key: Option<&'static str>,
    /// Fields whose combination must be unique (stored as a `cache_key` column), as Kong's `cache_key`.
    pub cache_key: &'static [&'static str],
    pub fields: Vec<Field>,
    pub entity_checks: Vec<EntityCheck>,
    pub shorthand: Option<Shorthand>,
    /// Normalisation run on every write after defaults and before validation (target `host:port`
    /// formatting, CA certificate digests). Errors are schema violations.
    pub transform: Option<Shorthand>,
    /// Extra non-unique columns the store indexes (e.g. a plugin's `name`).
    pub indexed: &'static [&'static str],
    /// Whether rows carry a `ttl` (credentials that expire).
    pub ttl: bool,
}

impl Schema {
    pub fn admin_name(&self) -> &'static str {
        self.admin_api_name.unwrap_or(self.name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Fields that reference another entity, in declaration order.
    pub fn foreign_fields(&self) -> impl Iterator<Item = (&Field, &'static str, OnDelete)> {
        self.fields.iter().filter_map(|f| match f.kind {
            Kind::Foreign { reference, on_delete } => Some((f, reference, on_delete)),
            _ => None,
        })
    }

    /// Fields with a single-column unique constraint.
    pub fn unique_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.unique)
    }

    /// Kong's composite cache key for schemas that declare one (`plugins`, `targets`, `acls`), used as a
    /// unique column so concurrent writers on several nodes cannot create duplicates.
    pub fn cache_key_value(&self, entity: &Map<String, Value>) -> Option<String> {
        if self.cache_key.len() < 2 {
            return None;
        }
        let mut parts = vec![self.name.to_string()];
        for key in self.cache_key {
            let part = match entity.get(*key) {
                Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            parts.push(part);
        }
        while parts.len() < 6 {
            parts.push(String::new());
        }
        parts.push(String::new());
        Some(parts.join(":"))
    }

    /// Fills ids, timestamps and defaults, and turns absent fields into explicit nulls, as Kong's
    /// `process_auto_fields` does, so every rendered entity has every field.
    pub fn process_auto_fields(&self, entity: &mut Map<String, Value>, ctx: Context, now: i64) {
        dedupe_sets(&self.fields, entity);
        for field in &self.fields {
            let present = entity.contains_key(field.name);
            if field.auto {
                match field.name {
                    "id" if (!present || entity[field.name].is_null()) && ctx != Context::Update => {
                        entity.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
                    }
                    "created_at" if ctx != Context::Update && !present => {
                        entity.insert(field.name.into(), Value::from(now));
                    }
                    "updated_at" => {
                        entity.insert(field.name.into(), Value::from(now));
                    }
                    // Kong generates auto strings (API keys, secrets) on insert and upsert.
                    _ if ctx != Context::Update && entity.get(field.name).is_none_or(Value::is_null) => {
                        entity.insert(field.name.into(), Value::from(random_string()));
                    }
                    _ => {}
                }
                continue;
            }
            if ctx == Context::Update {
                if let (Kind::Record(sub), Some(Value::Object(inner))) = (&field.kind, entity.get_mut(field.name)) {
                    fill_record_nulls(sub, inner);
                }
                continue;
            }
            fill_field(field, entity);
        }
    }

    /// The whole write pipeline of one entity, in Kong's order: shorthands, the merge with the stored
    /// entity (PATCH), keeping the stored id and `created_at` (PUT over an existing entity), defaults and
    /// timestamps, the schema's transform, then validation. No I/O: references by name are resolved before.
    pub fn prepare(
        &self,
        mut input: Map<String, Value>,
        ctx: Context,
        stored: Option<&Map<String, Value>>,
        now: i64,
    ) -> Result<Map<String, Value>, crate::FieldErrors> {
        if let Some(shorthand) = self.shorthand {
            shorthand(&mut input)?;
        }
        let mut entity = match (ctx, stored) {
            (Context::Update, Some(stored)) => self.merge_update(stored, &input),
            _ => input,
        };
        if let (Context::Upsert, Some(stored)) = (ctx, stored) {
            entity.insert("id".into(), stored.get("id").cloned().unwrap_or(Value::Null));
            entity.insert("created_at".into(), stored.get("created_at").cloned().unwrap_or(Value::Null));
        }
        if let Some(Value::String(id)) = entity.get("id") {
            if let Ok(u) = uuid::Uuid::parse_str(id) {
                entity.insert("id".into(), Value::from(u.to_string()));
            }
        }
        self.process_auto_fields(&mut entity, ctx, now);
        if let Some(transform) = self.transform {
            transform(&mut entity)?;
        }
        self.validate(&entity)?;
        Ok(entity)
    }

    /// Checks types, field validators and entity checks of a complete entity.
    pub fn validate(&self, entity: &Map<String, Value>) -> Result<(), crate::FieldErrors> {
        validate::validate_entity(self, entity)
    }

    /// Merges a PATCH body into the stored entity: records merge field by field, everything else replaces.
    pub fn merge_update(&self, stored: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
        merge_values(&self.fields, stored, patch)
    }

    /// The JSON Kong serves at `GET /schemas/{name}`.
    pub fn to_json(&self) -> Value {
        serialize::schema_to_json(self)
    }
}

/// Kong's `random_string`: 32 characters of base64 from 24 random bytes, with `/` and `+` replaced by
/// letters so the result is alphanumeric.
pub fn random_string() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    bytes[..16].copy_from_slice(a.as_bytes());
    bytes[16..].copy_from_slice(&b.as_bytes()[..8]);
    let letters = b.as_bytes()[8..].iter().cycle();
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .zip(letters)
        .map(|(c, r)| match c {
            '/' => (b'A' + r % 26) as char,
            '+' => (b'a' + r % 26) as char,
            c => c,
        })
        .collect()
}

/// Kong silently drops duplicate set elements (`make_set`) rather than rejecting them.
fn dedupe_sets(fields: &[Field], record: &mut Map<String, Value>) {
    for f in fields {
        match (&f.kind, record.get_mut(f.name)) {
            (Kind::Set(_), Some(Value::Array(items))) => {
                let mut seen: Vec<Value> = Vec::with_capacity(items.len());
                items.retain(|v| {
                    if seen.contains(v) {
                        false
                    } else {
                        seen.push(v.clone());
                        true
                    }
                });
            }
            (Kind::Record(sub), Some(Value::Object(inner))) => dedupe_sets(sub, inner),
            _ => {}
        }
    }
}

/// Reports a failed Kong `conditional` entity check: the `@entity` message plus the then-field's error.
pub fn fail_conditional(errors: &mut crate::FieldErrors, if_field: &str, then_field: &str, message: &str) {
    errors.entity(format!("failed conditional validation given value of field '{if_field}'"));
    errors.insert(then_field, message);
}

fn fill_field(field: &Field, entity: &mut Map<String, Value>) {
    match entity.get_mut(field.name) {
        None => {
            let value = default_for(field);
            entity.insert(field.name.into(), value);
        }
        Some(Value::Object(inner)) => {
            if let Kind::Record(sub) = &field.kind {
                for f in sub {
                    fill_field(f, inner);
                }
            }
        }
        Some(_) => {}
    }
}

fn fill_record_nulls(fields: &[Field], record: &mut Map<String, Value>) {
    for f in fields {
        if let (Kind::Record(sub), Some(Value::Object(inner))) = (&f.kind, record.get_mut(f.name)) {
            fill_record_nulls(sub, inner);
        } else if !record.contains_key(f.name) {
            record.insert(f.name.into(), default_for(f));
        }
    }
}

/// The value an absent field takes: its default, a record of its subfields' defaults, or null.
pub fn default_for(field: &Field) -> Value {
    if let Some(d) = &field.default {
        let mut value = d.clone();
        if let (Kind::Record(sub), Value::Object(inner)) = (&field.kind, &mut value) {
            for f in sub {
                fill_field(f, inner);
            }
        }
        return value;
    }
    match &field.kind {
        Kind::Record(sub) if !field.nullable => {
            let mut inner = Map::new();
            for f in sub {
                fill_field(f, &mut inner);
            }
            Value::Object(inner)
        }
        _ => Value::Null,
    }
}

fn merge_values(fields: &[Field], stored: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut out = stored.clone();
    for (k, v) in patch {
        let field = fields.iter().find(|f| f.name == k);
        match (field.map(|f| &f.kind), out.get(k), v) {
            (Some(Kind::Record(sub)), Some(Value::Object(old)), Value::Object(new)) => {
                let merged = merge_values(sub, old, new);
                out.insert(k.clone(), Value::Object(merged));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}
