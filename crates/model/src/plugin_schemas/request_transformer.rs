//! `request-transformer` (`kong/plugins/request-transformer/schema.lua`, Kong 3.9). Values of `name:value`
//! pairs are Penlight templates whose `$(...)` parts Kong compiles as Lua at validation time; a small Lua
//! expression parser reproduces LuaJIT's syntax errors for them.

use super::PluginSchema;
use crate::schema::{Check, Field, Kind};
use crate::typedefs;
use serde_json::{json, Value};

/// Kong's `"^([^:]+):*(.-)$"`: the name before the first colon (none when the entry starts with one) and
/// the rest after any run of colons.
pub(super) fn split_pair(entry: &str) -> Option<(&str, &str)> {
    match entry.find(':') {
        Some(0) => None,
        Some(i) => Some((&entry[..i], entry[i..].trim_start_matches(':'))),
        None if entry.is_empty() => None,
        None => Some((entry, "")),
    }
}

fn header_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `validate_headers(pair, validate_value)`, shared with `response-transformer`.
pub(super) fn validate_headers(value: &Value, validate_value: bool) -> Result<(), String> {
    let Some(pair) = value.as_str() else {
        return Ok(());
    };
    let (name, rest) = match split_pair(pair) {
        Some((n, r)) => (n, r),
        None => return Err("'nil' is not a valid header".into()),
    };
    if !header_name_ok(name) {
        return Err(format!("'{name}' is not a valid header"));
    }
    if validate_value && !header_name_ok(rest) {
        return Err(format!("'{rest}' is not a valid header"));
    }
    Ok(())
}

fn validate_header_names(value: &Value) -> Result<(), String> {
    validate_headers(value, false)
}

pub(super) fn validate_colon_headers(value: &Value) -> Result<(), String> {
    validate_headers(value, true)
}

/// `match = "^[^:]+:.*$"`.
pub(super) fn match_colon_pair(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(s) if !s.starts_with(':') && s.contains(':') => Ok(()),
        Some(s) => Err(format!("invalid value: {s}")),
        None => Ok(()),
    }
}

/// `check_for_value`: a non-empty value that compiles as a template.
fn check_for_value(value: &Value) -> Result<(), String> {
    let Some(entry) = value.as_str() else {
        return Ok(());
    };
    let (name, rest) = split_pair(entry).unwrap_or(("nil", ""));
    if rest.is_empty() {
        return Err(format!("key '{name}' has no value"));
    }
    match template_error(rest) {
        Some(e) => Err(format!("value '{rest}' is not in supported format, error:{e}")),
        None => Ok(()),
    }
}

type Validator = fn(&Value) -> Result<(), String>;

/// An array of strings, `default = {}`, `required = true`.
fn array(name: &'static str, checks: &[Validator], colon_match: bool) -> Field {
    let mut element = Field::element(Kind::String);
    if colon_match {
        element = element.check(Check::Custom(match_colon_pair)).annotate("match", json!("^[^:]+:.*$"));
    }
    for c in checks {
        element = element.check(Check::Custom(*c));
    }
    Field::array(name, element).required().default(json!([]))
}

fn operation(name: &'static str, headers: Field, uri: bool) -> Field {
    let values = |n| array(n, &[check_for_value], false);
    let mut fields = vec![values("body"), headers, values("querystring")];
    if uri {
        fields.push(Field::string("uri"));
    }
    Field::record(name, fields).required()
}

pub fn schema() -> PluginSchema {
    let header_values = || array("headers", &[validate_header_names], true);
    PluginSchema::new(
        "request-transformer",
        vec![
            Field::string("http_method")
                .check(Check::Custom(typedefs::validate_http_method))
                .annotate("match", json!("^%u+$")),
            Field::record(
                "remove",
                vec![
                    array("body", &[], false),
                    array("headers", &[validate_header_names], false),
                    array("querystring", &[], false),
                ],
            )
            .required(),
            operation("rename", array("headers", &[validate_colon_headers], true), false),
            operation("replace", header_values(), true),
            operation("add", header_values(), false),
            operation("append", header_values(), false),
        ],
    )
}

/// One piece of a Penlight template (`pl.template` with `$` inline escapes and `()` brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    /// Literal text, including any `$(` left without its closing bracket.
    Text(&'a str),
    /// The Lua expression inside a balanced `$(...)`, rendered with `tostring(expr or '')`.
    Expression(&'a str),
}

/// Splits a template into literal text and `$(...)` expressions, in order; adjacent text is one part and
/// empty text is left out.
pub fn template_parts(source: &str) -> Vec<TemplatePart<'_>> {
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
                    parts.push(TemplatePart::Text(&source[text_start..i]));
                }
                parts.push(TemplatePart::Expression(&source[i + 2..end]));
                i = end + 1;
                text_start = i;
                continue;
            }
        }
        i += 1;
    }
    if text_start < source.len() {
        parts.push(TemplatePart::Text(&source[text_start..]));
    }
    parts
}

/// The first LuaJIT syntax error of the template's `$(...)` expressions, as `template.compile` reports it
/// (`[string "TMP"]:1: ')' expected near 'x'`). Lua constructs this parser does not model (functions, long
/// strings, comments) are accepted.
pub(super) fn template_error(template: &str) -> Option<String> {
    let mut line = 1;
    for part in template_parts(template) {
        if let TemplatePart::Expression(expr) = part {
            let code = format!("__tostring(({expr}) or '');");
            if let Err(Some(e)) = lex(&code, line).and_then(|toks| Parser { toks: &toks, i: 0 }.expr()) {
                return Some(e);
            }
        }
        let (TemplatePart::Text(s) | TemplatePart::Expression(s)) = part;
        line += s.matches('\n').count();
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum K {
    Name,
    Number,
    Str,
    Sym,
    Eof,
}

struct Tok {
    kind: K,
    text: String,
    line: usize,
}

/// `Err(None)`: a construct outside the modelled subset (accepted); `Err(Some(message))`: a syntax error.
type Parsed<T> = Result<T, Option<String>>;

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
    "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn error_at(line: usize, message: &str, near: &str) -> Option<String> {
    Some(format!("[string \"TMP\"]:{line}: {message} near '{near}'"))
}

fn lex(code: &str, mut line: usize) -> Parsed<Vec<Tok>> {
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let (mut toks, mut i) = (Vec::new(), 0);
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => return Err(None),
            b'[' if matches!(b.get(i + 1), Some(b'[' | b'=')) => return Err(None),
            _ if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                while i < b.len()
                    && (ident(b[i]) || b[i] == b'.' || (b"+-".contains(&b[i]) && b"eEpP".contains(&b[i - 1])))
                {
                    i += 1;
                }
                let text = &code[start..i];
                let hex = text.strip_prefix("0x").or(text.strip_prefix("0X"));
                let ok = match hex {
                    Some(h) => !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()),
                    None => text.trim_end_matches(['U', 'L', 'u', 'l', 'i', 'I']).parse::<f64>().is_ok(),
                };
                if !ok {
                    return Err(error_at(line, "malformed number", text));
                }
                K::Number
            }
            _ if ident(c) => {
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                if KEYWORDS.contains(&&code[start..i]) {
                    K::Sym
                } else {
                    K::Name
                }
            }
            b'"' | b'\'' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(error_at(line, "unfinished string", "<eof>")),
                        Some(b'\n' | b'\r') => return Err(error_at(line, "unfinished string", &code[start..i])),
                        Some(b'\\') => i += 2,
                        Some(q) if *q == c => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                K::Str
            }
            _ => {
                let three = code.get(i..i + 3);
                let two = code.get(i..i + 2);
                i += if three == Some("...") {
                    3
                } else if matches!(two, Some("==" | "~=" | "<=" | ">=" | ".." | "::")) {
                    2
                } else {
                    code[i..].chars().next().map_or(1, char::len_utf8)
                };
                K::Sym
            }
        };
        toks.push(Tok { kind, text: code[start..i.min(b.len())].to_string(), line });
    }
    toks.push(Tok { kind: K::Eof, text: "<eof>".into(), line });
    Ok(toks)
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
}

const BINARY: &[&str] = &["+", "-", "*", "/", "%", "^", "..", "==", "~=", "<", "<=", ">", ">=", "and", "or"];

impl Parser<'_> {
    fn tok(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }
    fn is(&self, s: &str) -> bool {
        self.tok().kind == K::Sym && self.tok().text == s
    }
    fn bump(&mut self) {
        self.i += 1;
    }
    fn fail<T>(&self, message: &str) -> Parsed<T> {
        Err(error_at(self.tok().line, message, &self.tok().text))
    }
    fn expect(&mut self, s: &str) -> Parsed<()> {
        if self.is(s) {
            self.bump();
            return Ok(());
        }
        self.fail(&format!("'{s}' expected"))
    }
    fn expect_match(&mut self, close: &str, open: &str, line: usize) -> Parsed<()> {
        if self.is(close) || line == self.tok().line {
            return self.expect(close);
        }
        self.fail(&format!("'{close}' expected (to close '{open}' at line {line})"))
    }
    fn name(&mut self) -> Parsed<()> {
        if self.tok().kind == K::Name {
            self.bump();
            return Ok(());
        }
        self.fail("'<name>' expected")
    }
    fn expr(&mut self) -> Parsed<()> {
        loop {
            while self.is("not") || self.is("-") || self.is("#") {
                self.bump();
            }
            self.simple()?;
            if !BINARY.iter().any(|op| self.is(op)) {
                return Ok(());
            }
            self.bump();
        }
    }
    fn simple(&mut self) -> Parsed<()> {
        match self.tok().kind {
            K::Number | K::Str => self.bump(),
            _ if self.is("nil") || self.is("true") || self.is("false") => self.bump(),
            _ if self.is("...") => return self.fail("cannot use '...' outside a vararg function"),
            _ if self.is("{") => return self.table(),
            _ if self.is("function") => return Err(None),
            _ => return self.primary(),
        }
        Ok(())
    }
    fn primary(&mut self) -> Parsed<()> {
        if self.tok().kind == K::Name {
            self.bump();
        } else if self.is("(") {
            let line = self.tok().line;
            self.bump();
            self.expr()?;
            self.expect_match(")", "(", line)?;
        } else {
            return self.fail("unexpected symbol");
        }
        loop {
            if self.is(".") {
                self.bump();
                self.name()?;
            } else if self.is("[") {
                self.bump();
                self.expr()?;
                self.expect("]")?;
            } else if self.is(":") {
                self.bump();
                self.name()?;
                self.args()?;
            } else if self.is("(") || self.is("{") || self.tok().kind == K::Str {
                self.args()?;
            } else {
                return Ok(());
            }
        }
    }
    fn args(&mut self) -> Parsed<()> {
        if self.is("{") {
            return self.table();
        }
        if self.tok().kind == K::Str {
            self.bump();
            return Ok(());
        }
        if !self.is("(") {
            return self.fail("function arguments expected");
        }
        let line = self.tok().line;
        self.bump();
        if !self.is(")") {
            self.expr()?;
            while self.is(",") {
                self.bump();
                self.expr()?;
            }
        }
        self.expect_match(")", "(", line)
    }
    fn table(&mut self) -> Parsed<()> {
        let line = self.tok().line;
        self.bump();
        while !self.is("}") {
            if self.is("[") {
                self.bump();
                self.expr()?;
                self.expect("]")?;
                self.expect("=")?;
            } else if self.tok().kind == K::Name && self.toks.get(self.i + 1).is_some_and(|t| t.text == "=") {
                self.i += 2;
            }
            self.expr()?;
            if !(self.is(",") || self.is(";")) {
                break;
            }
            self.bump();
        }
        self.expect_match("}", "{", line)
    }
}

#[cfg(test)]
mod tests {
    use super::{template_error, template_parts, TemplatePart};
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn check(config: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("request-transformer").unwrap();
        let input = json!({"name": "request-transformer", "config": config});
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    fn err(config: Value) -> String {
        check(config).unwrap_err().summary()
    }

    #[test]
    fn defaults() {
        let p = check(json!({})).unwrap();
        let empty = json!({"body": [], "headers": [], "querystring": []});
        let mut replace = empty.clone();
        replace["uri"] = Value::Null;
        assert_eq!(
            p["config"],
            json!({"http_method": null, "remove": empty, "rename": empty, "replace": replace, "add": empty, "append": empty})
        );
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        assert!(check(json!({"http_method": "GET"})).is_ok());
        assert_eq!(
            err(json!({"http_method": "HELLO!"})),
            "schema violation (config.http_method: invalid value: HELLO!)"
        );
        assert_eq!(err(json!({"add": {"body": null}})), "schema violation (config.add.body: required field missing)");
        assert_eq!(err(json!({"add": null})), "schema violation (config.add: required field missing)");
    }

    #[test]
    fn values_and_templates() {
        // request-transformer/01-schema_spec.lua
        assert!(
            check(json!({"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:value"]}})).is_ok()
        );
        assert!(check(
            json!({"append": {"body": ["a:b:c", "k:::v", "x:$(headers[\"x\"] or 'y')", "t:$(f{1, k = 2})"]}})
        )
        .is_ok());
        assert!(
            check(json!({"replace": {"uri": "/x/$(uri_captures.a)", "body": ["j:$(not a.b == -1 .. 'x')"]}})).is_ok()
        );
        for (config, violation) in [
            (
                json!({"add": {"querystring": ["uri_param2:"]}}),
                "config.add.querystring.1: key 'uri_param2' has no value",
            ),
            (json!({"add": {"body": ["novalue"]}}), "config.add.body.1: key 'novalue' has no value"),
            (
                json!({"add": {"querystring": ["uri_param2:$(uri_captures user2)"]}}),
                "config.add.querystring.1: value '$(uri_captures user2)' is not in supported format, \
                 error:[string \"TMP\"]:1: ')' expected near 'user2'",
            ),
        ] {
            assert_eq!(err(config), format!("schema violation ({violation})"));
        }
    }

    #[test]
    fn lua_errors() {
        let e = |t: &str| template_error(t).unwrap_or_default();
        assert_eq!(e("$()"), "[string \"TMP\"]:1: unexpected symbol near ')'");
        assert_eq!(e("a $(x +)"), "[string \"TMP\"]:1: unexpected symbol near ')'");
        assert_eq!(e("$(a.)"), "[string \"TMP\"]:1: '<name>' expected near ')'");
        assert_eq!(e("$(a[1)"), "[string \"TMP\"]:1: ']' expected near ')'");
        assert_eq!(e("l1\nl2 $(a b)"), "[string \"TMP\"]:2: ')' expected near 'b'");
        assert_eq!(e("$(a:b)"), "[string \"TMP\"]:1: function arguments expected near ')'");
        assert_eq!(e("$(3x)"), "[string \"TMP\"]:1: malformed number near '3x'");
        assert_eq!(e("$(a = 1)"), "[string \"TMP\"]:1: ')' expected near '='");
        assert_eq!(e("$(...)"), "[string \"TMP\"]:1: cannot use '...' outside a vararg function near '...'");
        assert_eq!(e("$(f(\n1 2))"), "[string \"TMP\"]:2: ')' expected (to close '(' at line 1) near '2'");
        for ok in ["plain", "$(a)", "$ (x y)", "$(x", "$(function() end)", "$(a -- c)", "$(\"(\")", "$(t['k'])"] {
            assert_eq!(template_error(ok), None, "{ok}");
        }
    }

    #[test]
    fn parts() {
        use TemplatePart::{Expression, Text};
        assert_eq!(
            template_parts("a$(f(x))b$(y)$(unclosed c"),
            vec![Text("a"), Expression("f(x)"), Text("b"), Expression("y"), Text("$(unclosed c")]
        );
        assert_eq!(template_parts("$(a $(b)"), vec![Text("$(a "), Expression("b")]);
        assert_eq!(template_parts("$ (x)"), vec![Text("$ (x)")]);
        assert_eq!(template_parts("$()"), vec![Expression("")]);
        assert_eq!(template_parts(""), vec![]);
    }

    #[test]
    fn headers() {
        assert!(check(json!({"remove": {"headers": ["x-a", "x_b:ignored"]}, "rename": {"headers": ["a:b"]}})).is_ok());
        assert!(check(json!({"add": {"headers": ["x-a:"], "querystring": ["q:v"]}})).is_ok());
        for (config, violation) in [
            (json!({"remove": {"headers": ["a b"]}}), "config.remove.headers.1: 'a b' is not a valid header"),
            (json!({"remove": {"headers": [":x"]}}), "config.remove.headers.1: 'nil' is not a valid header"),
            (json!({"add": {"headers": ["x-a"]}}), "config.add.headers.1: invalid value: x-a"),
            (json!({"add": {"headers": ["x a:1"]}}), "config.add.headers.1: 'x a' is not a valid header"),
            (json!({"rename": {"headers": ["a:b c"]}}), "config.rename.headers.1: 'b c' is not a valid header"),
            (json!({"rename": {"headers": ["a:"]}}), "config.rename.headers.1: '' is not a valid header"),
            (json!({"rename": {"body": ["a"]}}), "config.rename.body.1: key 'a' has no value"),
            (json!({"replace": {"uri": ""}}), "config.replace.uri: length must be at least 1"),
        ] {
            assert_eq!(err(config), format!("schema violation ({violation})"));
        }
    }
}
