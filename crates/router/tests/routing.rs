//! Routing semantics and priority, written from Kong's documented traditional_compatible rules
//! (transform.lua get_priority / get_expression, atc.lua) and cases of spec/01-unit/08-router_spec.lua.

use gatehouse_router::{normalize_path, Headers, NoHeaders, Request, RouteSpec, Router};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0xe8fb37f1_102d_461e_9c51_6608a6bb8100 + n)
}

fn route(n: u128, f: impl FnOnce(&mut RouteSpec)) -> RouteSpec {
    let mut r = RouteSpec::new(id(n));
    f(&mut r);
    r.hosts_is_array = !r.hosts.is_empty();
    r
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

struct Q<'a> {
    method: &'a str,
    host: &'a str,
    path: &'a str,
    scheme: &'a str,
    headers: &'a [(&'a str, &'a str)],
    sni: Option<&'a str>,
}

fn q<'a>(method: &'a str, host: &'a str, path: &'a str) -> Q<'a> {
    Q { method, host, path, scheme: "http", headers: &[], sni: None }
}

fn find(router: &Router, q: &Q<'_>) -> Option<u128> {
    let headers: &dyn Headers = if q.headers.is_empty() { &NoHeaders } else { &q.headers };
    let req =
        Request { method: q.method, host: q.host, path: q.path, scheme: q.scheme, port: 8000, headers, sni: q.sni };
    router.find(&req).map(|m| m.route.id.as_u128() - id(0).as_u128())
}

/// (description, routes, request, expected route number)
#[test]
fn priority_table() {
    type Case = (&'static str, Vec<RouteSpec>, Q<'static>, Option<u128>);
    let cases: Vec<Case> = vec![
        (
            "regex beats prefix of equal weight",
            vec![route(1, |r| r.paths = strs(&["/users"])), route(2, |r| r.paths = strs(&[r"~/users/\d+"]))],
            q("GET", "x.test", "/users/12"),
            Some(2),
        ),
        (
            "longer prefix wins",
            vec![route(1, |r| r.paths = strs(&["/a"])), route(2, |r| r.paths = strs(&["/a/bb"]))],
            q("GET", "x.test", "/a/bb/c"),
            Some(2),
        ),
        (
            "plain prefix is a string prefix",
            vec![route(1, |r| r.paths = strs(&["/route"]))],
            q("GET", "x", "/routereq"),
            Some(1),
        ),
        (
            "plain host beats wildcard host",
            vec![route(1, |r| r.hosts = strs(&["*.route.com"])), route(2, |r| r.hosts = strs(&["plain.route.com"]))],
            q("GET", "plain.route.com", "/"),
            Some(2),
        ),
        (
            "leftmost wildcard",
            vec![route(1, |r| r.hosts = strs(&["*.route.com"]))],
            q("GET", "foo.route.com", "/"),
            Some(1),
        ),
        ("rightmost wildcard", vec![route(1, |r| r.hosts = strs(&["route.*"]))], q("GET", "route.org", "/"), Some(1)),
        (
            "wildcard does not match bare",
            vec![route(1, |r| r.hosts = strs(&["*.route.com"]))],
            q("GET", "route.com", "/"),
            None,
        ),
        (
            "more headers win over longer path",
            vec![
                route(1, |r| r.paths = strs(&["/long/long/path"])),
                route(2, |r| {
                    r.paths = strs(&["/l"]);
                    r.headers = vec![("version".into(), strs(&["v1"]))];
                }),
            ],
            Q { headers: &[("version", "V1")], ..q("GET", "x", "/long/long/path") },
            Some(2),
        ),
        (
            "match weight beats header count",
            vec![
                route(1, |r| r.headers = vec![("a".into(), strs(&["1"])), ("b".into(), strs(&["2"]))]),
                route(2, |r| {
                    r.headers = vec![("a".into(), strs(&["1"]))];
                    r.methods = strs(&["GET"]);
                }),
            ],
            Q { headers: &[("a", "1"), ("b", "2")], ..q("GET", "x", "/") },
            Some(2), // match weight (2 fields) outranks header count (route 1: 1 field, 2 headers)
        ),
        (
            "header count orders routes of equal weight",
            vec![
                route(1, |r| {
                    r.headers = vec![("a".into(), strs(&["1"])), ("b".into(), strs(&["2"]))];
                    r.methods = strs(&["GET"]);
                }),
                route(2, |r| {
                    r.headers = vec![("a".into(), strs(&["1"]))];
                    r.methods = strs(&["GET"]);
                }),
            ],
            Q { headers: &[("a", "1"), ("b", "2")], ..q("GET", "x", "/") },
            Some(1),
        ),
        (
            "regex_priority orders regexes",
            vec![
                route(1, |r| {
                    r.paths = strs(&["~/a/.*"]);
                    r.regex_priority = 5;
                }),
                route(2, |r| {
                    r.paths = strs(&["~/a/b"]);
                    r.regex_priority = 1;
                }),
            ],
            q("GET", "x", "/a/b"),
            Some(1),
        ),
        (
            "regex_priority ignored for prefixes",
            vec![
                route(1, |r| {
                    r.paths = strs(&["/a"]);
                    r.regex_priority = 100;
                }),
                route(2, |r| r.paths = strs(&["/a/b"])),
            ],
            q("GET", "x", "/a/b"),
            Some(2),
        ),
        (
            "ties go to the larger id",
            vec![route(1, |r| r.paths = strs(&["/same"])), route(2, |r| r.paths = strs(&["/same"]))],
            q("GET", "x", "/same"),
            Some(2),
        ),
        (
            "methods + hosts + paths beat hosts + paths",
            vec![
                route(1, |r| {
                    r.hosts = strs(&["h.test"]);
                    r.paths = strs(&["/p/long"]);
                }),
                route(2, |r| {
                    r.hosts = strs(&["h.test"]);
                    r.paths = strs(&["/p"]);
                    r.methods = strs(&["GET"]);
                }),
            ],
            q("GET", "h.test", "/p/long"),
            Some(2),
        ),
        ("method mismatch", vec![route(1, |r| r.methods = strs(&["POST"]))], q("GET", "x", "/"), None),
        (
            "[method] does not supersede [uri prefix]",
            vec![route(1, |r| r.methods = strs(&["GET"])), route(2, |r| r.paths = strs(&["/example"]))],
            q("GET", "domain.org", "/example/status/200"),
            Some(2),
        ),
        (
            "host:port prefers port-specific",
            vec![route(1, |r| r.hosts = strs(&["h.test"])), route(2, |r| r.hosts = strs(&["h.test:8000"]))],
            q("GET", "h.test", "/"),
            Some(2), // no port in Host: the server port (8000) is used
        ),
        (
            "host:port uses Host port",
            vec![route(2, |r| r.hosts = strs(&["h.test:8000"]))],
            q("GET", "h.test:81", "/"),
            None,
        ),
        (
            "host:port from Host",
            vec![route(2, |r| r.hosts = strs(&["h.test:81"]))],
            q("GET", "h.test:81", "/"),
            Some(2),
        ),
        ("host is case-insensitive", vec![route(1, |r| r.hosts = strs(&["H.test"]))], q("GET", "h.TEST", "/"), Some(1)),
        (
            "header ~* regex",
            vec![route(1, |r| r.headers = vec![("X-Ver".into(), strs(&[r"~*^V\d+$"]))])],
            Q { headers: &[("x-ver", "v12")], ..q("GET", "x", "/") },
            Some(1),
        ),
        (
            "header regex mismatch",
            vec![route(1, |r| r.headers = vec![("x-ver".into(), strs(&[r"~*^v\d+$"]))])],
            Q { headers: &[("x-ver", "beta")], ..q("GET", "x", "/") },
            None,
        ),
        (
            "header values: any value of any occurrence",
            vec![route(1, |r| r.headers = vec![("x_ver".into(), strs(&["a", "b"]))])],
            Q { headers: &[("x-ver", "c"), ("X-Ver", "B")], ..q("GET", "x", "/") },
            Some(1),
        ),
        ("sni ignored on http", vec![route(1, |r| r.snis = strs(&["s.test"]))], q("GET", "x", "/"), Some(1)),
        (
            "sni checked on https",
            vec![route(1, |r| r.snis = strs(&["*.s.test"]))],
            Q { scheme: "https", sni: Some("a.s.test"), ..q("GET", "x", "/") },
            Some(1),
        ),
        (
            "sni mismatch on https",
            vec![route(1, |r| r.snis = strs(&["s.test"]))],
            Q { scheme: "https", sni: Some("t.test"), ..q("GET", "x", "/") },
            None,
        ),
        ("normalised: dot segments", vec![route(1, |r| r.paths = strs(&["/b"]))], q("GET", "x", "/a/../b"), Some(1)),
        (
            "normalised: %7E decoded",
            vec![route(1, |r| r.paths = strs(&["/~user"]))],
            q("GET", "x", "/%7euser"),
            Some(1),
        ),
        ("normalised: // merged", vec![route(1, |r| r.paths = strs(&["/a/b"]))], q("GET", "x", "//a//b"), Some(1)),
        (
            "https-only route matches on http",
            vec![route(1, |r| {
                r.protocols = strs(&["https"]);
                r.paths = strs(&["/"]);
            })],
            q("GET", "x", "/"),
            Some(1),
        ),
        (
            "stream routes ignored",
            vec![route(1, |r| {
                r.protocols = strs(&["tcp"]);
                r.snis = strs(&["x"]);
            })],
            q("GET", "x", "/"),
            None,
        ),
    ];
    let mut failed = Vec::new();
    for (desc, routes, req, want) in cases {
        let router = Router::build(routes);
        assert!(router.errors().is_empty(), "{desc}: {:?}", router.errors());
        let got = find(&router, &req);
        if got != want {
            failed.push(format!("{desc}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn split_route_groups_have_own_priority() {
    // Kong splits {"/a", "/bbbbbbb"} into two matchers: "/a" (len 2) loses against "/a/bb" (len 5).
    let router = Router::build(vec![
        route(1, |r| r.paths = strs(&["/a", "/bbbbbbb"])),
        route(2, |r| r.paths = strs(&["/a/bb"])),
    ]);
    assert_eq!(router.len(), 3);
    assert_eq!(find(&router, &q("GET", "x", "/a/bb/c")), Some(2));
    assert_eq!(find(&router, &q("GET", "x", "/bbbbbbb")), Some(1));
    assert_eq!(find(&router, &q("GET", "x", "/a")), Some(1));
}

#[test]
fn captures_named_and_numbered() {
    let router = Router::build(vec![route(1, |r| r.paths = strs(&[r"~/users/(?<id>\d+)/(\w+)"]))]);
    let req = Request {
        method: "GET",
        host: "x",
        path: "/users/42/profile/x",
        scheme: "http",
        port: 80,
        headers: &NoHeaders,
        sni: None,
    };
    let m = router.find(&req).expect("match");
    assert_eq!(m.prefix.as_deref(), Some("/users/42/profile"));
    assert_eq!(m.captures.numbered, vec![Some("/users/42/profile".into()), Some("42".into()), Some("profile".into())]);
    assert_eq!(m.captures.named, vec![("id".into(), "42".into())]);
    assert!(!m.captures.is_empty());
    assert_eq!(m.upstream_uri(Some("/up"), "/users/42/profile/x"), "/up/x");
}

#[test]
fn prefix_only_when_strip_path() {
    let router = Router::build(vec![route(1, |r| {
        r.paths = strs(&["/p"]);
        r.strip_path = false;
    })]);
    let req =
        Request { method: "GET", host: "x", path: "/p/q", scheme: "http", port: 80, headers: &NoHeaders, sni: None };
    let m = router.find(&req).expect("match");
    assert_eq!(m.prefix, None);
    assert_eq!(m.matched_path.as_deref(), Some("/p"));
    assert!(m.captures.is_empty());
}

#[test]
fn bad_routes_are_skipped_and_listed() {
    let router =
        Router::build(vec![route(1, |r| r.paths = strs(&["~/(unclosed"])), route(2, |r| r.paths = strs(&["/ok"]))]);
    assert_eq!(router.errors().len(), 1);
    assert_eq!(router.errors()[0].0, id(1));
    assert_eq!(find(&router, &q("GET", "x", "/ok")), Some(2));
    let empty = Router::build(vec![route(3, |_| {})]);
    assert_eq!(empty.errors().len(), 1, "a route without criteria has an empty expression in Kong");
}

#[test]
fn normalize_cases() {
    for (raw, want) in [
        ("/", "/"),
        ("/a/../b", "/b"),
        ("/a/./b/", "/a/b/"),
        ("/%7e/%7E", "/~/~"),
        ("/%2f/%3a", "/%2F/%3A"),
        ("//a///b", "/a/b"),
        ("/a/b/../../..", "/"),
        ("/%2e%2E/x", "/x"),
        ("/%41%62c", "/Abc"),
        ("/a%20b", "/a b"),
        ("/%C3%A9", "/é"),
        ("/%C3", "/%C3"),
    ] {
        assert_eq!(normalize_path(raw), want, "{raw}");
    }
    assert!(matches!(normalize_path("/plain/path"), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn from_entity_reads_kong_shape() {
    let v = serde_json::json!({
        "id": "e8fb37f1-102d-461e-9c51-6608a6bb8101",
        "service": {"id": "e8fb37f1-102d-461e-9c51-6608a6bb8102"},
        "protocols": ["http"], "methods": null, "hosts": [], "paths": ["/x"],
        "headers": {"x-a": ["1"]}, "snis": null, "regex_priority": 3, "strip_path": false,
        "preserve_host": true, "path_handling": "v1", "updated_at": 17, "https_redirect_status_code": 301
    });
    let r = RouteSpec::from_entity(v.as_object().expect("object")).expect("valid");
    assert_eq!(r.id, id(1));
    assert_eq!(r.service_id, Some(id(2)));
    assert!(r.hosts.is_empty() && r.hosts_is_array);
    assert_eq!(r.headers, vec![("x-a".to_string(), vec!["1".to_string()])]);
    assert!(!r.strip_path && r.preserve_host);
    assert_eq!((r.regex_priority, r.updated_at, r.https_redirect_status_code), (3, 17, 301));
    assert!(RouteSpec::from_entity(&serde_json::Map::new()).is_err());
}

/// Kong computes priorities with LuaJIT 32-bit shifts for the numeric parts (see `compile.rs`); these are
/// the exact values LuaJIT 2.1 produces for Kong's `get_priority`, and the order they imply.
#[test]
fn priorities_are_the_values_kong_computes_under_luajit() {
    let plain = route(1, |r| {
        r.hosts = strs(&["a.test"]);
        r.paths = strs(&["/abcd"]);
    });
    let wildcard_with_method = route(2, |r| {
        r.hosts = strs(&["*.test"]);
        r.methods = strs(&["GET"]);
        r.paths = strs(&["/abcd"]);
    });
    let four_fields = route(3, |r| {
        r.hosts = strs(&["*.test"]);
        r.methods = strs(&["GET"]);
        r.paths = strs(&["/abcd"]);
        r.headers = vec![("x-a".to_string(), strs(&["1"]))];
    });
    let priority_of = |routes: Vec<RouteSpec>, headers: &[(&str, &str)]| {
        let router = Router::build(routes);
        let req = Request {
            method: "GET",
            host: "a.test",
            path: "/abcd",
            scheme: "http",
            port: 8000,
            headers: &headers,
            sni: None,
        };
        router.find(&req).map(|m| (m.priority, m.route.id))
    };
    // 2^60 (plain host) + 2 << 29 (weight 2 in a 32-bit shift) + 5 (path length).
    assert_eq!(priority_of(vec![plain.clone()], &[]).map(|p| p.0), Some(1_152_921_505_680_588_805));
    // 3 << 29 + 5: the weight never reaches bit 61.
    assert_eq!(priority_of(vec![wildcard_with_method.clone()], &[]).map(|p| p.0), Some(1_610_612_741));
    // Weight 4 sets the int32 sign bit, sign-extended to 64 bits: 0xFFFFFFFF_80100005 with one header.
    assert_eq!(priority_of(vec![four_fields.clone()], &[("x-a", "1")]).map(|p| p.0), Some(0xFFFF_FFFF_8010_0005));
    // So in Kong a plain host with a path beats a wildcard host with a method and the same path.
    assert_eq!(priority_of(vec![plain, wildcard_with_method], &[]).map(|p| p.1), Some(id(1)));
}
