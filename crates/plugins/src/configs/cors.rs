//! `cors` (`kong/plugins/cors/handler.lua`): origins split into exact origins and anchored regexes, and
//! the header values joined once.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// Kong's default `Access-Control-Allow-Methods` when `methods` is null.
const ALL_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

#[derive(Debug)]
pub struct Config {
    pub origins: Origins,
    /// `Access-Control-Allow-Headers`; `None` echoes the request's `Access-Control-Request-Headers`.
    pub allow_headers: Option<String>,
    /// `Access-Control-Expose-Headers`, when any.
    pub expose_headers: Option<String>,
    /// `Access-Control-Allow-Methods`.
    pub allow_methods: String,
    /// `Access-Control-Max-Age`, as Lua's `tostring` renders the number.
    pub max_age: Option<String>,
    pub credentials: bool,
    pub private_network: bool,
    pub preflight_continue: bool,
}

/// How `configure_origin` decides `Access-Control-Allow-Origin`.
#[derive(Debug)]
pub enum Origins {
    /// No origins, or only `*`: `*` for everyone, without `Vary`.
    Any,
    /// One origin that cannot be a regex: sent as configured.
    Fixed(String),
    /// Matched against the request's `Origin`; `wildcard` when the list contains `*`, which allows any origin
    /// (a request without `Origin` still gets none).
    List { wildcard: bool, matchers: Vec<OriginMatcher> },
}

#[derive(Debug)]
pub enum OriginMatcher {
    /// A plain origin, compared with the request's normalised origin.
    Exact(String),
    /// A regex anchored as Kong anchors it; `by_host` (no `:` in the entry) matches the request's host rather
    /// than its whole normalised origin.
    Regex { regex: Regex, by_host: bool },
}

/// What `configure_origin` does for one request.
#[derive(Debug, PartialEq, Eq)]
pub struct OriginDecision {
    /// `Access-Control-Allow-Origin`, or `None` to clear it.
    pub allow_origin: Option<String>,
    /// Whether every origin is allowed (`configure_credentials` then echoes the request's origin).
    pub allow_all: bool,
    /// Whether `Vary: Origin` is added.
    pub vary: bool,
}

#[derive(Deserialize)]
struct Raw {
    origins: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    exposed_headers: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    max_age: Option<serde_json::Number>,
    credentials: bool,
    private_network: bool,
    preflight_continue: bool,
}

/// `re_find(origin, "^[A-Za-z0-9.:/-]+$")`: an origin Kong compares literally.
fn is_plain(origin: &str) -> bool {
    !origin.is_empty() && origin.bytes().all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b))
}

fn non_empty_join(list: Option<Vec<String>>) -> Option<String> {
    list.filter(|l| !l.is_empty()).map(|l| l.join(","))
}

/// Lua's `tostring` of a number.
fn lua_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid cors config: {e}"))?;
    let origins = raw.origins.unwrap_or_default();
    let origins = match origins.as_slice() {
        [] => Origins::Any,
        [only] if only == "*" => Origins::Any,
        [only] if is_plain(only) => Origins::Fixed(only.clone()),
        list => {
            let mut matchers = Vec::new();
            for entry in list.iter().filter(|e| *e != "*") {
                if is_plain(entry) {
                    matchers.push(OriginMatcher::Exact(normalize_origin(entry).domain));
                    continue;
                }
                // Kong 0.x did not anchor regexes: `$` is appended and a leading `^` dropped, then the match is
                // anchored at the start.
                let mut pattern = entry.strip_prefix('^').unwrap_or(entry).to_string();
                if !entry.ends_with('$') {
                    pattern.push('$');
                }
                let regex =
                    Regex::new(&format!("^(?:{pattern})")).map_err(|e| format!("invalid origin '{entry}': {e}"))?;
                matchers.push(OriginMatcher::Regex { regex, by_host: !entry.contains(':') });
            }
            Origins::List { wildcard: list.iter().any(|e| e == "*"), matchers }
        }
    };
    Ok(Config {
        origins,
        allow_headers: non_empty_join(raw.headers),
        expose_headers: non_empty_join(raw.exposed_headers),
        allow_methods: raw.methods.map_or_else(|| ALL_METHODS.to_string(), |m| m.join(",")),
        max_age: raw.max_age.as_ref().map(lua_number),
        credentials: raw.credentials,
        private_network: raw.private_network,
        preflight_continue: raw.preflight_continue,
    })
}

/// An origin as `normalize_origin` sees it (LuaSocket's `url.parse`).
#[derive(Debug, PartialEq, Eq)]
pub struct NormalizedOrigin {
    /// `scheme://host[:port]`, without the scheme's default port; the input when it has no host.
    pub domain: String,
    pub host: String,
}

pub fn normalize_origin(origin: &str) -> NormalizedOrigin {
    let plain = || NormalizedOrigin { domain: origin.to_string(), host: origin.to_string() };
    let mut rest = origin;
    let mut scheme = None;
    if let Some(i) = rest.find(':') {
        let candidate = &rest[..i];
        let valid = candidate.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if valid {
            scheme = Some(candidate);
            rest = &rest[i + 1..];
        }
    }
    let Some(after) = rest.strip_prefix("//") else {
        return plain();
    };
    let mut authority = &after[..after.find('/').unwrap_or(after.len())];
    if let Some(at) = authority.find('@') {
        authority = &authority[at + 1..];
    }
    let mut port = None;
    if let Some(colon) = authority.rfind(':') {
        if !authority[colon + 1..].contains(']') {
            port = Some(&authority[colon + 1..]);
            authority = &authority[..colon];
        }
    }
    if authority.is_empty() {
        return plain();
    }
    let host =
        authority.strip_prefix('[').and_then(|h| h.strip_suffix(']')).filter(|h| !h.is_empty()).unwrap_or(authority);
    if matches!((scheme, port), (Some("http"), Some("80")) | (Some("https"), Some("443"))) {
        port = None;
    }
    let mut domain = scheme.map(|s| format!("{s}://")).unwrap_or_default();
    domain.push_str(host);
    if let Some(p) = port {
        domain.push(':');
        domain.push_str(p);
    }
    NormalizedOrigin { domain, host: host.to_string() }
}

impl Config {
    /// `configure_origin` for a request with this `Origin` header.
    pub fn decide_origin(&self, request_origin: Option<&str>) -> OriginDecision {
        let decision = |allow_origin: Option<String>, allow_all| OriginDecision { allow_origin, allow_all, vary: true };
        match &self.origins {
            Origins::Any => OriginDecision { allow_origin: Some("*".into()), allow_all: true, vary: false },
            Origins::Fixed(origin) => decision(Some(origin.clone()), false),
            Origins::List { wildcard, matchers } => {
                let Some(origin) = request_origin else {
                    return decision(None, false);
                };
                if *wildcard {
                    return decision(Some("*".into()), true);
                }
                let normalized = normalize_origin(origin);
                let found = matchers.iter().any(|m| match m {
                    OriginMatcher::Exact(domain) => *domain == normalized.domain,
                    OriginMatcher::Regex { regex, by_host } => {
                        regex.is_match(if *by_host { &normalized.host } else { &normalized.domain })
                    }
                });
                decision(found.then_some(normalized.domain), false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn compiled(config: Value) -> Result<Config, String> {
        compile(&validated("cors", config))
    }

    #[test]
    fn defaults() {
        let c = compiled(json!({})).unwrap();
        assert!(matches!(c.origins, Origins::Any));
        assert_eq!(c.allow_methods, ALL_METHODS);
        assert_eq!((c.allow_headers, c.expose_headers, c.max_age), (None, None, None));
        let d = compiled(json!({"origins": ["*"]})).unwrap().decide_origin(Some("http://x"));
        assert_eq!(d, OriginDecision { allow_origin: Some("*".into()), allow_all: true, vary: false });
    }

    #[test]
    fn joined_headers() {
        let c = compiled(json!({
            "headers": ["X-A", "X-B"], "exposed_headers": [], "methods": ["GET", "POST"], "max_age": 3600,
        }))
        .unwrap();
        assert_eq!(c.allow_headers.as_deref(), Some("X-A,X-B"));
        assert_eq!(c.expose_headers, None);
        assert_eq!(c.allow_methods, "GET,POST");
        assert_eq!(c.max_age.as_deref(), Some("3600"));
        let c = compiled(json!({"methods": null, "max_age": 1.5})).unwrap();
        assert_eq!((c.allow_methods.as_str(), c.max_age.as_deref()), (ALL_METHODS, Some("1.5")));
        assert!(compile(&json!({"origins": 1})).is_err());
    }

    #[test]
    fn origins() {
        let c = compiled(json!({"origins": ["http://example.com"]})).unwrap();
        assert!(matches!(&c.origins, Origins::Fixed(o) if o == "http://example.com"));
        assert_eq!(c.decide_origin(None).allow_origin.as_deref(), Some("http://example.com"));

        let c = compiled(json!({"origins": ["http://a.test:80", r"^.*\.b\.test", "https://c.test:8443"]})).unwrap();
        let allow = |o: &str| c.decide_origin(Some(o)).allow_origin;
        assert_eq!(allow("http://a.test").as_deref(), Some("http://a.test"));
        assert_eq!(allow("http://x.b.test:8000").as_deref(), Some("http://x.b.test:8000"));
        assert_eq!(allow("http://x.b.test.evil"), None);
        assert_eq!(allow("https://c.test:8443").as_deref(), Some("https://c.test:8443"));
        assert_eq!(allow("https://c.test"), None);
        assert_eq!(c.decide_origin(None), OriginDecision { allow_origin: None, allow_all: false, vary: true });

        // An entry with a colon matches the whole normalised origin.
        let c = compiled(json!({"origins": [r"https?://(www\.)?d\.test", "x.test"]})).unwrap();
        assert!(c.decide_origin(Some("https://www.d.test:443")).allow_origin.is_some());
        assert!(c.decide_origin(Some("ftp://d.test")).allow_origin.is_none());

        let c = compiled(json!({"origins": ["http://a.test", "*"]})).unwrap();
        assert!(c.decide_origin(Some("http://z.test")).allow_all);
        assert_eq!(c.decide_origin(None).allow_origin, None);
        // A PCRE-only regex, which the schema rejects.
        let mut lookahead = validated("cors", json!({}));
        lookahead["origins"] = json!(["(?=x)", "a"]);
        assert!(compile(&lookahead).is_err());
    }

    #[test]
    fn normalize() {
        let n = |s: &str| normalize_origin(s);
        assert_eq!(n("https://h.test:443/p").domain, "https://h.test");
        assert_eq!(n("http://u@h.test:8080").domain, "http://h.test:8080");
        assert_eq!(n("http://[::1]:80"), NormalizedOrigin { domain: "http://::1".into(), host: "::1".into() });
        assert_eq!(n("example.com"), NormalizedOrigin { domain: "example.com".into(), host: "example.com".into() });
        assert_eq!(n("example.com:8080").domain, "example.com:8080");
    }
}
