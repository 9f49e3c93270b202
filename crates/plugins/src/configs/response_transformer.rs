//! `response-transformer` (`header_transformer.lua`, `body_transformer.lua`): every `name:value` entry
//! split once, JSON entries paired with their `json_types` cast.

use super::request_transformer::split_pair;
use serde::Deserialize;
use serde_json::Value;

/// One `name:value` entry; `value` is `None` when nothing follows the colon(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub value: Option<String>,
}

/// How an added JSON value is cast (`json_types[i]` for the i-th `json` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Boolean,
    Number,
    String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPair {
    pub name: String,
    pub value: Option<String>,
    /// `None` when `json_types` has no entry at this position: the value is sent as a string.
    pub json_type: Option<JsonType>,
}

/// `remove` and `rename` entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub json: Vec<Pair>,
    pub headers: Vec<Pair>,
}

/// `replace`, `add` and `append` entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Values {
    pub json: Vec<JsonPair>,
    pub headers: Vec<Pair>,
}

#[derive(Debug)]
pub struct Config {
    /// Names only (anything after a colon is ignored).
    pub remove: Names,
    /// `old:new`.
    pub rename: Names,
    pub replace: Values,
    pub add: Values,
    pub append: Values,
}

impl Config {
    /// Whether the body is touched at all (otherwise it need not be buffered).
    pub fn transforms_json(&self) -> bool {
        let values = [&self.replace, &self.add, &self.append];
        !self.remove.json.is_empty() || !self.rename.json.is_empty() || values.iter().any(|v| !v.json.is_empty())
    }
}

#[derive(Deserialize)]
struct RawNames {
    json: Vec<String>,
    headers: Vec<String>,
}

#[derive(Deserialize)]
struct RawValues {
    json: Vec<String>,
    json_types: Vec<String>,
    headers: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    remove: RawNames,
    rename: RawNames,
    replace: RawValues,
    add: RawValues,
    append: RawValues,
}

/// Kong's `iter` (see `request_transformer::split_pair`); entries starting with a colon are skipped.
pub fn parse_pair(entry: &str) -> Option<Pair> {
    let (name, value) = split_pair(entry)?;
    Some(Pair { name: name.into(), value: (!value.is_empty()).then(|| value.into()) })
}

fn pairs(list: &[String]) -> Vec<Pair> {
    list.iter().filter_map(|e| parse_pair(e)).collect()
}

fn names(raw: RawNames) -> Names {
    Names { json: pairs(&raw.json), headers: pairs(&raw.headers) }
}

fn values(raw: RawValues) -> Result<Values, String> {
    let mut json = Vec::new();
    for (i, entry) in raw.json.iter().enumerate() {
        let Some(pair) = parse_pair(entry) else { continue };
        let json_type = match raw.json_types.get(i).map(String::as_str) {
            None => None,
            Some("boolean") => Some(JsonType::Boolean),
            Some("number") => Some(JsonType::Number),
            Some("string") => Some(JsonType::String),
            Some(other) => return Err(format!("unknown json type: {other}")),
        };
        json.push(JsonPair { name: pair.name, value: pair.value, json_type });
    }
    Ok(Values { json, headers: pairs(&raw.headers) })
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid response-transformer config: {e}"))?;
    Ok(Config {
        remove: names(raw.remove),
        rename: names(raw.rename),
        replace: values(raw.replace)?,
        add: values(raw.add)?,
        append: values(raw.append)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn pair(name: &str, value: Option<&str>) -> Pair {
        Pair { name: name.into(), value: value.map(Into::into) }
    }

    #[test]
    fn empty() {
        let c = compile(&validated("response-transformer", json!({}))).unwrap();
        assert!(!c.transforms_json());
        assert_eq!(c.add, Values::default());
        assert!(compile(&json!({"remove": {}})).is_err());
    }

    #[test]
    fn entries() {
        let c = compile(&validated("response-transformer", json!({
            "remove": {"json": ["a", "b:ignored"], "headers": ["x-a"]},
            "rename": {"json": ["old:new"], "headers": ["h1:h2"]},
            "add": {"json": ["n:1", "b:true", "s:x:y", "e:"], "json_types": ["number", "boolean"], "headers": ["h::v"]},
        })))
        .unwrap();
        assert!(c.transforms_json());
        assert_eq!(c.remove.json, vec![pair("a", None), pair("b", Some("ignored"))]);
        assert_eq!(c.rename.headers, vec![pair("h1", Some("h2"))]);
        let typed: Vec<_> = c.add.json.iter().map(|p| (p.name.as_str(), p.value.as_deref(), p.json_type)).collect();
        assert_eq!(
            typed,
            vec![
                ("n", Some("1"), Some(JsonType::Number)),
                ("b", Some("true"), Some(JsonType::Boolean)),
                ("s", Some("x:y"), None),
                ("e", None, None),
            ]
        );
        assert_eq!(c.add.headers, vec![pair("h", Some("v"))]);
        assert_eq!(parse_pair(":x"), None);
        // A type the schema rejects.
        let mut bad = validated("response-transformer", json!({"append": {"json": ["a:1"]}}));
        bad["append"]["json_types"] = json!(["date"]);
        assert!(compile(&bad).is_err());
    }
}
