//! Ingress → Kong services and routes: class selection, names, paths, default backend, annotations, ids.

use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings, Translation};
use serde_json::{json, Value};

fn run_with(yaml: &str, settings: &Settings) -> Translation {
    translate(&Objects::from_yaml(yaml).expect("manifests parse"), settings)
}

fn run(yaml: &str) -> Translation {
    run_with(yaml, &Settings::default())
}

fn services(t: &Translation) -> Vec<Value> {
    t.config["services"].as_array().cloned().unwrap_or_default()
}

fn routes(t: &Translation) -> Vec<Value> {
    services(t).iter().flat_map(|s| s["routes"].as_array().cloned().unwrap_or_default()).collect()
}

fn route(t: &Translation, name: &str) -> Value {
    routes(t).into_iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("route {name} in {:#}", t.config))
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter().map(|v| v["name"].as_str().unwrap_or_default().to_string()).collect()
}

/// An Ingress with one rule and a Service with ports 80 (named http) and 8080.
fn ingress(name: &str, extra_meta: &str, spec_class: &str, path: &str, path_type: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: ns
{extra_meta}
spec:
{spec_class}
  rules:
  - host: example.com
    http:
      paths:
      - path: {path:?}
        pathType: {path_type}
        backend:
          service:
            name: svc
            port:
              number: 80
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: ns
spec:
  ports:
  - name: http
    port: 80
  - port: 8080
"#
    )
}

fn simple(path: &str, path_type: &str) -> String {
    ingress("ing", "", "  ingressClassName: kong", path, path_type)
}

#[test]
fn class_annotation_wins_over_ingress_class_name() {
    let annotated = |class: &str| format!("  annotations:\n    kubernetes.io/ingress.class: {class}");
    let t = run(&ingress("ing", &annotated("other"), "  ingressClassName: kong", "/", "Prefix"));
    assert!(services(&t).is_empty(), "annotation 'other' excludes the Ingress");
    let t = run(&ingress("ing", &annotated("kong"), "  ingressClassName: other", "/", "Prefix"));
    assert_eq!(names(&routes(&t)), ["ns.ing.svc.example.com.80"]);
}

#[test]
fn ingress_class_name_must_match() {
    assert!(services(&run(&ingress("ing", "", "  ingressClassName: nginx", "/", "Prefix"))).is_empty());
    let custom = Settings { ingress_class: "nginx".into(), ..Settings::default() };
    let t = run_with(&ingress("ing", "", "  ingressClassName: nginx", "/", "Prefix"), &custom);
    assert_eq!(routes(&t).len(), 1);
}

#[test]
fn classless_ingress_needs_the_default_ingress_class() {
    let classless = ingress("ing", "", "", "/", "Prefix");
    assert!(services(&run(&classless)).is_empty(), "no IngressClass: ignored");
    let class = |default: &str| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: kong\n  annotations:\n    \
             ingressclass.kubernetes.io/is-default-class: \"{default}\"\nspec:\n  controller: \
             ingress-controllers.konghq.com/kong\n"
        )
    };
    assert!(services(&run(&format!("{classless}{}", class("false")))).is_empty());
    assert_eq!(routes(&run(&format!("{classless}{}", class("true")))).len(), 1);
}

#[test]
fn entity_names_hosts_and_upstreams() {
    let t = run(&simple("/foo", "Prefix"));
    let svc = &services(&t)[0];
    assert_eq!(svc["name"], "ns.svc.80");
    assert_eq!(svc["host"], "svc.ns.80.svc");
    assert_eq!(svc["port"], 80);
    assert_eq!(svc["path"], "/");
    assert_eq!((svc["protocol"].clone(), svc["retries"].clone()), (json!("http"), json!(5)));
    for key in ["connect_timeout", "read_timeout", "write_timeout"] {
        assert_eq!(svc[key], 60000);
    }
    let r = &svc["routes"][0];
    assert_eq!(r["name"], "ns.ing.svc.example.com.80");
    assert_eq!(r["hosts"], json!(["example.com"]));
    assert_eq!(r["strip_path"], false);
    assert_eq!(r["preserve_host"], true);
    assert_eq!(r["regex_priority"], 0);
    assert_eq!(r["path_handling"], "v0");
    assert_eq!(r["https_redirect_status_code"], 426);
    assert_eq!((r["request_buffering"].clone(), r["response_buffering"].clone()), (json!(true), json!(true)));
    assert!(r.get("protocols").is_none());
    let up = &t.config["upstreams"][0];
    assert_eq!(up["name"], "svc.ns.80.svc");
    assert_eq!(up["algorithm"], "round-robin");
    assert!(up.get("targets").is_none(), "no EndpointSlices: no targets");
}

#[test]
fn named_ports_implicit_ports_and_wildcard_hosts() {
    let yaml = simple("/", "Prefix")
        .replace("host: example.com", "host: \"*.example.com\"")
        .replace("              number: 80", "              name: http");
    let t = run(&yaml);
    let svc = &services(&t)[0];
    assert_eq!(svc["name"], "ns.svc.http");
    assert_eq!(svc["host"], "svc.ns.http.svc");
    assert_eq!(svc["port"], 80, "the named port resolves to its number");
    assert_eq!(svc["routes"][0]["name"], "ns.ing.svc._.example.com.http");
    assert_eq!(svc["routes"][0]["hosts"], json!(["*.example.com"]));

    let implicit = simple("/", "Prefix").replace("            port:\n              number: 80\n", "");
    let t = run(&implicit);
    assert_eq!(services(&t)[0]["name"], "ns.svc.implicitPort");
    assert_eq!(services(&t)[0]["port"], 80, "two ports: the implicit port cannot resolve, default 80 stays");
    assert!(t.failures.iter().any(|f| f.message.contains("exactly 1 port")));

    let hostless = simple("/", "Prefix").replace("  - host: example.com\n    http:", "  - http:");
    assert_eq!(names(&routes(&run(&hostless))), ["ns.ing.svc..80"]);
    assert!(routes(&run(&hostless))[0].get("hosts").is_none());
}

#[test]
fn path_types() {
    let paths = |p: &str, t: &str| route(&run(&simple(p, t)), "ns.ing.svc.example.com.80")["paths"].clone();
    assert_eq!(paths("/foo", "Prefix"), json!(["/foo/", "~/foo$"]));
    assert_eq!(paths("/foo/", "Prefix"), json!(["/foo/", "~/foo$"]));
    assert_eq!(paths("/", "Prefix"), json!(["/"]));
    assert_eq!(paths("/foo", "Exact"), json!(["~/foo$"]));
    assert_eq!(paths("/", "Exact"), json!(["~/$"]));
    assert_eq!(paths("/foo", "ImplementationSpecific"), json!(["/foo"]));
    assert_eq!(paths("/~/foo/\\d+", "ImplementationSpecific"), json!(["~/foo/\\d+"]));
    assert_eq!(paths("", "ImplementationSpecific"), json!(["/"]));
    assert_eq!(paths("//a///b", "ImplementationSpecific"), json!(["/a/b"]));
    assert_eq!(paths("/a", ""), json!(["/a"]), "no pathType means ImplementationSpecific");
}

#[test]
fn regex_prefix_annotation_and_legacy_detection() {
    let anns = "  annotations:\n    konghq.com/regex-prefix: /re";
    let t = run(&ingress("ing", anns, "  ingressClassName: kong", "/re/x+", "ImplementationSpecific"));
    assert_eq!(route(&t, "ns.ing.svc.example.com.80")["paths"], json!(["~/x+"]));

    let legacy = Settings { enable_legacy_regex_detection: true, ..Settings::default() };
    let t = run_with(&simple("/x+", "ImplementationSpecific"), &legacy);
    assert_eq!(route(&t, "ns.ing.svc.example.com.80")["paths"], json!(["~/x+"]));
    let t = run_with(&simple("/plain-path_1.%7E", "ImplementationSpecific"), &legacy);
    assert_eq!(route(&t, "ns.ing.svc.example.com.80")["paths"], json!(["/plain-path_1.%7E"]));
}

#[test]
fn paths_of_one_host_and_backend_collapse_into_one_route() {
    let yaml = simple("/a", "Exact").replace(
        "      - path: \"/a\"",
        "      - path: /b\n        pathType: Prefix\n        backend:\n          service:\n            name: svc\n            \
         port:\n              number: 80\n      - path: \"/a\"",
    );
    let t = run(&yaml);
    assert_eq!(routes(&t).len(), 1);
    assert_eq!(routes(&t)[0]["paths"], json!(["/b/", "~/b$", "~/a$"]));
}

#[test]
fn routes_and_services_sort_descending() {
    let yaml = format!(
        "{}---\n{}",
        ingress("a", "", "  ingressClassName: kong", "/", "Prefix"),
        ingress("a-b", "", "  ingressClassName: kong", "/x", "Prefix").replace("number: 80", "number: 8080")
    );
    let t = run(&yaml);
    assert_eq!(names(&services(&t)), ["ns.svc.8080", "ns.svc.80"]);
    let two = format!("{}---\n{}", ingress("a", "", "  ingressClassName: kong", "/", "Prefix"), simple("/z", "Prefix"));
    let t = run(&two.replace("name: ing\n", "name: a-b\n"));
    assert_eq!(names(&routes(&t)), ["ns.a.svc.example.com.80", "ns.a-b.svc.example.com.80"]);
}

fn default_backend(name: &str, ns: &str, created: &str, svc: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: {ns}\n  \
         creationTimestamp: \"{created}\"\nspec:\n  ingressClassName: kong\n  defaultBackend:\n    service:\n      name: \
         {svc}\n      port:\n        number: 80\n"
    )
}

#[test]
fn oldest_default_backend_wins() {
    let yaml = format!(
        "{}{}{}",
        default_backend("new", "a", "2024-01-02T00:00:00Z", "svc-new"),
        default_backend("old", "z", "2024-01-01T00:00:00Z", "svc-old"),
        default_backend("old2", "b", "2024-01-01T00:00:00Z", "svc-old2"),
    );
    let t = run(&yaml);
    let svcs = services(&t);
    assert_eq!(names(&svcs), ["b.svc-old2.80"], "oldest first; same time: namespace/name order");
    assert_eq!(svcs[0]["routes"][0]["name"], "b.old2");
    assert_eq!(svcs[0]["routes"][0]["paths"], json!(["/"]));
    assert!(svcs[0].get("path").is_none(), "the default backend service has no path");
    let tie = format!(
        "{}{}",
        default_backend("x", "b", "2024-01-01T00:00:00Z", "svc-b"),
        default_backend("x", "a", "2024-01-01T00:00:00Z", "svc-a")
    );
    assert_eq!(names(&services(&run(&tie))), ["a.svc-a.80"]);
}

#[test]
fn default_backend_merges_into_an_existing_service() {
    let yaml = format!("{}{}", simple("/x", "Prefix"), default_backend("dflt", "ns", "2024-01-01T00:00:00Z", "svc"));
    let t = run(&yaml);
    assert_eq!(services(&t).len(), 1);
    assert_eq!(services(&t)[0]["path"], "/");
    assert_eq!(names(&routes(&t)), ["ns.ing.svc.example.com.80", "ns.dflt"]);
}

fn annotated(anns: &[(&str, &str)]) -> Translation {
    let meta: String = anns.iter().map(|(k, v)| format!("\n    {k}: {v:?}")).collect();
    run(&ingress("ing", &format!("  annotations:{meta}"), "  ingressClassName: kong", "/", "Prefix"))
}

#[test]
fn ingress_annotations_on_routes() {
    let t = annotated(&[
        ("konghq.com/strip-path", "TRUE"),
        ("konghq.com/preserve-host", "false"),
        ("konghq.com/methods", "get, post"),
        ("konghq.com/protocols", "https,http"),
        ("konghq.com/https-redirect-status-code", "301"),
        ("konghq.com/regex-priority", "10"),
        ("konghq.com/host-aliases", "a.example.com,example.com"),
        ("konghq.com/headers.x-env", "a, b"),
        ("konghq.com/path-handling", "v1"),
        ("konghq.com/request-buffering", "False"),
        ("konghq.com/response-buffering", "false"),
        ("konghq.com/snis", "example.com"),
        ("konghq.com/tags", "team-a,team-a,team-b"),
    ]);
    let r = route(&t, "ns.ing.svc.example.com.80");
    assert_eq!(r["strip_path"], true);
    assert_eq!(r["preserve_host"], false);
    assert_eq!(r["methods"], json!(["GET", "POST"]));
    assert_eq!(r["protocols"], json!(["https", "http"]));
    assert_eq!(r["https_redirect_status_code"], 301);
    assert_eq!(r["regex_priority"], 10);
    assert_eq!(r["hosts"], json!(["example.com", "a.example.com"]));
    assert_eq!(r["headers"], json!({"x-env": ["a", "b"]}));
    assert_eq!(r["path_handling"], "v1");
    assert_eq!((r["request_buffering"].clone(), r["response_buffering"].clone()), (json!(false), json!(false)));
    assert_eq!(r["snis"], json!(["example.com"]));
    let tags = r["tags"].as_array().unwrap();
    assert_eq!(tags[tags.len() - 2..], [json!("team-a"), json!("team-b")]);
}

#[test]
fn invalid_annotation_values_are_ignored() {
    let t = annotated(&[
        ("konghq.com/methods", "GET,P0ST"),
        ("konghq.com/https-redirect-status-code", "303"),
        ("konghq.com/strip-path", "yes"),
        ("konghq.com/host-aliases", "ok.example.com,bad_host"),
        ("konghq.com/path-handling", "x"),
    ]);
    let r = route(&t, "ns.ing.svc.example.com.80");
    assert!(r.get("methods").is_none());
    assert_eq!(r["https_redirect_status_code"], 426);
    assert_eq!(r["strip_path"], false);
    assert_eq!(r["hosts"], json!(["example.com"]));
    assert_eq!(r["path_handling"], "v0");
}

#[test]
fn force_ssl_redirect_and_grpc_protocols() {
    let t = annotated(&[("ingress.kubernetes.io/force-ssl-redirect", "true")]);
    let r = route(&t, "ns.ing.svc.example.com.80");
    assert_eq!(r["https_redirect_status_code"], 302);
    assert_eq!(r["protocols"], json!(["https"]));

    let t = annotated(&[("konghq.com/protocols", "grpc,grpcs")]);
    let r = route(&t, "ns.ing.svc.example.com.80");
    assert_eq!(r["protocols"], json!(["grpc", "grpcs"]));
    assert!(r.get("strip_path").is_none(), "grpc routes have no strip_path");
    let t = annotated(&[("konghq.com/protocols", "grpc,http")]);
    assert_eq!(route(&t, "ns.ing.svc.example.com.80")["protocols"], json!(["http", "https"]));
}

#[test]
fn service_annotations_on_kong_services() {
    let yaml = simple("/", "Prefix").replace(
        "kind: Service\nmetadata:\n  name: svc\n",
        "kind: Service\nmetadata:\n  name: svc\n  annotations:\n    konghq.com/protocol: https\n    konghq.com/path: \
         /base\n    konghq.com/connect-timeout: \"1000\"\n    konghq.com/read-timeout: \"2000\"\n    \
         konghq.com/write-timeout: \"3000\"\n    konghq.com/retries: \"1\"\n    konghq.com/tls-verify: \"true\"\n    \
         konghq.com/tls-verify-depth: \"2\"\n",
    );
    let svc = &services(&run(&yaml))[0];
    assert_eq!(svc["protocol"], "https");
    assert_eq!(svc["path"], "/base");
    assert_eq!((svc["connect_timeout"].clone(), svc["read_timeout"].clone()), (json!(1000), json!(2000)));
    assert_eq!((svc["write_timeout"].clone(), svc["retries"].clone()), (json!(3000), json!(1)));
    assert_eq!((svc["tls_verify"].clone(), svc["tls_verify_depth"].clone()), (json!(true), json!(2)));

    let grpc = simple("/", "Prefix").replace(
        "kind: Service\nmetadata:\n  name: svc\n",
        "kind: Service\nmetadata:\n  name: svc\n  annotations:\n    konghq.com/protocol: grpc\n",
    );
    assert!(services(&run(&grpc))[0].get("path").is_none(), "grpc services have no path");
    let bad = grpc.replace("konghq.com/protocol: grpc", "konghq.com/protocol: ftp");
    let t = run(&bad);
    assert_eq!(services(&t)[0]["protocol"], "http");
    assert!(t.failures.iter().any(|f| f.object.kind == "Service" && f.message.contains("invalid value: ftp")));
}

#[test]
fn deterministic_ids() {
    let yaml =
        simple("/", "Exact").replace("namespace: ns", "namespace: bar-namespace").replace("name: svc", "name: foo-svc");
    let t = run(&yaml);
    // The id KIC gives the service `bar-namespace.foo-svc.80` (go-kong FillID).
    assert_eq!(services(&t)[0]["id"], "edc1d53e-73b4-5932-9455-0e01f0d53e3f");
    let route_id = routes(&t)[0]["id"].clone();
    assert_eq!(route_id, routes(&run(&yaml))[0]["id"], "stable across runs");
    let ws = run_with(&yaml, &Settings { workspace: "team".into(), ..Settings::default() });
    assert_ne!(services(&ws)[0]["id"], services(&t)[0]["id"], "the workspace prefixes the key");
    let off = run_with(&yaml, &Settings { fill_ids: false, ..Settings::default() });
    assert!(services(&off)[0].get("id").is_none() && routes(&off)[0].get("id").is_none());
}

#[test]
fn tags_come_from_the_source_objects() {
    let yaml =
        simple("/", "Prefix").replace("name: ing\n  namespace: ns\n", "name: ing\n  namespace: ns\n  uid: u-1\n");
    let t = run(&yaml);
    assert_eq!(
        routes(&t)[0]["tags"],
        json!([
            "k8s-name:ing",
            "k8s-namespace:ns",
            "k8s-kind:Ingress",
            "k8s-uid:u-1",
            "k8s-group:networking.k8s.io",
            "k8s-version:v1"
        ])
    );
    assert_eq!(
        services(&t)[0]["tags"],
        json!(["k8s-name:svc", "k8s-namespace:ns", "k8s-kind:Service", "k8s-version:v1"])
    );
    assert_eq!(t.config["upstreams"][0]["tags"], services(&t)[0]["tags"]);
}

#[test]
fn missing_service_keeps_placeholders() {
    let yaml = simple("/", "Prefix");
    let only_ingress = &yaml[..yaml.find("---").unwrap()];
    let t = run(only_ingress);
    let svc = &services(&t)[0];
    assert_eq!(svc["port"], 80);
    assert_eq!(svc["tags"][0], "k8s-name:UNKNOWN");
    assert!(t.failures.iter().any(|f| f.object.kind == "Ingress" && f.message.contains("Service ns/svc not found")));
}

#[test]
fn rewrite_annotation() {
    let t = annotated(&[("konghq.com/rewrite", "/new/$1")]);
    assert!(services(&t).is_empty(), "RewriteURIs off: the service is dropped");
    assert!(t.failures.iter().any(|f| f.message.contains("rewrite uris disabled")));
    let yaml = ingress(
        "ing",
        "  annotations:\n    konghq.com/rewrite: /new/$1",
        "  ingressClassName: kong",
        "/~/old/(.*)",
        "ImplementationSpecific",
    );
    let t = run_with(&yaml, &Settings { rewrite_uris: true, ..Settings::default() });
    let plugin = &routes(&t)[0]["plugins"][0];
    assert_eq!(
        plugin,
        &json!({"name": "request-transformer", "config": {"replace": {"uri": "/new/$(uri_captures[1])"}}})
    );
}

#[test]
fn expression_routes() {
    let settings = Settings { expression_routes: true, ..Settings::default() };
    let t = run_with(&simple("/foo", "Prefix"), &settings);
    let r = &routes(&t)[0];
    assert_eq!(r["expression"], r#"(http.host == "example.com") && ((http.path == "/foo") || (http.path ^= "/foo/"))"#);
    assert_eq!(r["priority"], (3u64 << 44) + (2u64 << 41) + (1u64 << 32) + (1 << 16) + 5);
    for key in ["paths", "hosts", "regex_priority", "path_handling"] {
        assert!(r.get(key).is_none(), "{key} is not set with expression routes");
    }
    let t = run_with(&simple("/~/a\\d", "ImplementationSpecific"), &settings);
    assert_eq!(routes(&t)[0]["expression"], r#"(http.host == "example.com") && (http.path ~ "^/a\\d")"#);
}
