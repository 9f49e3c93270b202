//! Kong's error model (`kong/db/errors.lua`): every Admin API failure is one of these codes, so clients that
//! branch on `code`/`name` (decK, KIC, scripts) keep working unchanged.

use serde_json::{Map, Value};

/// Kong's numbered error kinds. The numbers are part of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidPrimaryKey = 1,
    SchemaViolation = 2,
    PrimaryKeyViolation = 3,
    ForeignKeyViolation = 4,
    UniqueViolation = 5,
    NotFound = 6,
    InvalidOffset = 7,
    DatabaseError = 8,
    InvalidSize = 9,
    InvalidUnique = 10,
    InvalidOptions = 11,
    OperationUnsupported = 12,
    ForeignKeysUnresolved = 13,
}

impl ErrorCode {
    /// The `name` Kong puts next to the code.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidPrimaryKey => "invalid primary key",
            ErrorCode::SchemaViolation => "schema violation",
            ErrorCode::PrimaryKeyViolation => "primary key violation",
            ErrorCode::ForeignKeyViolation => "foreign key violation",
            ErrorCode::UniqueViolation => "unique constraint violation",
            ErrorCode::NotFound => "not found",
            ErrorCode::InvalidOffset => "invalid offset",
            ErrorCode::DatabaseError => "database error",
            ErrorCode::InvalidSize => "invalid size",
            ErrorCode::InvalidUnique => "invalid unique",
            ErrorCode::InvalidOptions => "invalid options",
            ErrorCode::OperationUnsupported => "operation unsupported",
            ErrorCode::ForeignKeysUnresolved => "foreign keys unresolved",
        }
    }

    /// The HTTP status Kong's Admin API maps this code to (`ERRORS_HTTP_CODES` in `kong/api/endpoints.lua`).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::UniqueViolation => 409,
            ErrorCode::NotFound => 404,
            ErrorCode::DatabaseError => 500,
            ErrorCode::OperationUnsupported => 405,
            _ => 400,
        }
    }
}

/// A Kong-shaped error: `{code, name, message, fields}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct KongError {
    pub code: ErrorCode,
    pub message: String,
    /// Per-field details; `Value::Null` when the error has none.
    pub fields: Value,
}

impl KongError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KongError { code, message: message.into(), fields: Value::Object(Map::new()) }
    }

    pub fn with_fields(mut self, fields: Value) -> Self {
        self.fields = fields;
        self
    }

    /// A schema violation built from collected field errors, with Kong's summary message.
    pub fn schema_violation(errors: FieldErrors) -> Self {
        let message = errors.summary();
        KongError { code: ErrorCode::SchemaViolation, message, fields: errors.into_value() }
    }

    /// A single-field schema violation, for errors found outside the schema walk.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.insert(field, message);
        Self::schema_violation(errors)
    }

    pub fn not_found(primary_key: &str) -> Self {
        let message = format!("could not find the entity with primary key '{primary_key}'");
        KongError::new(ErrorCode::NotFound, message).with_fields(Value::Null)
    }

    pub fn unique(key: &str) -> Self {
        KongError::new(ErrorCode::UniqueViolation, format!("UNIQUE violation detected on '{key}'"))
    }

    pub fn database(message: impl Into<String>) -> Self {
        KongError::new(ErrorCode::DatabaseError, message).with_fields(Value::Null)
    }

    /// The JSON body Kong sends for this error.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), Value::from(self.code as i64));
        body.insert("name".into(), Value::from(self.code.name()));
        body.insert("message".into(), Value::from(self.message.clone()));
        if !self.fields.is_null() {
            let key = if self.code == ErrorCode::InvalidOptions { "options" } else { "fields" };
            body.insert(key.into(), self.fields.clone());
        }
        Value::Object(body)
    }
}

/// Renders a primary or unique key the way Kong's Lua `tostring` of a table does: `{name="x"}`.
pub fn render_key(pairs: &[(&str, &Value)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}=\"{s}\""),
            Value::Object(o) if o.len() == 1 && o.contains_key("id") => {
                format!("{k}={{id=\"{}\"}}", o["id"].as_str().unwrap_or_default())
            }
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A tree of field errors, shaped like Kong's `fields` object: nested records nest, array items are keyed by
/// position, entity-level checks collect under `@entity`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors {
    entries: Map<String, Value>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records an error on a field; the first error on a field wins, as in Kong.
    pub fn insert(&mut self, field: &str, message: impl Into<String>) {
        if !self.entries.contains_key(field) {
            self.entries.insert(field.to_string(), Value::String(message.into()));
        }
    }

    /// Records the errors of a nested record or collection under `field`.
    pub fn insert_nested(&mut self, field: &str, nested: Value) {
        if !self.entries.contains_key(field) {
            self.entries.insert(field.to_string(), nested);
        }
    }

    /// Adds an entity-level (`@entity`) error.
    pub fn entity(&mut self, message: impl Into<String>) {
        let list = self.entries.entry("@entity").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(Value::String(message.into()));
        }
    }

    pub fn merge(&mut self, other: FieldErrors) {
        for (k, v) in other.entries {
            if k == "@entity" {
                if let Value::Array(items) = v {
                    for item in items {
                        if let Value::String(s) = item {
                            self.entity(s);
                        }
                    }
                }
            } else if !self.entries.contains_key(&k) {
                self.entries.insert(k, v);
            }
        }
    }

    pub fn contains(&self, field: &str) -> bool {
        self.entries.contains_key(field)
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.entries)
    }

    /// Kong's message: `schema violation (a: x)` or `N schema violations (a: x; b.c: y)`, entity errors first,
    /// then fields in sorted order.
    pub fn summary(&self) -> String {
        let mut flat = Vec::new();
        flatten("", &Value::Object(self.entries.clone()), &mut flat);
        flat.sort_by(|a, b| {
            let a_entity = a.0.starts_with("@entity");
            let b_entity = b.0.starts_with("@entity");
            b_entity.cmp(&a_entity).then_with(|| a.0.cmp(&b.0))
        });
        let parts: Vec<String> =
            flat.iter().map(|(k, v)| if k == "@entity" { v.clone() } else { format!("{k}: {v}") }).collect();
        if parts.len() == 1 {
            format!("schema violation ({})", parts[0])
        } else {
            format!("{} schema violations ({})", parts.len(), parts.join("; "))
        }
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "@entity" {
                    if let Value::Array(items) = v {
                        let name = if prefix.is_empty() { "@entity".to_string() } else { prefix.to_string() };
                        for item in items {
                            out.push((name.clone(), item.as_str().unwrap_or_default().to_string()));
                        }
                    }
                } else {
                    flatten(&join(k), v, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if !v.is_null() {
                    flatten(&join(&(i + 1).to_string()), v, out);
                }
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_counts_and_orders_like_kong() {
        let mut e = FieldErrors::default();
        e.insert("protocol", "expected one of: http, https");
        e.insert("host", "required field missing");
        assert_eq!(
            e.summary(),
            "2 schema violations (host: required field missing; protocol: expected one of: http, https)"
        );
        let mut one = FieldErrors::default();
        one.insert_nested("healthchecks", json!({"active": {"timeout": "value should be between 0 and 65535"}}));
        assert_eq!(
            one.summary(),
            "schema violation (healthchecks.active.timeout: value should be between 0 and 65535)"
        );
    }

    #[test]
    fn render_key_matches_lua_tostring() {
        assert_eq!(render_key(&[("name", &json!("x"))]), "{name=\"x\"}");
    }
}
