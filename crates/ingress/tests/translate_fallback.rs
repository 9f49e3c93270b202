//! The fallback configuration (objects rejected by the gateway and their dependants are left out), object
//! references, and the empty-configuration stub.

use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{excluded_objects, translate, translate_excluding, ObjectRef, Settings};
use serde_json::{json, Value};

fn objects(yaml: &str) -> Objects {
    Objects::from_yaml(yaml).expect("manifests parse")
}

fn r(kind: &str, api_version: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        kind: kind.into(),
        api_version: api_version.into(),
        namespace: ns.into(),
        name: name.into(),
        uid: String::new(),
    }
}

fn route_names(config: &Value) -> Vec<String> {
    config["services"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["routes"].as_array().cloned().unwrap_or_default())
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn ingress(name: &str, svc: &str, anns: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: ns\n  annotations: \
         {{{anns}}}\nspec:\n  ingressClassName: kong\n  rules:\n  - http:\n      paths:\n      - path: /{name}\n        \
         pathType: Prefix\n        backend:\n          service:\n            name: {svc}\n            port:\n              \
         number: 80\n"
    )
}

fn service(name: &str, anns: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: ns\n  annotations: {{{anns}}}\nspec:\n  \
         ports:\n  - port: 80\n"
    )
}

#[test]
fn a_rejected_ingress_is_left_out() {
    let o = objects(&format!("{}{}{}", ingress("good", "svc", ""), ingress("bad", "svc", ""), service("svc", "")));
    let t = translate_excluding(&o, &Settings::default(), &[r("Ingress", "networking.k8s.io/v1", "ns", "bad")]);
    assert_eq!(route_names(&t.config), ["ns.good.svc..80"]);
    assert_eq!(route_names(&translate(&o, &Settings::default()).config).len(), 2);
}

#[test]
fn a_rejected_service_takes_its_ingresses_along() {
    let o = objects(&format!(
        "{}{}{}{}",
        ingress("a", "svc-a", ""),
        ingress("b", "svc-b", ""),
        service("svc-a", ""),
        service("svc-b", "")
    ));
    let t = translate_excluding(&o, &Settings::default(), &[r("Service", "v1", "ns", "svc-b")]);
    assert_eq!(route_names(&t.config), ["ns.a.svc-a..80"]);
    let excluded = excluded_objects(&o, &Settings::default(), &[r("Service", "v1", "ns", "svc-b")]);
    assert_eq!(excluded, [r("Ingress", "networking.k8s.io/v1", "ns", "b"), r("Service", "v1", "ns", "svc-b")]);
}

#[test]
fn a_rejected_secret_propagates_through_plugins_and_services() {
    let yaml = format!(
        "{}{}{}{}{}{}",
        ingress("a", "svc-a", ""),
        ingress("b", "svc-b", ""),
        service("svc-a", "konghq.com/plugins: p"),
        service("svc-b", ""),
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: p\n  namespace: ns\nplugin: \
         key-auth\nconfigFrom:\n  secretKeyRef:\n    name: conf\n    key: k\n",
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: conf\n  namespace: ns\n  uid: s-1\ndata:\n  k: e30=\n",
    );
    let o = objects(&yaml);
    let mut secret = r("Secret", "v1", "ns", "conf");
    secret.uid = "s-1".into();
    let t = translate_excluding(&o, &Settings::default(), &[secret.clone()]);
    assert_eq!(route_names(&t.config), ["ns.b.svc-b..80"]);
    assert!(t.config.get("plugins").is_none());
    secret.uid = "another-uid".into();
    let t = translate_excluding(&o, &Settings::default(), &[secret]);
    assert_eq!(route_names(&t.config).len(), 2, "a different uid names a different object");
}

#[test]
fn a_rejected_ingress_class_removes_its_ingresses_and_empty_configs_get_a_stub() {
    let class = "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: kong\n";
    let o = objects(&format!("{class}{}{}", ingress("a", "svc", ""), service("svc", "")));
    let t = translate_excluding(&o, &Settings::default(), &[r("IngressClass", "networking.k8s.io/v1", "", "kong")]);
    assert_eq!(t.config, json!({"_format_version": "3.0", "upstreams": [{"name": "kong"}]}));
    let no_stub = Settings { stub_upstream_when_empty: false, ..Settings::default() };
    assert_eq!(translate(&Objects::default(), &no_stub).config, json!({"_format_version": "3.0"}));
}

#[test]
fn credential_secrets_and_upstream_policies_are_dependencies() {
    let yaml = format!(
        "{}{}{}{}{}",
        ingress("a", "svc", ""),
        service("svc", "konghq.com/upstream-policy: pol"),
        "---\napiVersion: configuration.konghq.com/v1beta1\nkind: KongUpstreamPolicy\nmetadata:\n  name: pol\n  namespace: \
         ns\nspec:\n  algorithm: least-connections\n",
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata:\n  name: c\n  namespace: ns\n  \
         annotations: {kubernetes.io/ingress.class: kong}\nusername: c\ncredentials: [cred]\n",
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cred\n  namespace: ns\n  labels: {konghq.com/credential: \
         key-auth}\ndata:\n  key: a2V5\n",
    );
    let o = objects(&yaml);
    let t = translate_excluding(&o, &Settings::default(), &[r("Secret", "v1", "ns", "cred")]);
    assert!(t.config.get("consumers").is_none());
    assert_eq!(route_names(&t.config).len(), 1);
    let policy = r("KongUpstreamPolicy", "configuration.konghq.com/v1beta1", "ns", "pol");
    let t = translate_excluding(&o, &Settings::default(), &[policy]);
    assert!(t.config.get("services").is_none(), "policy → Service → Ingress");
    assert!(t.config["consumers"].is_array());
}

#[test]
fn the_default_backend_is_not_a_dependency() {
    let dflt = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: d\n  namespace: ns\nspec:\n  \
                ingressClassName: kong\n  defaultBackend:\n    service:\n      name: svc\n      port:\n        number: 80\n";
    let o = objects(&format!("{dflt}{}", service("svc", "")));
    let t = translate_excluding(&o, &Settings::default(), &[r("Service", "v1", "ns", "svc")]);
    assert_eq!(route_names(&t.config), ["ns.d"], "KIC's graph has no edge from a default backend");
}

#[test]
fn object_refs() {
    let tags = [
        "k8s-name:web",
        "k8s-namespace:prod",
        "k8s-kind:Ingress",
        "k8s-uid:123",
        "k8s-group:networking.k8s.io",
        "k8s-version:v1",
        "team-a",
    ];
    let parsed = ObjectRef::from_tags(&tags).unwrap();
    assert_eq!(parsed.api_version, "networking.k8s.io/v1");
    assert_eq!((parsed.group(), parsed.version()), ("networking.k8s.io", "v1"));
    assert_eq!((parsed.name.as_str(), parsed.namespace.as_str(), parsed.uid.as_str()), ("web", "prod", "123"));
    let core = ObjectRef::from_tags(&["k8s-name:s", "k8s-kind:Service", "k8s-version:v1"]).unwrap();
    assert_eq!((core.api_version.as_str(), core.group()), ("v1", ""));
    assert!(ObjectRef::from_tags(&["team-a"]).is_none());
    let mut other = parsed.clone();
    other.uid.clear();
    assert!(parsed.matches(&other), "an unknown uid matches");
    other.uid = "456".into();
    assert!(!parsed.matches(&other));
    other = parsed.clone();
    other.api_version = "extensions/v1beta1".into();
    assert!(!parsed.matches(&other), "the group is part of the identity");
}
