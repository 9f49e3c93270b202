//! Validation with Kong's messages (`kong/db/schema/init.lua`).

use super::field::{Check, EntityCheck, Field, Kind};
use super::Schema;
use crate::FieldErrors;
use serde_json::{Map, Value};

pub(super) fn validate_entity(schema: &Schema, entity: &Map<String, Value>) -> Result<(), FieldErrors> {
    for check in &schema.entity_checks {
        if let EntityCheck::Precheck(f) = check {
            let mut early = FieldErrors::default();
            f(entity, &mut early);
            if !early.is_empty() {
                return Err(early);
            }
        }
    }
    let mut errors = FieldErrors::default();
    for check in &schema.entity_checks {
        if let EntityCheck::FieldRules(f) = check {
            f(entity, &mut errors);
        }
    }
    errors.merge(validate_record(&schema.fields, entity));
    if errors.is_empty() {
        for check in &schema.entity_checks {
            run_entity_check(check, entity, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn run_entity_check(check: &EntityCheck, entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let set = |name: &str| lookup(entity, name).is_some_and(|v| !v.is_null() && v != &Value::Array(vec![]));
    match check {
        EntityCheck::AtLeastOneOf(names) => {
            if !names.iter().any(|n| set(n)) {
                errors.entity(format!("at least one of these fields must be non-empty: {}", quoted(names)));
            }
        }
        EntityCheck::OnlyOneOf(names) => {
            if names.iter().filter(|n| set(n)).count() != 1 {
                errors.entity(format!("exactly one of these fields must be non-empty: {}", quoted(names)));
            }
        }
        EntityCheck::MutuallyExclusive(names) => {
            if names.iter().filter(|n| set(n)).count() > 1 {
                errors.entity(format!("only one or none of these fields must be set: {}", quoted(names)));
            }
        }
        EntityCheck::MutuallyRequired(names) => {
            let count = names.iter().filter(|n| set(n)).count();
            if count != 0 && count != names.len() {
                errors.entity(format!("all or none of these fields must be set: {}", quoted(names)));
            }
        }
        EntityCheck::Custom(f) => f(entity, errors),
        EntityCheck::Precheck(_) | EntityCheck::FieldRules(_) => {}
    }
}

/// A value by dotted path (`config.allow`); `None` when any step is missing or not a record.
pub fn lookup<'a>(entity: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = entity.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

pub(crate) fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

/// Validates a record's fields, reporting unknown keys as Kong does.
pub(crate) fn validate_record(fields: &[Field], record: &Map<String, Value>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for (key, _) in record.iter() {
        if !fields.iter().any(|f| f.name == key) {
            errors.insert(key, "unknown field");
        }
    }
    for field in fields {
        let value = record.get(field.name).unwrap_or(&Value::Null);
        if let Err(e) = validate_value(field, value) {
            match e {
                Value::String(s) => errors.insert(field.name, s),
                nested => errors.insert_nested(field.name, nested),
            }
        }
    }
    errors
}

/// Validates one value against its field definition. Errors are a message, or a nested error object/array.
pub(crate) fn validate_value(field: &Field, value: &Value) -> Result<(), Value> {
    if value.is_null() {
        if field.required && !field.auto {
            return Err(Value::from("required field missing"));
        }
        return Ok(());
    }
    match &field.kind {
        Kind::String => {
            let Some(s) = value.as_str() else {
                return Err(Value::from("expected a string"));
            };
            if s.is_empty() && !field.checks.iter().any(|c| matches!(c, Check::LenMin(0))) {
                return Err(Value::from("length must be at least 1"));
            }
        }
        Kind::Integer => {
            if !is_integer(value) {
                return Err(Value::from("expected an integer"));
            }
        }
        Kind::Number => {
            if !value.is_number() {
                return Err(Value::from("expected a number"));
            }
        }
        Kind::Boolean => {
            if !value.is_boolean() {
                return Err(Value::from("expected a boolean"));
            }
        }
        Kind::Array(element) | Kind::Set(element) => {
            let Some(items) = value.as_array() else {
                let what = if matches!(field.kind, Kind::Set(_)) { "set" } else { "array" };
                return Err(Value::from(format!("expected {} {what}", article(what))));
            };
            run_checks(field, value)?;
            let mut item_errors = vec![Value::Null; items.len()];
            let mut failed = false;
            for (i, item) in items.iter().enumerate() {
                let result = if item.is_null() {
                    Err(Value::from("required field missing"))
                } else {
                    validate_value(element, item)
                };
                if let Err(e) = result {
                    item_errors[i] = e;
                    failed = true;
                }
            }
            if failed {
                return Err(Value::Array(item_errors));
            }
            return Ok(());
        }
        Kind::Map(key, val) => {
            let Some(map) = value.as_object() else {
                return Err(Value::from("expected a map"));
            };
            let mut nested = Map::new();
            for (k, v) in map {
                if let Err(e) = validate_value(key, &Value::String(k.clone())) {
                    nested.insert(k.clone(), e);
                } else if let Err(e) = validate_value(val, v) {
                    nested.insert(k.clone(), e);
                }
            }
            if !nested.is_empty() {
                return Err(Value::Object(nested));
            }
        }
        Kind::Record(sub) => {
            let Some(map) = value.as_object() else {
                return Err(Value::from("expected a record"));
            };
            let mut errors = validate_record(sub, map);
            if errors.is_empty() {
                for check in &field.checks {
                    if let Check::Record(f) = check {
                        f(map, &mut errors);
                    }
                }
            }
            if !errors.is_empty() {
                return Err(errors.into_value());
            }
        }
        Kind::Foreign { .. } => {
            let Some(map) = value.as_object() else {
                return Err(Value::from("expected a record"));
            };
            let mut nested = Map::new();
            for k in map.keys() {
                if k != "id" {
                    nested.insert(k.clone(), Value::from("unknown field"));
                }
            }
            match map.get("id") {
                None | Some(Value::Null) => {
                    nested.insert("id".into(), Value::from("required field missing"));
                }
                Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => {}
                Some(Value::String(_)) => {
                    nested.insert("id".into(), Value::from("expected a valid UUID"));
                }
                Some(_) => {
                    nested.insert("id".into(), Value::from("expected a string"));
                }
            }
            if !nested.is_empty() {
                return Err(Value::Object(nested));
            }
        }
        Kind::Json => {}
    }
    run_checks(field, value)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn run_checks(field: &Field, value: &Value) -> Result<(), Value> {
    for check in &field.checks {
        let result = match check {
            Check::Between(lo, hi) => match value.as_f64() {
                Some(n) if n < *lo as f64 || n > *hi as f64 => Err(format!("value should be between {lo} and {hi}")),
                _ => Ok(()),
            },
            Check::OneOf(options) => match value.as_str() {
                Some(s) if !options.contains(&s) => Err(format!("expected one of: {}", options.join(", "))),
                _ => Ok(()),
            },
            Check::OneOfInt(options) => match value.as_i64() {
                Some(n) if !options.contains(&n) => {
                    let list: Vec<String> = options.iter().map(i64::to_string).collect();
                    Err(format!("expected one of: {}", list.join(", ")))
                }
                _ => Ok(()),
            },
            Check::LenMin(min) => {
                let len = value.as_str().map(|s| s.chars().count()).or(value.as_array().map(Vec::len));
                match len {
                    Some(n) if n < *min => Err(format!("length must be at least {min}")),
                    _ => Ok(()),
                }
            }
            Check::LenMax(max) => {
                let len = value.as_str().map(|s| s.chars().count()).or(value.as_array().map(Vec::len));
                match len {
                    Some(n) if n > *max => Err(format!("length must be at most {max}")),
                    _ => Ok(()),
                }
            }
            Check::Uuid => match value.as_str() {
                Some(s) if uuid::Uuid::parse_str(s).is_err() => Err("expected a valid UUID".to_string()),
                _ => Ok(()),
            },
            Check::Custom(f) => f(value),
            Check::Record(_) => Ok(()),
        };
        result.map_err(Value::from)?;
    }
    Ok(())
}
