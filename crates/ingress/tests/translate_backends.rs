//! Upstreams and targets: EndpointSlices, service-upstream, ExternalName, KongUpstreamPolicy, KongIngress,
//! host-header.

use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings, Translation};
use serde_json::{json, Value};

fn run_with(yaml: &str, settings: &Settings) -> Translation {
    translate(&Objects::from_yaml(yaml).expect("manifests parse"), settings)
}

fn run(yaml: &str) -> Translation {
    run_with(yaml, &Settings::default())
}

/// An Ingress to `svc` (port given as YAML), and the Service (metadata and spec given as YAML lines).
fn setup(backend_port: &str, svc_meta: &str, svc_spec: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  namespace: ns
spec:
  ingressClassName: kong
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: svc
            port:
              {backend_port}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: ns
{svc_meta}
spec:
{svc_spec}
"#
    )
}

const PORTS: &str = "  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  - name: admin\n    port: 81";

fn slice(name: &str, svc: &str, ns: &str, ports: &str, endpoints: &str) -> String {
    format!(
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    \
         kubernetes.io/service-name: {svc}\naddressType: IPv4\nports:\n{ports}\nendpoints:\n{endpoints}\n"
    )
}

fn targets(t: &Translation) -> Value {
    t.config["upstreams"][0]["targets"].clone()
}

#[test]
fn endpoint_slice_targets() {
    let ports = "- name: http\n  port: 8080\n  protocol: TCP\n- name: admin\n  port: 9090\n  protocol: TCP";
    let endpoints = r#"- addresses: ["10.0.0.1"]
  conditions: {ready: true}
- addresses: ["10.0.0.2", "10.0.0.99"]
- addresses: ["10.0.0.3"]
  conditions: {ready: false}
- addresses: ["10.0.0.4"]
  conditions: {ready: false, terminating: true}
- addresses: ["fd00::5"]
  conditions: {ready: true}
- addresses: ["10.0.0.1"]"#;
    let yaml = format!(
        "{}{}{}{}",
        setup("number: 80", "", PORTS),
        slice("s1", "svc", "ns", ports, endpoints),
        slice("other-svc", "other", "ns", ports, "- addresses: [\"10.9.9.9\"]"),
        slice("other-ns", "svc", "elsewhere", ports, "- addresses: [\"10.8.8.8\"]"),
    );
    let t = run(&yaml);
    // Ready (or unknown) endpoints only, first address, slice port matched by the Service port's name, IPv6
    // bracketed, de-duplicated, sorted descending, no weight (Kong's default 100 applies).
    assert_eq!(
        targets(&t),
        json!([{"target": "[fd00::5]:8080"}, {"target": "10.0.0.2:8080"}, {"target": "10.0.0.1:8080"}])
    );
    assert_eq!(t.config["services"][0]["port"], 80, "the Kong service uses the Service port");

    let drain = Settings { enable_drain_support: true, ..Settings::default() };
    let t = run_with(&yaml, &drain);
    assert!(targets(&t).as_array().unwrap().contains(&json!({"target": "10.0.0.4:8080", "weight": 0})));
    assert!(!targets(&t).as_array().unwrap().iter().any(|v| v["target"] == "10.0.0.3:8080"));
}

#[test]
fn targets_follow_the_named_service_port() {
    let ports = "- name: http\n  port: 8080\n- name: admin\n  port: 9090";
    let yaml = format!(
        "{}{}",
        setup("name: admin", "", PORTS),
        slice("s1", "svc", "ns", ports, "- addresses: [\"10.0.0.7\"]")
    );
    let t = run(&yaml);
    assert_eq!(t.config["services"][0]["name"], "ns.svc.admin");
    assert_eq!(t.config["services"][0]["port"], 81);
    assert_eq!(targets(&t), json!([{"target": "10.0.0.7:9090"}]));
}

#[test]
fn unmatched_port_and_udp_protocols() {
    let ports = "- name: http\n  port: 8080\n  protocol: UDP";
    let yaml =
        format!("{}{}", setup("number: 80", "", PORTS), slice("s1", "svc", "ns", ports, "- addresses: [\"10.0.0.7\"]"));
    assert!(targets(&run(&yaml)).is_null(), "UDP slice ports do not serve a TCP Service port");
    let yaml = format!(
        "{}{}",
        setup("number: 8443", "", PORTS),
        slice("s1", "svc", "ns", ports, "- addresses: [\"10.0.0.7\"]")
    );
    let t = run(&yaml);
    assert_eq!(t.config["services"][0]["port"], 80, "unknown port: the default port stays");
    assert!(t.failures.iter().any(|f| f.message.contains("no suitable port found")));
}

#[test]
fn service_upstream_uses_the_service_dns_name() {
    let meta = "  annotations:\n    ingress.kubernetes.io/service-upstream: \"true\"";
    let yaml = format!(
        "{}{}",
        setup("number: 80", meta, PORTS),
        slice("s1", "svc", "ns", "- name: http\n  port: 8080", "- addresses: [\"10.0.0.7\"]")
    );
    assert_eq!(targets(&run(&yaml)), json!([{"target": "svc.ns.svc:80"}]));
    let with_domain = Settings { cluster_domain: "cluster.local".into(), ..Settings::default() };
    assert_eq!(targets(&run_with(&yaml, &with_domain)), json!([{"target": "svc.ns.svc.cluster.local:80"}]));
    let global = Settings { service_upstream: true, ..Settings::default() };
    assert_eq!(targets(&run_with(&setup("number: 81", "", PORTS), &global)), json!([{"target": "svc.ns.svc:81"}]));
}

#[test]
fn external_name_services() {
    let spec = "  type: ExternalName\n  externalName: api.example.org";
    let t = run(&setup("number: 443", "", spec));
    assert_eq!(targets(&t), json!([{"target": "api.example.org:443"}]));
    assert_eq!(t.config["services"][0]["port"], 443);
    let t = run(&setup("name: https", "", spec));
    assert!(t.failures.iter().any(|f| f.message.contains("must specify numeric ports")));
}

const POLICY: &str = r#"
---
apiVersion: configuration.konghq.com/v1beta1
kind: KongUpstreamPolicy
metadata:
  name: pol
  namespace: ns
spec:
  algorithm: consistent-hashing
  slots: 100
  hashOn:
    cookie: session
    cookiePath: /
  hashOnFallback:
    input: ip
  healthchecks:
    threshold: 2
    active:
      type: https
      httpsVerifyCertificate: true
      healthy:
        interval: 5
        httpStatuses: []
      headers: {}
    passive:
      unhealthy:
        tcpFailures: 3
"#;

#[test]
fn kong_upstream_policy() {
    let meta = "  annotations:\n    konghq.com/upstream-policy: pol";
    let t = run(&format!("{}{POLICY}", setup("number: 80", meta, PORTS)));
    let up = &t.config["upstreams"][0];
    assert_eq!(up["algorithm"], "consistent-hashing");
    assert_eq!(up["slots"], 100);
    assert_eq!((up["hash_on"].clone(), up["hash_on_cookie"].clone()), (json!("cookie"), json!("session")));
    assert_eq!((up["hash_on_cookie_path"].clone(), up["hash_fallback"].clone()), (json!("/"), json!("ip")));
    assert_eq!(
        up["healthchecks"],
        json!({"threshold": 2, "active": {"type": "https", "https_verify_certificate": true, "healthy": {"interval": 5}},
               "passive": {"unhealthy": {"tcp_failures": 3}}})
    );

    let missing = run(&setup("number: 80", meta, PORTS));
    assert_eq!(missing.config["upstreams"][0]["algorithm"], "round-robin");
    assert!(missing.failures.iter().any(|f| f.message.contains("KongUpstreamPolicy ns/pol not found")));
}

#[test]
fn sticky_sessions_need_kong_3_11() {
    let meta = "  annotations:\n    konghq.com/upstream-policy: pol";
    let policy =
        "---\napiVersion: configuration.konghq.com/v1beta1\nkind: KongUpstreamPolicy\nmetadata:\n  name: pol\n  \
                  namespace: ns\nspec:\n  algorithm: sticky-sessions\n  hashOn:\n    cookie: c\n  stickySessions:\n    \
                  cookie: sticky\n    cookiePath: /app\n";
    let yaml = format!("{}{policy}", setup("number: 80", meta, PORTS));
    let t = run(&yaml);
    assert_eq!(t.config["upstreams"][0]["algorithm"], "round-robin");
    assert!(t.failures.iter().any(|f| f.message.contains("sticky sessions")));
    let t = run_with(&yaml, &Settings { kong_version: (3, 11, 0), ..Settings::default() });
    let up = &t.config["upstreams"][0];
    assert_eq!(up["algorithm"], "sticky-sessions");
    assert_eq!(
        (up["sticky_sessions_cookie"].clone(), up["sticky_sessions_cookie_path"].clone()),
        (json!("sticky"), json!("/app"))
    );
}

#[test]
fn kong_ingress_upstream_and_host_header() {
    let meta = "  annotations:\n    konghq.com/override: ki\n    konghq.com/host-header: backend.internal";
    let ki =
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongIngress\nmetadata:\n  name: ki\n  namespace: ns\n\
              upstream:\n  algorithm: least-connections\n  host_header: from-kong-ingress\n  slots: 200\n  \
              healthchecks:\n    active:\n      http_path: /health\n      bogus: 1\nproxy:\n  retries: 9\nroute:\n  \
              strip_path: true\n";
    let t = run(&format!("{}{ki}", setup("number: 80", meta, PORTS)));
    let up = &t.config["upstreams"][0];
    assert_eq!(up["algorithm"], "least-connections");
    assert_eq!(up["slots"], 200);
    assert_eq!(up["host_header"], "backend.internal", "the annotation wins over the KongIngress");
    assert_eq!(up["healthchecks"], json!({"active": {"http_path": "/health"}}));
    assert_eq!(t.config["services"][0]["retries"], 5, "KongIngress proxy/route sections are ignored");
    assert_eq!(t.config["services"][0]["routes"][0]["strip_path"], false);

    let t = run(&setup("number: 80", meta, PORTS));
    assert!(t.failures.iter().any(|f| f.object.kind == "Service" && f.message.contains("KongIngress ki not found")));
    assert!(t.config["upstreams"][0].get("host_header").is_none(), "a missing KongIngress skips the overrides");
}
