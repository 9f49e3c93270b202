//! `request-transformer` (`kong/plugins/request-transformer/access.lua`): every `name:value` entry split
//! once, and each value parsed into a Penlight template of literal text and `$(...)` Lua expressions.

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
        let b = source.as_bytes();
        let (mut parts, mut text_start, mut i) = (Vec::new(), 0, 0);
        while i + 1 < b.len() {
            if b[i] == b'$' && b[i + 1] == b'(' {
                let mut depth = 0;
                let end = (i + 1..b.len()).find(|&j| {
                    depth += (b[j] == b'(') as i32 - (b[j] == b')') as i32;
                    depth == 0
                });
                if let Some(end) = end {
                    if text_start < i {
                        parts.push(Part::Text(source[text_start..i].to_string()));
                    }
                    parts.push(Part::Expr(source[i + 2..end].to_string()));
                    i = end + 1;
                    text_start = i;
                    continue;
                }
            }
            i += 1;
        }
        if text_start < source.len() {
            parts.push(Part::Text(source[text_start..].to_string()));
        }
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

/// Kong's `iter`: `"^([^:]+):*(.-)$"`. `None` for an entry starting with a colon, which has no name (the
/// schema lets one through only in `remove.body`/`remove.querystring`, where it can match nothing).
pub fn parse_pair(entry: &str) -> Option<Pair> {
    let (name, value) = match entry.find(':') {
        Some(i) => (&entry[..i], entry[i..].trim_start_matches(':')),
        None => (entry, ""),
    };
    if name.is_empty() {
        return None;
    }
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
    use serde_json::json;

    fn config(extra: Value) -> Value {
        let empty = json!({"body": [], "headers": [], "querystring": []});
        let mut replace = empty.clone();
        replace["uri"] = Value::Null;
        let mut base = json!({"http_method": null, "remove": empty, "rename": empty, "replace": replace,
                              "add": empty, "append": empty});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    fn text(s: &str) -> Option<Template> {
        Some(Template { source: s.into(), parts: vec![Part::Text(s.into())] })
    }

    #[test]
    fn empty() {
        let c = compile(&config(json!({}))).unwrap();
        assert!(c.remove.is_empty() && c.rename.is_empty() && c.replace.is_empty() && c.add.is_empty());
        assert!(c.append.is_empty());
        assert_eq!((c.http_method, c.replace_uri), (None, None));
        assert!(compile(&json!({})).is_err());
    }

    #[test]
    fn pairs() {
        let c = compile(&config(json!({
            "http_method": "POST",
            "remove": {"body": ["a"], "headers": ["x-a:ignored"], "querystring": ["q"]},
            "rename": {"body": [], "headers": ["old:new"], "querystring": []},
            "add": {"body": ["k:::v:w"], "headers": ["h:"], "querystring": ["q:$(uri_captures.id)-x"]},
            "replace": {"body": [], "headers": [], "querystring": [], "uri": "/u/$(uri_captures[\"n\"])"},
        })))
        .unwrap();
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
        let t = Template::parse("a$(f(x))b$(y)$(unclosed c");
        assert_eq!(
            t.parts,
            vec![
                Part::Text("a".into()),
                Part::Expr("f(x)".into()),
                Part::Text("b".into()),
                Part::Expr("y".into()),
                Part::Text("$(unclosed c".into()),
            ]
        );
        assert_eq!(Template::parse("$ (x)").parts, vec![Part::Text("$ (x)".into())]);
        assert_eq!(parse_pair(":x"), None);
        let c = compile(&config(json!({"remove": {"body": [":x", "y"], "headers": [], "querystring": []}}))).unwrap();
        assert_eq!(c.remove.body, vec![Pair { name: "y".into(), value: None }]);
    }
}
