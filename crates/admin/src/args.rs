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
        if segments.is_empty() {
            continue;
        }
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
        } else if let Ok(n) = inner.parse::<usize>() {
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
                merge_into(out, raw.to_string(), value);
                return;
            }
        }
    }
    let Some(Step::Key(first)) = steps.first() else { return };
    let first = first.clone();
    let nested = build(&steps[1..], value);
    merge_into(out, first, nested);
}

fn build(steps: &[Step], value: Value) -> Value {
    match steps.first() {
        None => value,
        Some(Step::Key(k)) => {
            let mut m = Map::new();
            m.insert(k.clone(), build(&steps[1..], value));
            Value::Object(m)
        }
        Some(Step::Append) => Value::Array(vec![build(&steps[1..], value)]),
        Some(Step::Index(n)) => {
            let mut items = vec![Value::Null; n - 1];
            items.push(build(&steps[1..], value));
            Value::Array(items)
        }
    }
}

/// Deep-merges a decoded piece: objects merge by key, arrays merge by position (nulls are holes), and a
/// repeated scalar name collects into an array, as Kong's `combine`.
fn merge_into(out: &mut Map<String, Value>, key: String, piece: Value) {
    match out.remove(&key) {
        None => {
            out.insert(key, piece);
        }
        Some(existing) => {
            out.insert(key, merge_values(existing, piece));
        }
    }
}

fn merge_values(existing: Value, piece: Value) -> Value {
    match (existing, piece) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                merge_into(&mut a, k, v);
            }
            Value::Object(a)
        }
        (Value::Array(mut a), Value::Array(b)) => {
            let appended = b.iter().all(|v| !v.is_null()) && b.len() == 1;
            if appended {
                a.extend(b);
            } else {
                for (i, v) in b.into_iter().enumerate() {
                    if v.is_null() {
                        continue;
                    }
                    if i < a.len() && a[i].is_null() {
                        a[i] = v;
                    } else if i < a.len() {
                        a.insert(i, v);
                    } else {
                        a.resize(i, Value::Null);
                        a.push(v);
                    }
                }
            }
            Value::Array(a)
        }
        (Value::Array(mut a), scalar) => {
            a.push(scalar);
            Value::Array(a)
        }
        (old, new) => Value::Array(vec![old, new]),
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
