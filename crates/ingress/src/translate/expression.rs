//! Expression (ATC) routes for Kong's `expressions` router flavor (KIC's `subtranslator/ingress_atc.go` and the
//! `translator/atc` package).

use super::ingress::REGEX_PREFIX;
use super::meta::{ann, comma_list, is_valid_host, is_valid_sni};
use std::collections::BTreeMap;

/// A matcher tree; empty `Or`/`And` nodes vanish, single-child nodes render without parentheses.
#[derive(Debug, Clone)]
enum M {
    Pred(String),
    Or(Vec<M>),
    And(Vec<M>),
}

impl M {
    fn is_empty(&self) -> bool {
        match self {
            M::Pred(_) => false,
            M::Or(v) | M::And(v) => v.is_empty(),
        }
    }

    fn or(items: Vec<M>) -> M {
        M::Or(items.into_iter().filter(|m| !m.is_empty()).collect())
    }

    fn and(items: Vec<M>) -> M {
        M::And(items.into_iter().filter(|m| !m.is_empty()).collect())
    }

    fn expression(&self) -> String {
        let (items, sep) = match self {
            M::Pred(p) => return p.clone(),
            M::Or(v) => (v, " || "),
            M::And(v) => (v, " && "),
        };
        match items.len() {
            0 => String::new(),
            1 => items[0].expression(),
            _ => items.iter().map(|m| format!("({})", m.expression())).collect::<Vec<_>>().join(sep),
        }
    }
}

/// An ATC string literal with `\`, `"`, newline, carriage return and tab escaped.
fn lit(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t");
    format!("\"{s}\"")
}

fn pred(field: &str, op: &str, value: &str) -> M {
    M::Pred(format!("{field} {op} {}", lit(value)))
}

fn path_matcher(path: &str, path_type: &str, regex_prefix: &str) -> Option<M> {
    match path_type {
        "Prefix" => {
            let base = path.trim_matches('/');
            if base.is_empty() {
                return Some(pred("http.path", "^=", "/"));
            }
            Some(M::or(vec![
                pred("http.path", "==", &format!("/{base}")),
                pred("http.path", "^=", &format!("/{base}/")),
            ]))
        }
        "Exact" => Some(pred("http.path", "==", &format!("/{}", path.trim_start_matches('/')))),
        "ImplementationSpecific" => {
            if path.is_empty() {
                return Some(pred("http.path", "^=", "/"));
            }
            if !regex_prefix.is_empty() {
                if let Some(regex) = path.strip_prefix(regex_prefix) {
                    let mut regex = if regex.is_empty() { "^/".to_string() } else { regex.to_string() };
                    if !regex.starts_with('^') {
                        regex = format!("^{regex}");
                    }
                    return Some(pred("http.path", "~", &regex));
                }
            }
            Some(pred("http.path", "^=", path))
        }
        _ => None,
    }
}

/// `konghq.com/headers.*` (values split on `konghq.com/headers-separator`, default `,`).
pub(crate) fn extract_headers(anns: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let separator = ann(anns, "headers-separator").unwrap_or(",");
    let mut headers = BTreeMap::new();
    for (key, value) in anns {
        let Some(header) = key.strip_prefix("konghq.com/headers.") else { continue };
        if header.is_empty() || value.is_empty() {
            continue;
        }
        let values = if separator.is_empty() {
            // Go's strings.Split with an empty separator splits into UTF-8 characters.
            value.chars().map(|c| c.to_string()).collect()
        } else {
            value.split(separator).map(|v| v.trim().to_string()).collect()
        };
        headers.insert(header.to_string(), values);
    }
    headers
}

/// `konghq.com/host-aliases` (absent or empty: none).
pub(crate) fn host_aliases(anns: &BTreeMap<String, String>) -> Option<Vec<String>> {
    ann(anns, "host-aliases").filter(|v| !v.is_empty()).map(comma_list)
}

fn header_matcher(headers: &BTreeMap<String, Vec<String>>) -> M {
    let mut matchers = Vec::new();
    for (name, values) in headers {
        if values.is_empty() {
            continue;
        }
        let name = name.to_lowercase().replace('-', "_");
        if name == "host" {
            continue;
        }
        let field = format!("http.headers.{name}");
        let one = values
            .iter()
            .map(|v| match v.strip_prefix("~*") {
                Some(regex) => pred(&field, "~", regex),
                None => pred(&field, "==", v),
            })
            .collect();
        matchers.push(M::or(one));
    }
    M::and(matchers)
}

/// The route expression and priority of one Ingress route (`translateIntoKongExpressionRoute`).
pub(crate) fn ingress_expression(
    host: &str,
    paths: &[(String, String)],
    anns: &BTreeMap<String, String>,
) -> (String, u64) {
    let mut route = Vec::new();
    let mut hosts: Vec<String> = Vec::new();
    if !host.is_empty() {
        hosts.push(host.to_string());
    }
    hosts.extend(host_aliases(anns).unwrap_or_default());
    if !hosts.is_empty() {
        let host_matchers = hosts
            .iter()
            .filter(|h| is_valid_host(h))
            .map(|h| match h.strip_prefix('*') {
                Some(suffix) => pred("http.host", "=^", suffix),
                None => pred("http.host", "==", h),
            })
            .collect();
        route.push(M::or(host_matchers));
    }
    let regex_prefix = ann(anns, "regex-prefix").filter(|p| !p.is_empty()).unwrap_or(REGEX_PREFIX);
    route.push(M::or(paths.iter().filter_map(|(p, t)| path_matcher(p, t, regex_prefix)).collect()));
    let headers = extract_headers(anns);
    if !headers.is_empty() {
        route.push(header_matcher(&headers));
    }
    let methods: Vec<String> =
        comma_list(ann(anns, "methods").unwrap_or("")).iter().map(|m| m.to_uppercase()).collect();
    if !methods.is_empty() {
        let ms = methods
            .iter()
            .filter(|m| m.bytes().all(|b| b.is_ascii_uppercase()))
            .map(|m| pred("http.method", "==", m))
            .collect();
        route.push(M::or(ms));
    }
    let snis = ann(anns, "snis").map(comma_list).unwrap_or_default();
    if !snis.is_empty() {
        route.push(M::or(snis.iter().filter(|s| is_valid_sni(s)).map(|s| pred("tls.sni", "==", s)).collect()));
    }
    let expression = M::and(route).expression();
    (expression, priority(paths, regex_prefix, &hosts, &headers, &methods, &snis))
}

/// `calculateIngressRoutePriorityTraits` + `EncodeToPriority`.
fn priority(
    paths: &[(String, String)],
    regex_prefix: &str,
    hosts: &[String],
    headers: &BTreeMap<String, Vec<String>>,
    methods: &[String],
    snis: &[String],
) -> u64 {
    let mut match_fields: u64 = 0;
    let mut has_regex = false;
    let mut max_len: u64 = 0;
    if !paths.is_empty() {
        match_fields += 1;
    }
    for (path, path_type) in paths {
        let len = match path_type.as_str() {
            "Exact" => {
                has_regex = true;
                1 + path.trim_start_matches('/').len()
            }
            "Prefix" => {
                has_regex = true;
                let base = path.trim_matches('/');
                if base.is_empty() {
                    1
                } else {
                    2 + base.len()
                }
            }
            "ImplementationSpecific" => match path.strip_prefix(regex_prefix).filter(|_| !regex_prefix.is_empty()) {
                Some(regex) => {
                    has_regex = true;
                    regex.len()
                }
                None => path.len(),
            },
            _ => 0,
        } as u64;
        max_len = max_len.max(len);
    }
    let mut plain_host = false;
    if !hosts.is_empty() {
        match_fields += 1;
        plain_host = !hosts.iter().any(|h| h.starts_with('*'));
    }
    let mut header_count = 0u64;
    if !headers.is_empty() {
        match_fields += 1;
        header_count = headers.len() as u64;
    }
    if !methods.is_empty() {
        match_fields += 1;
    }
    if !snis.is_empty() {
        match_fields += 1;
    }
    let mut p = max_len.min((1 << 16) - 1);
    if has_regex {
        p += 1 << 16;
    }
    if plain_host {
        p += 1 << 32;
    }
    p += header_count.min(255) << 33;
    p += match_fields << 41;
    p += 3 << 44;
    p
}
