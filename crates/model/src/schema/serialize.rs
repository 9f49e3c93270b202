//! Schema → JSON in the shape of Kong's `GET /schemas/{name}`: `{"fields":[{"name":{...}}], "entity_checks":[...]}`.

use super::field::{Check, EntityCheck, Field, Kind, OnDelete};
use super::Schema;
use serde_json::{json, Map, Value};

pub(super) fn schema_to_json(schema: &Schema) -> Value {
    let fields: Vec<Value> = schema.fields.iter().map(named_field).collect();
    let checks: Vec<Value> = schema
        .entity_checks
        .iter()
        .filter_map(|c| match c {
            EntityCheck::AtLeastOneOf(names) => Some(json!({"at_least_one_of": names})),
            EntityCheck::OnlyOneOf(names) => Some(json!({"only_one_of": names})),
            EntityCheck::MutuallyExclusive(names) => Some(json!({"mutually_exclusive": names})),
            EntityCheck::MutuallyRequired(names) => Some(json!({"mutually_required": names})),
            EntityCheck::Custom(_) | EntityCheck::Precheck(_) | EntityCheck::FieldRules(_) => None,
        })
        .collect();
    // Kong's `schema_to_jsonable`: exactly these two keys, `entity_checks` even when empty.
    let mut out = Map::new();
    out.insert("entity_checks".into(), Value::Array(checks));
    out.insert("fields".into(), Value::Array(fields));
    Value::Object(out)
}

fn named_field(field: &Field) -> Value {
    let mut m = Map::new();
    m.insert(field.name.to_string(), field_json(field));
    Value::Object(m)
}

fn field_json(field: &Field) -> Value {
    let mut m = Map::new();
    let type_name = match &field.kind {
        Kind::String => "string",
        Kind::Integer => "integer",
        Kind::Number => "number",
        Kind::Boolean => "boolean",
        Kind::Array(_) => "array",
        Kind::Set(_) => "set",
        Kind::Map(..) => "map",
        Kind::Record(_) => "record",
        Kind::Foreign { .. } => "foreign",
        Kind::Json => "json",
    };
    m.insert("type".into(), Value::from(type_name));
    match &field.kind {
        Kind::Array(e) | Kind::Set(e) => {
            m.insert("elements".into(), field_json(e));
        }
        Kind::Map(k, v) => {
            m.insert("keys".into(), field_json(k));
            m.insert("values".into(), field_json(v));
        }
        Kind::Record(sub) => {
            m.insert("fields".into(), Value::Array(sub.iter().map(named_field).collect()));
        }
        Kind::Foreign { reference, on_delete } => {
            m.insert("reference".into(), Value::from(*reference));
            if *on_delete == OnDelete::Cascade {
                m.insert("on_delete".into(), Value::from("cascade"));
            }
        }
        _ => {}
    }
    if field.required {
        m.insert("required".into(), Value::Bool(true));
    }
    if field.auto {
        m.insert("auto".into(), Value::Bool(true));
    }
    if field.unique {
        m.insert("unique".into(), Value::Bool(true));
    }
    if let Some(d) = &field.default {
        m.insert("default".into(), d.clone());
    }
    for check in &field.checks {
        match check {
            Check::Between(lo, hi) => {
                m.insert("between".into(), json!([lo, hi]));
            }
            Check::OneOf(options) => {
                m.insert("one_of".into(), json!(options));
            }
            Check::OneOfInt(options) => {
                m.insert("one_of".into(), json!(options));
            }
            Check::LenMin(n) => {
                m.insert("len_min".into(), json!(n));
            }
            Check::LenMax(n) => {
                m.insert("len_max".into(), json!(n));
            }
            Check::Uuid => {
                m.insert("uuid".into(), Value::Bool(true));
            }
            Check::Custom(_) | Check::Record(_) => {}
        }
    }
    for (k, v) in &field.annotations {
        m.insert((*k).into(), v.clone());
    }
    Value::Object(m)
}
