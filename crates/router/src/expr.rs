//! Kong's ATC expression text per (split) route, as `transform.get_expression` writes it. Not used for
//! matching; it lets benchmarks and parity tests run the same routes through the `atc-router` crate.

use std::fmt::Write;

use crate::compile::{group_paths, priority, split_id};
use crate::RouteSpec;

fn escape_str(s: &str) -> String {
    if !s.contains("\"#") {
        return format!("r#\"{s}\"#");
    }
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn or_group(out: &mut String, terms: impl Iterator<Item = String>) {
    if !out.is_empty() {
        out.push_str(" && ");
    }
    out.push('(');
    for (i, t) in terms.enumerate() {
        if i > 0 {
            out.push_str(" || ");
        }
        out.push_str(&t);
    }
    out.push(')');
}

fn sni_term(s: &str) -> String {
    if s.starts_with('*') || !s.ends_with('*') {
        let s = if s.len() > 1 { s.strip_suffix('.').unwrap_or(s) } else { s };
        match s.strip_prefix('*') {
            Some(rest) => format!("tls.sni =^ {}", escape_str(rest)),
            None => format!("tls.sni == {}", escape_str(s)),
        }
    } else {
        format!("tls.sni ^= {}", escape_str(&s[..s.len() - 1]))
    }
}

fn host_term(h: &str) -> String {
    let (host, port) = crate::compile::split_host_port(h);
    let e = if let Some(rest) = host.strip_prefix('*') {
        format!("http.host =^ r#\"{rest}\"#")
    } else if let Some(rest) = host.strip_suffix('*') {
        format!("http.host ^= r#\"{rest}\"#")
    } else {
        format!("http.host == r#\"{host}\"#")
    };
    match port {
        Some(p) => format!("({e} && net.dst.port == {p})"),
        None => e,
    }
}

fn path_term(p: &str) -> String {
    match p.strip_prefix('~') {
        Some(re) => format!("http.path ~ {}", escape_str(&format!("^{}", re.replace("?<", "?P<")))),
        None => format!("http.path ^= {}", escape_str(p)),
    }
}

/// `(id, priority, expression)` of each matcher Kong's traditional_compatible flavor creates for `route`
/// (several when the paths are split by kind/length). Empty for stream routes.
pub fn kong_expressions(route: &RouteSpec) -> Vec<(uuid::Uuid, u64, String)> {
    if route.is_stream() {
        return Vec::new();
    }
    let groups = if route.paths.is_empty() { vec![Vec::new()] } else { group_paths(&route.paths) };
    let split = groups.len() > 1;
    let mut out = Vec::with_capacity(groups.len());
    for (n, group) in groups.iter().enumerate() {
        let mut e = String::new();
        if !route.snis.is_empty() {
            let _ = write!(e, "(net.protocol != r#\"https\"#");
            for s in &route.snis {
                let _ = write!(e, " || {}", sni_term(s));
            }
            e.push(')');
        }
        if !route.methods.is_empty() {
            or_group(&mut e, route.methods.iter().map(|m| format!("http.method == {}", escape_str(m))));
        }
        if !route.hosts.is_empty() {
            or_group(&mut e, route.hosts.iter().map(|h| host_term(h)));
        }
        if !group.is_empty() {
            or_group(&mut e, group.iter().map(|p| path_term(p)));
        }
        for (name, values) in &route.headers {
            let field = format!("any(lower(http.headers.{}))", name.to_ascii_lowercase().replace('-', "_"));
            or_group(
                &mut e,
                values.iter().map(|v| match v.strip_prefix("~*") {
                    Some(re) => format!("{field} ~ {}", escape_str(&re.to_lowercase())),
                    None => format!("{field} == {}", escape_str(&v.to_lowercase())),
                }),
            );
        }
        let id = if split { split_id(route.id, n) } else { route.id };
        out.push((id, priority(route, group), e));
    }
    out
}
