//! Which entity values are stored as real columns, derived from the schema so that the migrations and the
//! generic CRUD code agree: unique fields, foreign keys (`<field>_id`), the composite cache key and the
//! schema's extra indexed fields.

use gatehouse_model::schema::{Kind, Schema};
use serde_json::{Map, Value};

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// A plain string field of the entity.
    Field(&'static str),
    /// The `id` inside a foreign reference `{ "id": ... }`.
    Foreign(&'static str),
    /// The schema's composite cache key.
    CacheKey,
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub source: Source,
}

impl Column {
    pub fn is_uuid(&self) -> bool {
        matches!(self.source, Source::Foreign(_))
    }

    /// The value to bind for this column, or `None` for SQL NULL.
    pub fn value(&self, schema: &Schema, entity: &Map<String, Value>) -> Option<String> {
        match self.source {
            Source::Field(name) => match entity.get(name) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            },
            Source::Foreign(name) => foreign_id(entity, name),
            Source::CacheKey => schema.cache_key_value(entity),
        }
    }
}

/// The id a foreign field points at, if set.
pub(crate) fn foreign_id(entity: &Map<String, Value>, field: &str) -> Option<String> {
    entity.get(field).and_then(|v| v.get("id")).and_then(Value::as_str).map(str::to_string)
}

/// The stored columns of a schema besides `id`, timestamps and the entity document.
pub(crate) fn columns(schema: &Schema) -> Vec<Column> {
    let mut out = Vec::new();
    for field in &schema.fields {
        if field.unique || schema.indexed.contains(&field.name) {
            out.push(Column { name: field.name.to_string(), source: Source::Field(field.name) });
        } else if let Kind::Foreign { .. } = field.kind {
            out.push(Column { name: format!("{}_id", field.name), source: Source::Foreign(field.name) });
        }
    }
    if schema.cache_key.len() > 1 {
        out.push(Column { name: "cache_key".into(), source: Source::CacheKey });
    }
    out
}
