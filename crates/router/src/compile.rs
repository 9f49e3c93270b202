//! Route → matcher(s): Kong's `get_expression` predicates as data, `get_priority`, and
//! `split_routes_and_services_by_path`.

use std::borrow::Cow;

use regex::Regex;
use uuid::Uuid;

use crate::{Captures, Request, RouteSpec};

/// Namespace of the UUIDv5 ids Kong gives to the parts of a split route (`transform.lua`).
const SPLIT_NAMESPACE: Uuid = Uuid::from_u128(0x7f145bf9_0dce_4f91_98eb_debbce4b9f6b);

const PLAIN_HOST_ONLY_BIT: u64 = 1 << 60;
const REGEX_URL_BIT: u64 = 1 << 51;
const MAX_HEADER_COUNT: u64 = 255;

/// How a host or SNI pattern compares (`==`, `=^` postfix, `^=` prefix in ATC terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HostKind {
    Exact,
    Suffix,
    Prefix,
}

/// One compiled host (lower-cased; `*` removed) with its optional port.
#[derive(Debug)]
pub(crate) struct HostPat {
    pub kind: HostKind,
    pub value: Box<str>,
    pub port: Option<u16>,
}

impl HostPat {
    fn matches(&self, host: &str, port: u16) -> bool {
        let ok = match self.kind {
            HostKind::Exact => host == &*self.value,
            HostKind::Suffix => host.ends_with(&*self.value),
            HostKind::Prefix => host.starts_with(&*self.value),
        };
        ok && self.port.is_none_or(|p| p == port)
    }
}

/// Path predicates of one (split) matcher.
#[derive(Debug)]
pub(crate) enum Paths {
    Any,
    Plain(Vec<Box<str>>),
    Regex(Vec<Regex>),
}

#[derive(Debug, Clone)]
enum HeaderVal {
    Eq(Box<str>),
    Re(Regex),
}

#[derive(Debug, Clone)]
struct HeaderPat {
    name: Box<str>,
    values: Vec<HeaderVal>,
}

/// One ATC matcher: a route, or one path group of a split route.
#[derive(Debug)]
pub(crate) struct Matcher {
    pub route: usize,
    pub id: Uuid,
    pub priority: u64,
    methods: Vec<Box<str>>,
    pub hosts: Vec<HostPat>,
    pub paths: Paths,
    headers: Vec<HeaderPat>,
    snis: Vec<HostPat>,
}

/// Request fields prepared once per lookup.
pub(crate) struct Ctx<'a> {
    pub req: &'a Request<'a>,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
}

/// Kong's `split_host_port`: the part after the first `:` is a port only if it is a number.
/// Byte-wise: it runs on every request's `Host`.
pub(crate) fn split_host_port(h: &str) -> (&str, Option<u16>) {
    let Some(colon) = h.bytes().position(|b| b == b':') else { return (h, None) };
    let port = &h.as_bytes()[colon + 1..];
    if port.is_empty() {
        return (h, None);
    }
    let number = port.iter().try_fold(0u16, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u16::from(b - b'0')),
        _ => None,
    });
    match number {
        Some(p) => (&h[..colon], Some(p)),
        None => (h, None),
    }
}

/// Lower-cases a request host without allocating for the usual (short or already lower-case) host.
pub(crate) fn lower_host<'b>(host: &'b str, buf: &'b mut [u8; 256]) -> Cow<'b, str> {
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(host);
    }
    if host.len() <= buf.len() {
        let out = &mut buf[..host.len()];
        out.copy_from_slice(host.as_bytes());
        out.make_ascii_lowercase();
        if let Ok(s) = std::str::from_utf8(out) {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(host.to_ascii_lowercase())
}

fn is_regex(p: &str) -> bool {
    p.starts_with('~')
}

fn compile_host(h: &str) -> HostPat {
    let (host, port) = split_host_port(h);
    let host = host.to_ascii_lowercase();
    let (kind, value) = if let Some(rest) = host.strip_prefix('*') {
        (HostKind::Suffix, rest.to_owned())
    } else if let Some(rest) = host.strip_suffix('*') {
        (HostKind::Prefix, rest.to_owned())
    } else {
        (HostKind::Exact, host)
    };
    HostPat { kind, value: value.into(), port }
}

/// `sni_op_transform` + `sni_val_transform`: trailing dot dropped (except for `x.*`), `*` removed.
fn compile_sni(s: &str) -> HostPat {
    let s = s.to_ascii_lowercase();
    if let Some(rest) = s.strip_suffix('*').filter(|_| !s.starts_with('*')) {
        return HostPat { kind: HostKind::Prefix, value: rest.into(), port: None };
    }
    let s = if s.len() > 1 { s.strip_suffix('.').unwrap_or(&s) } else { &s };
    match s.strip_prefix('*') {
        Some(rest) => HostPat { kind: HostKind::Suffix, value: rest.into(), port: None },
        None => HostPat { kind: HostKind::Exact, value: s.into(), port: None },
    }
}

/// `path_val_transform` for regexes: anchored at the start, `(?<name>` spelled `(?P<name>`.
pub(crate) fn compile_path_regex(p: &str) -> Result<Regex, String> {
    let src = format!("^{}", p.get(1..).unwrap_or("").replace("?<", "?P<"));
    Regex::new(&src).map_err(|e| format!("invalid regex path {p:?}: {e}"))
}

/// Kong's `group_by_regex_or_length`: all regexes in one group, one group per plain length, in order of
/// first appearance.
pub(crate) fn group_paths(paths: &[String]) -> Vec<Vec<&str>> {
    let mut keys: Vec<usize> = Vec::new();
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for p in paths {
        let k = if is_regex(p) { 0 } else { p.len() };
        match keys.iter().position(|&x| x == k) {
            Some(i) => groups[i].push(p),
            None => {
                keys.push(k);
                groups.push(vec![p]);
            }
        }
    }
    groups
}

/// Id of the `n`-th (0-based) part of a split route: UUIDv5 of `"<route id>#<n + 1>"`.
pub(crate) fn split_id(id: Uuid, n: usize) -> Uuid {
    Uuid::new_v5(&SPLIT_NAMESPACE, format!("{}#{}", id.hyphenated(), n + 1).as_bytes())
}

/// Kong's `get_priority` for an http route whose paths are one group.
pub(crate) fn priority(r: &RouteSpec, paths: &[&str]) -> u64 {
    let headers = (r.headers.len() as u64).min(MAX_HEADER_COUNT);
    let weight = [!r.methods.is_empty(), !r.hosts.is_empty(), headers > 0, !r.snis.is_empty(), !paths.is_empty()]
        .iter()
        .filter(|b| **b)
        .count() as u64;
    let plain_host_only = (r.hosts_is_array || !r.hosts.is_empty()) && !r.hosts.iter().any(|h| h.contains('*'));
    let regex_url = paths.first().is_some_and(|p| is_regex(p));
    let uri_length = match paths.first() {
        Some(p) if !regex_url => p.len() as u64,
        _ => 0,
    };
    let regex_priority = if regex_url { r.regex_priority } else { 0 };
    // Kong's `lshift_uint64` (kong/router/transform.lua) rebinds its uint64 cdata to the Lua number it is
    // given, so for numbers LuaJIT performs a 32-bit shift with the count taken mod 32: the weight lands
    // at bit 29 (not 61), the header count at bit 20 (not 52), and a weight of 4 or more sets the 32-bit
    // sign bit, which spreads over the high word when the value is widened to uint64. Only the two flags,
    // built from 64-bit constants, sit where the documentation says. We reproduce what Kong computes
    // (checked against LuaJIT 2.1), because that is the order Kong's users' routes match in.
    let spread =
        luajit_lshift32(weight as i64, 61) | luajit_lshift32(headers as i64, 52) | luajit_lshift32(regex_priority, 19);
    (spread as u64)
        | if plain_host_only { PLAIN_HOST_ONLY_BIT } else { 0 }
        | if regex_url { REGEX_URL_BIT } else { 0 }
        | (uri_length & 0x7FFFF)
}

/// Compiles one route into one matcher per path group (one when it needs no split).
pub(crate) fn compile_route(r: &RouteSpec, route: usize) -> Result<Vec<Matcher>, String> {
    if r.methods.is_empty() && r.hosts.is_empty() && r.paths.is_empty() && r.headers.is_empty() && r.snis.is_empty() {
        // Kong's expression would be empty and atc-router rejects it.
        return Err("route has no methods, hosts, paths, headers or snis".into());
    }
    let mut headers = Vec::with_capacity(r.headers.len());
    for (name, values) in &r.headers {
        let mut vals = Vec::with_capacity(values.len());
        for v in values {
            let v = v.to_lowercase();
            vals.push(match v.strip_prefix("~*") {
                Some(re) => HeaderVal::Re(Regex::new(re).map_err(|e| format!("invalid header regex {v:?}: {e}"))?),
                None => HeaderVal::Eq(v.into()),
            });
        }
        if vals.is_empty() {
            return Err(format!("header {name:?} has no values"));
        }
        headers.push(HeaderPat { name: name.to_ascii_lowercase().replace('_', "-").into(), values: vals });
    }
    let groups = if r.paths.is_empty() { vec![Vec::new()] } else { group_paths(&r.paths) };
    let split = groups.len() > 1;
    let mut out = Vec::with_capacity(groups.len());
    for (n, group) in groups.iter().enumerate() {
        let paths = if group.is_empty() {
            Paths::Any
        } else if is_regex(group[0]) {
            Paths::Regex(group.iter().map(|p| compile_path_regex(p)).collect::<Result<_, _>>()?)
        } else {
            Paths::Plain(group.iter().map(|p| Box::<str>::from(*p)).collect())
        };
        let id = if split { split_id(r.id, n) } else { r.id };
        out.push(Matcher {
            route,
            id,
            priority: priority(r, group),
            methods: r.methods.iter().map(|m| Box::<str>::from(m.as_str())).collect(),
            hosts: r.hosts.iter().map(|h| compile_host(h)).collect(),
            paths,
            headers: Vec::new(),
            snis: r.snis.iter().map(|s| compile_sni(s)).collect(),
        });
    }
    for m in &mut out {
        m.headers.clone_from(&headers);
    }
    Ok(out)
}

fn header_value_matches(pat: &HeaderVal, value: &str) -> bool {
    match pat {
        HeaderVal::Eq(s) if value.is_ascii() => value.eq_ignore_ascii_case(s),
        HeaderVal::Eq(s) => value.to_lowercase() == **s,
        HeaderVal::Re(re) => {
            if value.chars().any(|c| c.is_uppercase()) {
                re.is_match(&value.to_lowercase())
            } else {
                re.is_match(value)
            }
        }
    }
}

impl Matcher {
    /// Whether every predicate of Kong's expression for this matcher holds.
    pub(crate) fn matches(&self, ctx: &Ctx<'_>) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| **m == *ctx.req.method) {
            return false;
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.matches(ctx.host, ctx.port)) {
            return false;
        }
        if !self.snis.is_empty() && ctx.req.scheme == "https" {
            let Some(sni) = ctx.req.sni else { return false };
            let mut buf = [0u8; 256];
            let sni = lower_host(sni, &mut buf);
            if !self.snis.iter().any(|s| s.matches(&sni, 0)) {
                return false;
            }
        }
        for h in &self.headers {
            if !ctx.req.headers.any_value(&h.name, &mut |v| h.values.iter().any(|p| header_value_matches(p, v))) {
                return false;
            }
        }
        match &self.paths {
            Paths::Any => true,
            Paths::Plain(ps) => ps.iter().any(|p| ctx.path.starts_with(&**p)),
            Paths::Regex(rs) => rs.iter().any(|r| r.is_match(ctx.path)),
        }
    }

    /// The matched path value and captures, as `get_result("http.path")` returns them.
    pub(crate) fn path_result<'r>(&'r self, path: &str) -> (Option<Cow<'r, str>>, Captures) {
        match &self.paths {
            Paths::Any => (None, Captures::default()),
            Paths::Plain(ps) => {
                (ps.iter().find(|p| path.starts_with(&***p)).map(|p| Cow::Borrowed(&**p)), Captures::default())
            }
            Paths::Regex(rs) => {
                for re in rs {
                    if let Some(c) = re.captures(path) {
                        let whole = c.get(0).map(|m| m.as_str().to_owned());
                        let numbered = c.iter().map(|g| g.map(|m| m.as_str().to_owned())).collect();
                        let named = re
                            .capture_names()
                            .flatten()
                            .filter_map(|n| c.name(n).map(|m| (n.to_owned(), m.as_str().to_owned())))
                            .collect();
                        return (whole.map(Cow::Owned), Captures { numbered, named });
                    }
                }
                (None, Captures::default())
            }
        }
    }
}

/// LuaJIT's `bit.lshift` on a Lua number: the value is taken as an int32, the count mod 32, and the signed
/// 32-bit result is sign-extended when later combined with 64-bit values or passed as a `uint64_t`.
fn luajit_lshift32(value: i64, count: u32) -> i64 {
    i64::from((value as i32).wrapping_shl(count))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn a_port_is_a_number_after_the_first_colon() {
        assert_eq!(split_host_port("a.test:8000"), ("a.test", Some(8000)));
        assert_eq!(split_host_port("a.test:0080"), ("a.test", Some(80)));
        assert_eq!(split_host_port("a.test"), ("a.test", None));
        for not_a_port in ["a.test:", "a.test:99999", "a.test:+80", "a.test:8x", "[::1]:80"] {
            assert_eq!(split_host_port(not_a_port), (not_a_port, None), "{not_a_port}");
        }
    }
}
