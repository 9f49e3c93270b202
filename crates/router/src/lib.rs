//! Kong 3.9 `traditional_compatible` router: every HTTP route is compiled once, in [`Router::build`], into one
//! immutable matcher that answers [`Router::find`] without I/O and without allocating on the plain-path case.
//!
//! Semantics follow `kong/router/transform.lua` (expression and priority per route, split of multi-path
//! routes), `kong/router/atc.lua` (match result) and `kong/router/utils.lua` (v0 upstream URI). The engine
//! itself is not `atc-router`: routes are indexed by host and by plain path prefix so that a lookup only
//! evaluates candidates, in the same (priority, id) order as `atc-router`'s reversed `BTreeMap`.

#![warn(missing_docs)]

mod compile;
mod entity;
mod expr;
mod index;
mod normalize;
mod upstream;

use std::borrow::Cow;

pub use expr::kong_expressions;
pub use normalize::{escape, normalize_path};
pub use upstream::sanitize_uri_postfix;

/// `path_handling` of a route: how Kong joins the service path and the request path. Kong's
/// `traditional_compatible` flavor always applies v0; v1 is kept only so a stored route round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathHandling {
    /// Kong's default (`get_upstream_uri_v0`).
    #[default]
    V0,
    /// Only honoured by Kong's `traditional` flavor; treated as v0 here, as Kong's ATC flavors do.
    V1,
}

/// The route fields the router needs, decoupled from the Admin API's JSON so it can be built in tests and
/// benchmarks directly.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    /// Route id; also the tie-breaker between equal priorities (larger id first).
    pub id: uuid::Uuid,
    /// Service the route forwards to; `None` makes the proxy answer 503 after a match.
    pub service_id: Option<uuid::Uuid>,
    /// Exposed so the caller can apply https-only redirects (426/301/...); stream routes are ignored.
    pub protocols: Vec<String>,
    /// Request methods, compared exactly (Kong stores them upper-case).
    pub methods: Vec<String>,
    /// Hosts: exact, `*.suffix`, `prefix.*`, each optionally with `:port`.
    pub hosts: Vec<String>,
    /// Kong sets the plain-host priority bit when `hosts` is an array, even an empty one, but not when it
    /// is null; this keeps that distinction (`true` whenever `hosts` is non-empty).
    pub hosts_is_array: bool,
    /// Plain prefixes (`/p`) or regexes (`~/re`).
    pub paths: Vec<String>,
    /// Header name → accepted values (`~*re` = case-insensitive regex).
    pub headers: Vec<(String, Vec<String>)>,
    /// TLS server names; only checked when the request scheme is https.
    pub snis: Vec<String>,
    /// Orders regex routes among themselves (bits 19-50 of the priority).
    pub regex_priority: i64,
    /// Whether the matched prefix is removed from the upstream path.
    pub strip_path: bool,
    /// Whether the upstream Host header is the request's.
    pub preserve_host: bool,
    /// Whether the proxy reads the whole request body before sending it upstream (Kong's default).
    pub request_buffering: bool,
    /// Whether the proxy reads the upstream response ahead of a slow client (Kong's default).
    pub response_buffering: bool,
    /// Upstream path joining rules (v0 only in this flavor).
    pub path_handling: PathHandling,
    /// Kept for incremental-rebuild decisions by the caller.
    pub updated_at: i64,
    /// `https_redirect_status_code`, so the caller can answer https-only routes hit over http.
    pub https_redirect_status_code: u16,
    /// The route entity as stored, shared so plugins can read it (Kong's `kong.router.get_route()`)
    /// without a copy per request.
    pub entity: std::sync::Arc<StoredEntity>,
}

impl RouteSpec {
    /// A route with Kong's schema defaults (http+https, strip_path, v0, 426), for tests and builders.
    pub fn new(id: uuid::Uuid) -> RouteSpec {
        RouteSpec {
            id,
            service_id: None,
            protocols: vec!["http".into(), "https".into()],
            methods: Vec::new(),
            hosts: Vec::new(),
            hosts_is_array: false,
            paths: Vec::new(),
            headers: Vec::new(),
            snis: Vec::new(),
            regex_priority: 0,
            strip_path: true,
            preserve_host: false,
            request_buffering: true,
            response_buffering: true,
            path_handling: PathHandling::V0,
            updated_at: 0,
            https_redirect_status_code: 426,
            entity: std::sync::Arc::new(StoredEntity::new(&serde_json::Map::from_iter([(
                "id".to_string(),
                id.to_string().into(),
            )]))),
        }
    }

    /// Reads a route entity as the Admin API stores it (Kong's JSON shape, `service` as `{"id": …}`).
    pub fn from_entity(route: &serde_json::Map<String, serde_json::Value>) -> Result<RouteSpec, String> {
        entity::from_entity(route)
    }

    /// Whether the route belongs to the stream subsystem, which this HTTP router ignores.
    pub fn is_stream(&self) -> bool {
        self.protocols.first().is_some_and(|p| matches!(p.as_str(), "tcp" | "tls" | "udp" | "tls_passthrough"))
    }
}

/// Request headers as the router sees them; implemented by the proxy over its header map so no copy is made.
pub trait Headers {
    /// Calls `f` on each value of header `name` (given lower-case with dashes; compare case-insensitively)
    /// until it returns true; returns whether any call did.
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool;
}

/// No headers at all, for requests built in tests and benchmarks.
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn any_value(&self, _name: &str, _f: &mut dyn FnMut(&str) -> bool) -> bool {
        false
    }
}

impl Headers for &[(&str, &str)] {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && f(v))
    }
}

/// The request fields Kong's router reads (`kong/router/fields.lua`).
pub struct Request<'a> {
    /// Request method, compared exactly.
    pub method: &'a str,
    /// Host header value, possibly with `:port` (which then replaces the server port).
    pub host: &'a str,
    /// Request path without the query string; normalized by `find` when needed.
    pub path: &'a str,
    /// `http` or `https`; SNI predicates only apply to `https`.
    pub scheme: &'a str,
    /// Local server port, used when the Host header has no port.
    pub port: u16,
    /// Header lookup.
    pub headers: &'a dyn Headers,
    /// TLS server name, if the connection is TLS.
    pub sni: Option<&'a str>,
}

/// Regex captures of the matched path (`matches.uri_captures`), owned so a match outlives the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// Group 0 (whole match) then numbered groups; `None` for groups that did not participate.
    pub numbered: Vec<Option<String>>,
    /// Named groups that participated, in pattern order.
    pub named: Vec<(String, String)>,
}

impl Captures {
    /// Kong only exposes `uri_captures` when there is something besides group 0.
    pub fn is_empty(&self) -> bool {
        self.numbered.len() <= 1 && self.named.is_empty()
    }
}

/// Result of [`Router::find`]: the route plus what Kong derives from the match.
#[derive(Debug, Clone)]
pub struct Match<'r> {
    /// The matched route (the original one, even when Kong split it by path).
    pub route: &'r RouteSpec,
    /// Matched path (prefix literal or whole regex match) when `strip_path`, as Kong's `match_t.prefix`.
    pub prefix: Option<Cow<'r, str>>,
    /// Matched path whatever `strip_path` says (for `X-Forwarded-Prefix`-like uses), `None` for host-only.
    pub matched_path: Option<Cow<'r, str>>,
    /// Regex captures; empty for prefix or host-only matches.
    pub captures: Captures,
    /// Priority of the matcher that won; with `matcher_id` it orders matches from different routers.
    pub priority: u64,
    /// Id of the matcher that won (the route id, or Kong's derived id for one path group of a split route);
    /// equal priorities go to the larger id.
    pub matcher_id: uuid::Uuid,
}

impl Match<'_> {
    /// Upstream path per Kong's `get_upstream_uri_v0`, then escaped as `handler.lua` does. The query string
    /// is the caller's to append. `service_path` `None` means `/`.
    pub fn upstream_uri(&self, service_path: Option<&str>, normalized_request_path: &str) -> String {
        upstream::upstream_uri(self, service_path, normalized_request_path)
    }
}

/// The compiled router: immutable, `Send + Sync`, meant to be shared behind an `Arc` and replaced whole.
pub struct Router {
    routes: Vec<std::sync::Arc<RouteSpec>>,
    matchers: Vec<compile::Matcher>,
    index: index::Index,
    errors: Vec<(uuid::Uuid, String)>,
}

impl Router {
    /// Compiles all routes; routes that cannot compile (bad regex, bad host) are skipped and reported in
    /// [`Router::errors`], as Kong logs and skips them. Stream routes are ignored silently.
    pub fn build(routes: Vec<RouteSpec>) -> Router {
        Router::build_shared(routes.into_iter().map(std::sync::Arc::new).collect())
    }

    /// Like [`Router::build`], for callers that keep their route specs across rebuilds: the specs are shared,
    /// not copied, so a rebuild after one change costs only compiling and indexing.
    pub fn build_shared(routes: Vec<std::sync::Arc<RouteSpec>>) -> Router {
        let mut errors = Vec::new();
        let mut matchers = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            if r.is_stream() {
                continue;
            }
            match compile::compile_route(r, i) {
                Ok(ms) => matchers.extend(ms),
                Err(e) => errors.push((r.id, e)),
            }
        }
        // atc-router iterates its BTreeMap<(priority, uuid)> in reverse: highest first, ties to larger uuid.
        matchers.sort_unstable_by_key(|m| std::cmp::Reverse((m.priority, m.id)));
        let index = index::Index::build(&matchers);
        Router { routes, matchers, index, errors }
    }

    /// Routes skipped by [`Router::build`], with the reason, for logging by the caller.
    pub fn errors(&self) -> &[(uuid::Uuid, String)] {
        &self.errors
    }

    /// Number of matchers after splitting, for diagnostics and benchmarks.
    pub fn len(&self) -> usize {
        self.matchers.len()
    }

    /// Whether no route compiled.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }

    /// Highest-priority route matching the request, or `None` (Kong's 404 "no Route matched").
    pub fn find(&self, req: &Request<'_>) -> Option<Match<'_>> {
        self.find_filtered(req, &|_| false)
    }

    /// Like [`Router::find`], ignoring routes for which `skip` is true. A caller that layers a small router of
    /// recent changes over a large one uses it to hide the large router's stale versions of changed routes.
    pub fn find_filtered(&self, req: &Request<'_>, skip: &dyn Fn(&RouteSpec) -> bool) -> Option<Match<'_>> {
        // Nothing to find: skip normalising the request (an empty layer of a layered router is common).
        if self.matchers.is_empty() {
            return None;
        }
        let path = normalize_path(req.path);
        let (host, port) = compile::split_host_port(req.host);
        let port = port.unwrap_or(req.port);
        let mut buf = [0u8; 256];
        let lower: Cow<'_, str> = compile::lower_host(host, &mut buf);
        let ctx = compile::Ctx { req, host: &lower, port, path: &path };
        let allow = |rank: usize| self.matchers.get(rank).is_some_and(|m| !skip(&self.routes[m.route]));
        let best = self.index.best(&self.matchers, &ctx, &allow)?;
        let m = &self.matchers[best];
        let route = &self.routes[m.route];
        let (matched_path, captures) = m.path_result(&path);
        let prefix = if route.strip_path { matched_path.clone() } else { None };
        Some(Match { route, prefix, matched_path, captures, priority: m.priority, matcher_id: m.id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Router>();
    }
}

/// An entity as stored (for plugins: Kong's `kong.router.get_route()`), kept as compact JSON text and
/// parsed on first use. A parsed map costs about 3 KB per route, which 10,000 routes would feel, and most
/// routes are never asked for theirs.
#[derive(Debug)]
pub struct StoredEntity {
    text: Box<str>,
    parsed: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>>,
}

/// Equal when the stored text is (what the route was built from).
impl PartialEq for StoredEntity {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl StoredEntity {
    /// Keeps `entity` as compact JSON text.
    pub fn new(entity: &serde_json::Map<String, serde_json::Value>) -> StoredEntity {
        let text = serde_json::to_string(entity).unwrap_or_else(|_| "{}".to_string());
        StoredEntity { text: text.into_boxed_str(), parsed: std::sync::OnceLock::new() }
    }

    /// The entity, parsed the first time it is asked for (once per snapshot, not per request).
    pub fn get(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.parsed.get_or_init(|| serde_json::from_str(&self.text).unwrap_or_default())
    }
}
