//! `request-transformer` (`kong/plugins/request-transformer/access.lua`): every `name:value` entry split
//! once, and each value parsed into a Penlight template of literal text and `$(...)` Lua expressions.

use gatehouse_model::plugin_schemas::{template_parts, TemplatePart};
use serde::Deserialize;
use serde_json::Value;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// The Lua expression inside `$(...)`, rendered with `tostring(expr or '')`.
    Expr(String),
}

/// A value template (`pl.template` with `$` inline escapes and `()` brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub source: String,
    pub parts: Vec<Part>,
}

impl Template {
    pub fn parse(source: &str) -> Template {
        let parts = template_parts(source)
            .into_iter()
            .map(|part| match part {
                TemplatePart::Text(text) => Part::Text(text.to_string()),
                TemplatePart::Expression(expr) => Part::Expr(expr.to_string()),
            })
            .collect();
        Template { source: source.to_string(), parts }
    }

    /// The value when it has no expressions (what Kong uses as is when untrusted Lua is disabled).
    pub fn as_static(&self) -> Option<&str> {
        (!self.parts.iter().any(|p| matches!(p, Part::Expr(_)))).then_some(self.source.as_str())
    }
}

/// One `name:value` entry; `value` is `None` when nothing follows the colon(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub value: Option<Template>,
}

/// Kong's `iter`: `"^([^:]+):*(.-)$"`, the name and what follows its colon(s) (empty when nothing does).
/// `None` for an entry starting with a colon, which has no name (the schemas let one through only in lists
/// of names such as `remove.body`, where it can match nothing). Shared with `response-transformer`.
pub fn split_pair(entry: &str) -> Option<(&str, &str)> {
    let (name, value) = match entry.find(':') {
        Some(i) => (&entry[..i], entry[i..].trim_start_matches(':')),
        None => (entry, ""),
    };
    (!name.is_empty()).then_some((name, value))
}

/// `split_pair` with the value parsed as a template.
pub fn parse_pair(entry: &str) -> Option<Pair> {
    let (name, value) = split_pair(entry)?;
    Some(Pair { name: name.to_string(), value: (!value.is_empty()).then(|| Template::parse(value)) })
}

/// One operation's entries per target.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub body: Vec<Pair>,
    pub headers: Vec<Pair>,
    pub querystring: Vec<Pair>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.body.is_empty() && self.headers.is_empty() && self.querystring.is_empty()
    }
}

#[derive(Debug)]
pub struct Config {
    /// Upper-cased method to send upstream.
    pub http_method: Option<String>,
    /// Names only (anything after a colon is ignored).
    pub remove: Targets,
    /// `old:new`.
    pub rename: Targets,
    pub replace: Targets,
    /// `replace.uri`: the upstream path template.
    pub replace_uri: Option<Template>,
    pub add: Targets,
    pub append: Targets,
}

#[derive(Deserialize)]
struct RawTargets {
    body: Vec<String>,
    headers: Vec<String>,
    querystring: Vec<String>,
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    http_method: Option<String>,
    remove: RawTargets,
    rename: RawTargets,
    replace: RawTargets,
    add: RawTargets,
    append: RawTargets,
}

fn targets(raw: &RawTargets) -> Targets {
    let pairs = |list: &[String]| list.iter().filter_map(|e| parse_pair(e)).collect();
    Targets { body: pairs(&raw.body), headers: pairs(&raw.headers), querystring: pairs(&raw.querystring) }
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid request-transformer config: {e}"))?;
    Ok(Config {
        http_method: raw.http_method.map(|m| m.to_uppercase()),
        remove: targets(&raw.remove),
        rename: targets(&raw.rename),
        replace: targets(&raw.replace),
        replace_uri: raw.replace.uri.as_deref().map(Template::parse),
        add: targets(&raw.add),
        append: targets(&raw.append),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn config(config: Value) -> Config {
        compile(&validated("request-transformer", config)).unwrap()
    }

    fn text(s: &str) -> Option<Template> {
        Some(Template { source: s.into(), parts: vec![Part::Text(s.into())] })
    }

    #[test]
    fn empty() {
        let c = config(json!({}));
        assert!(c.remove.is_empty() && c.rename.is_empty() && c.replace.is_empty() && c.add.is_empty());
        assert!(c.append.is_empty());
        assert_eq!((c.http_method, c.replace_uri), (None, None));
        assert!(compile(&json!({})).is_err());
    }

    #[test]
    fn pairs() {
        let c = config(json!({
            "http_method": "POST",
            "remove": {"body": ["a"], "headers": ["x-a:ignored"], "querystring": ["q"]},
            "rename": {"headers": ["old:new"]},
            "add": {"body": ["k:::v:w"], "headers": ["h:"], "querystring": ["q:$(uri_captures.id)-x"]},
            "replace": {"uri": "/u/$(uri_captures[\"n\"])"},
        }));
        assert_eq!(c.http_method.as_deref(), Some("POST"));
        assert_eq!(c.remove.headers, vec![Pair { name: "x-a".into(), value: text("ignored") }]);
        assert_eq!(c.remove.body[0].name, "a");
        assert_eq!(c.rename.headers, vec![Pair { name: "old".into(), value: text("new") }]);
        assert_eq!(c.add.body, vec![Pair { name: "k".into(), value: text("v:w") }]);
        assert_eq!(c.add.headers, vec![Pair { name: "h".into(), value: None }]);
        let q = c.add.querystring[0].value.as_ref().unwrap();
        assert_eq!(q.parts, vec![Part::Expr("uri_captures.id".into()), Part::Text("-x".into())]);
        assert_eq!(q.as_static(), None);
        let uri = c.replace_uri.unwrap();
        assert_eq!(uri.parts, vec![Part::Text("/u/".into()), Part::Expr("uri_captures[\"n\"]".into())]);
        assert_eq!(text("v").unwrap().as_static(), Some("v"));
    }

    #[test]
    fn templates() {
        // The splitting itself is tested with `template_parts` in the model crate.
        let t = Template::parse("a$(f(x))b$(unclosed c");
        assert_eq!(
            t.parts,
            vec![Part::Text("a".into()), Part::Expr("f(x)".into()), Part::Text("b$(unclosed c".into())]
        );
        assert_eq!(parse_pair(":x"), None);
        assert_eq!(split_pair("a::b:c"), Some(("a", "b:c")));
        let c = config(json!({"remove": {"body": [":x", "y"]}}));
        assert_eq!(c.remove.body, vec![Pair { name: "y".into(), value: None }]);
    }
}
