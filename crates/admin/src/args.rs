//! Request arguments as Kong decodes them (`kong/api/arguments.lua`): form and multipart names such as
//! `a.b=1`, `arr[]=x`, `arr[2]=y` and `m[k]=v` become nested values, and because those values are all
//! strings, their types are inferred from the entity schema. JSON bodies are taken as they are.

use gatehouse_model::schema::{Field, Kind, Schema};
use serde_json::{Map, Value};

/// Turns raw `(name, value)` pairs into a nested object. `allow_map_keys` is Kong's rule that `x[key]`
/// only names a map key in request bodies.
pub fn decode_pairs(pairs: Vec<(String, String)>, allow_map_keys: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (raw_name, value) in pairs {
        let name = raw_name.replace("%5B", "[").replace("%5b", "[").replace("%5D", "]").replace("%5d", "]");
        let segments = split_segments(&name);
        insert_path(&mut out, &segments, Value::String(value), allow_map_keys, &name);
    }
    out
}

/// Splits `a.b[x.y].c` on dots outside brackets.
fn split_segments(name: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => {
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            '.' if depth == 0 => segments.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    segments.push(current);
    segments
}

/// The largest array position a name may use (`x[1000]`), as Kong caps arguments at 1000: a larger index
/// would make the decoder allocate an array that long.
const MAX_INDEX: usize = 1000;

/// One step of a decoded name: a map key, an array append (`[]`) or an array position (`[n]`, 1-based).
enum Step {
    Key(String),
    Append,
    Index(usize),
}

fn parse_segment(segment: &str, allow_map_keys: bool) -> Option<Vec<Step>> {
    let Some(open) = segment.find('[').filter(|i| *i > 0) else {
        return Some(vec![Step::Key(segment.to_string())]);
    };
    let mut steps = vec![Step::Key(segment[..open].to_string())];
    let mut rest = &segment[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let close = stripped.find(']')?;
        let inner = &stripped[..close];
        if inner.is_empty() {
            steps.push(Step::Append);
        } else if let Some(n) = inner.parse::<usize>().ok().filter(|n| *n <= MAX_INDEX) {
            steps.push(Step::Index(n.max(1)));
        } else if allow_map_keys {
            steps.push(Step::Key(inner.to_string()));
        } else {
            return None;
        }
        rest = &stripped[close + 1..];
    }
    if rest.is_empty() {
        Some(steps)
    } else {
        None
    }
}

fn insert_path(out: &mut Map<String, Value>, segments: &[String], value: Value, allow_map_keys: bool, raw: &str) {
    let mut steps = Vec::new();
    for segment in segments {
        match parse_segment(segment, allow_map_keys) {
            Some(s) => steps.extend(s),
            None => {
                steps = vec![Step::Key(raw.to_string())];
                break;
            }
        }
    }
    let Some(Step::Key(first)) = steps.first() else { return };
    let slot = out.entry(first.clone()).or_insert(Value::Null);
    place(slot, &steps[1..], value);
}

/// Puts `value` at `steps` below `slot`: objects by key, `[]` appends, `[n]` fills position n (shifting an
/// occupied one, as Lua's `table.insert`), and a repeated plain name collects its values into an array.
fn place(slot: &mut Value, steps: &[Step], value: Value) {
    let Some(step) = steps.first() else {
        match slot {
            Value::Null => *slot = value,
            Value::Array(items) => items.push(value),
            _ => {
                let old = slot.take();
                *slot = Value::Array(vec![old, value]);
            }
        }
        return;
    };
    match step {
        Step::Key(k) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                place(m.entry(k.clone()).or_insert(Value::Null), &steps[1..], value);
            }
        }
        Step::Append | Step::Index(_) => {
            if !slot.is_array() {
                *slot = match slot.take() {
                    Value::Null => Value::Array(Vec::new()),
                    other => Value::Array(vec![other]),
                };
            }
            let Value::Array(items) = slot else { return };
            let index = match step {
                Step::Index(n) => n - 1,
                _ => items.len(),
            };
            if index >= items.len() {
                items.resize(index + 1, Value::Null);
            } else if !items[index].is_null() && steps.len() == 1 {
                items.insert(index, Value::Null);
            }
            place(&mut items[index], &steps[1..], value);
        }
    }
}

/// Converts string values to the types the schema expects, as Kong's `infer`. An empty string means null.
pub fn infer_entity(schema: &Schema, args: &mut Map<String, Value>) {
    infer_record(&schema.fields, args);
    if schema.fields.iter().any(|f| f.name == "url") || schema.shorthand.is_some() {
        if let Some(Value::String(s)) = args.get("url") {
            if s.is_empty() {
                args.insert("url".into(), Value::Null);
            }
        }
    }
}

fn infer_record(fields: &[Field], args: &mut Map<String, Value>) {
    for field in fields {
        if let Some(value) = args.get_mut(field.name) {
            infer_value(field, value);
        }
    }
}

fn infer_value(field: &Field, value: &mut Value) {
    if value.as_str() == Some("") {
        *value = Value::Null;
        return;
    }
    match &field.kind {
        Kind::Integer | Kind::Number => {
            if let Some(s) = value.as_str() {
                if let Ok(i) = s.trim().parse::<i64>() {
                    *value = Value::from(i);
                } else if let Some(n) = s.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    *value = Value::Number(n);
                }
            }
        }
        Kind::Boolean => match value.as_str() {
            Some("true") => *value = Value::Bool(true),
            Some("false") => *value = Value::Bool(false),
            _ => {}
        },
        Kind::Array(element) | Kind::Set(element) => {
            if !value.is_array() {
                *value = Value::Array(vec![value.take()]);
            }
            if let Value::Array(items) = value {
                items.retain(|v| !v.is_null());
                for item in items {
                    infer_value(element, item);
                }
            }
        }
        Kind::Map(_, values) => {
            if let Value::Object(m) = value {
                for v in m.values_mut() {
                    infer_value(values, v);
                }
            }
        }
        Kind::Record(sub) => {
            if let Value::Object(m) = value {
                infer_record(sub, m);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn decodes_kong_name_forms() {
        let d = decode_pairs(pairs(&[("a.b.c", "x"), ("arr[]", "1"), ("arr[]", "2"), ("m[k]", "v")]), true);
        assert_eq!(Value::Object(d), json!({"a": {"b": {"c": "x"}}, "arr": ["1", "2"], "m": {"k": "v"}}));
        let repeated = decode_pairs(pairs(&[("hosts", "a"), ("hosts", "b")]), true);
        assert_eq!(Value::Object(repeated), json!({"hosts": ["a", "b"]}));
        let huge = decode_pairs(pairs(&[("x[2000000000]", "1"), ("y[18446744073709551615]", "2")]), false);
        assert_eq!(Value::Object(huge), json!({"x[2000000000]": "1", "y[18446744073709551615]": "2"}));
        let indexed = decode_pairs(pairs(&[("x[2]", "b"), ("x[1]", "a")]), true);
        assert_eq!(Value::Object(indexed), json!({"x": ["a", "b"]}));
        let query = decode_pairs(pairs(&[("tags[foo]", "x")]), false);
        assert_eq!(Value::Object(query), json!({"tags[foo]": "x"}));
    }

    #[test]
    fn infers_types_from_fields() {
        let fields = vec![
            Field::integer("port"),
            Field::boolean("strip_path"),
            Field::array("hosts", Field::element(Kind::String)),
            Field::string("path"),
        ];
        let mut args =
            decode_pairs(pairs(&[("port", "8080"), ("strip_path", "false"), ("hosts", "a.test"), ("path", "")]), true);
        infer_record(&fields, &mut args);
        assert_eq!(Value::Object(args), json!({"port": 8080, "strip_path": false, "hosts": ["a.test"], "path": null}));
    }
}
