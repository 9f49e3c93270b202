//! KongPlugin / KongClusterPlugin binding, KongConsumers and their credentials.

use base64::Engine;
use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings, Translation};
use serde_json::{json, Value};

fn run(yaml: &str) -> Translation {
    translate(&Objects::from_yaml(yaml).expect("manifests parse"), &Settings::default())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Ingress `ing` (annotations given) → Service `svc` (annotations given), namespace `default`.
fn base(ingress_anns: &str, service_anns: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  namespace: default
  annotations: {{{ingress_anns}}}
spec:
  ingressClassName: kong
  rules:
  - http:
      paths:
      - path: /p
        pathType: ImplementationSpecific
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
  namespace: default
  annotations: {{{service_anns}}}
spec:
  ports:
  - port: 80
"#
    )
}

fn kong_plugin(name: &str, body: &str) -> String {
    format!(
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: {name}\n  namespace: \
         default\n{body}\n"
    )
}

fn plugins(t: &Translation) -> Vec<Value> {
    t.config["plugins"].as_array().cloned().unwrap_or_default()
}

const ROUTE: &str = "default.ing.svc..80";

#[test]
fn plugins_bind_to_routes_and_services() {
    let yaml = format!(
        "{}{}{}",
        base("konghq.com/plugins: rl", "konghq.com/plugins: \" rl , cors\""),
        kong_plugin("rl", "plugin: rate-limiting\nconfig:\n  minute: 5\n  ratio: 2.0"),
        kong_plugin("cors", "plugin: cors\ndisabled: true\nprotocols: [https]\nrun_on: first\nordering:\n  before:\n    access: [rate-limiting]")
    );
    let t = run(&yaml);
    let ps = plugins(&t);
    // Sorted descending by name + related entity.
    let keys: Vec<_> = ps.iter().map(|p| (p["name"].clone(), p["route"].clone(), p["service"].clone())).collect();
    assert_eq!(
        keys,
        [
            (json!("rate-limiting"), Value::Null, json!("default.svc.80")),
            (json!("rate-limiting"), json!("default.ing.svc..80"), Value::Null),
            (json!("cors"), Value::Null, json!("default.svc.80")),
        ]
    );
    assert_eq!(ps[0]["config"], json!({"minute": 5, "ratio": 2}), "configs pass through as Go renders them");
    assert_eq!(
        ps[0]["tags"],
        json!([
            "k8s-name:rl",
            "k8s-namespace:default",
            "k8s-kind:KongPlugin",
            "k8s-group:configuration.konghq.com",
            "k8s-version:v1"
        ])
    );
    assert!(ps[0].get("enabled").is_none() && ps[0].get("protocols").is_none(), "no schema defaults are filled");
    let cors = &ps[2];
    assert_eq!(cors["enabled"], false);
    assert_eq!(cors["protocols"], json!(["https"]));
    assert_eq!(cors["run_on"], "first");
    assert_eq!(cors["ordering"], json!({"before": {"access": ["rate-limiting"]}}));
    assert!(cors.get("config").is_none(), "an empty config is left out");
    // Ids are UUIDv5 of name[:service/<svc>][:route/<route>]: all distinct and stable.
    let ids: std::collections::HashSet<_> = ps.iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(plugins(&run(&yaml))[0]["id"], ps[0]["id"]);
}

#[test]
fn instance_names_get_a_relation_hash_suffix() {
    // Same data as KIC's kongplugin-instance-name golden case: route default.httpbin.httpbin..80.
    let yaml = format!(
        "{}{}",
        base("konghq.com/plugins: kong-id", "")
            .replace("name: ing\n", "name: httpbin\n")
            .replace("name: svc\n", "name: httpbin\n"),
        kong_plugin("kong-id", "plugin: correlation-id\ninstance_name: example\nconfig:\n  header_name: kong-id")
    )
    .replace("            name: svc\n", "            name: httpbin\n");
    let t = run(&yaml);
    assert_eq!(plugins(&t)[0]["route"], "default.httpbin.httpbin..80");
    assert_eq!(plugins(&t)[0]["instance_name"], "example-21a1f5b5f");
    assert_eq!(plugins(&t)[0]["id"], "61a22b86-f859-5c8a-a23c-97b92b14b635");
}

#[test]
fn kong_plugin_wins_over_cluster_plugin_and_missing_plugins_fail() {
    let kcp = "---\napiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata:\n  name: p\nplugin: \
               from-cluster\n";
    let t = run(&format!("{}{kcp}", base("konghq.com/plugins: p", "")));
    assert_eq!(plugins(&t)[0]["name"], "from-cluster");
    assert_eq!(plugins(&t)[0]["tags"][1], "k8s-kind:KongClusterPlugin", "cluster-scoped: no namespace tag");
    let t = run(&format!("{}{kcp}{}", base("konghq.com/plugins: p", ""), kong_plugin("p", "plugin: namespaced")));
    assert_eq!(plugins(&t)[0]["name"], "namespaced");

    let t = run(&base("konghq.com/plugins: \"nope, other-ns:x\"", ""));
    assert!(plugins(&t).is_empty());
    let msgs: Vec<_> = t.failures.iter().map(|f| f.message.clone()).collect();
    assert!(msgs.iter().any(|m| m.contains("\"nope\" does not exist")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("no grant found")), "cross-namespace needs a ReferenceGrant: {msgs:?}");
}

fn secret(name: &str, data: &[(&str, &str)], labels: &str) -> String {
    let data: String = data.iter().map(|(k, v)| format!("  {k}: {}\n", b64(v))).collect();
    format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\n{labels}data:\n{data}")
}

#[test]
fn config_from_secrets_and_config_patches() {
    let yaml = format!(
        "{}{}{}{}",
        base("konghq.com/plugins: \"a,b\"", ""),
        kong_plugin("a", "plugin: key-auth\nconfigFrom:\n  secretKeyRef:\n    name: conf\n    key: yaml"),
        kong_plugin(
            "b",
            "plugin: acl\nconfig:\n  allow: [x]\nconfigPatches:\n- path: /hide_groups_header\n  valueFrom:\n    \
             secretKeyRef: {name: conf, key: bool}\n- path: /nested/deep\n  valueFrom:\n    secretKeyRef: {name: conf, \
             key: json}"
        ),
        secret("conf", &[("yaml", "key_names:\n- apikey\n"), ("bool", "true"), ("json", "{\"k\": 1}")], ""),
    );
    let t = run(&yaml);
    let by_name = |n: &str| plugins(&t).into_iter().find(|p| p["name"] == n).unwrap();
    assert_eq!(by_name("key-auth")["config"], json!({"key_names": ["apikey"]}));
    assert_eq!(
        by_name("acl")["config"],
        json!({"allow": ["x"], "hide_groups_header": true, "nested": {"deep": {"k": 1}}})
    );

    let both = format!(
        "{}{}{}",
        base("konghq.com/plugins: a", ""),
        kong_plugin(
            "a",
            "plugin: key-auth\nconfig: {x: 1}\nconfigFrom:\n  secretKeyRef:\n    name: conf\n    key: yaml"
        ),
        secret("conf", &[("yaml", "a: 1")], "")
    );
    let t = run(&both);
    assert!(plugins(&t).is_empty());
    assert!(t
        .failures
        .iter()
        .any(|f| f.object.kind == "KongPlugin" && f.message.contains("both Config and ConfigFrom")));
}

fn cluster_plugin(name: &str, labels: &str, anns: &str, plugin: &str) -> String {
    format!(
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata:\n  name: {name}\n  labels: \
         {{{labels}}}\n  annotations: {{{anns}}}\nplugin: {plugin}\n"
    )
}

#[test]
fn global_cluster_plugins() {
    let class = "kubernetes.io/ingress.class: kong";
    let yaml = format!(
        "{}{}{}",
        cluster_plugin("g1", "global: \"true\"", class, "prometheus"),
        cluster_plugin("g2", "global: \"true\"", "", "zipkin"),
        cluster_plugin("g3", "", class, "file-log"),
    );
    let t = run(&yaml);
    assert_eq!(plugins(&t).iter().map(|p| p["name"].clone()).collect::<Vec<_>>(), [json!("prometheus")]);
    assert!(plugins(&t)[0].get("route").is_none() && plugins(&t)[0].get("service").is_none());
    let dup = format!("{yaml}{}", cluster_plugin("g4", "global: \"true\"", class, "prometheus"));
    assert!(run(&dup).config.get("plugins").is_none(), "two global plugins of one kind cancel out");
}

fn consumer(name: &str, anns: &str, body: &str) -> String {
    format!(
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata:\n  name: {name}\n  namespace: \
         default\n  annotations: {{kubernetes.io/ingress.class: kong{anns}}}\n{body}\n"
    )
}

fn cred_label(t: &str) -> String {
    format!("  labels:\n    konghq.com/credential: {t}\n")
}

#[test]
fn consumers_and_credentials() {
    let yaml = format!(
        "{}{}{}{}{}{}{}",
        consumer("alice", "", "username: alice\ncustom_id: a-1\ncredentials: [ka, ba, jw, ac, oa]"),
        secret("ka", &[("key", "k1"), ("ttl", "60"), ("ignored", "x")], &cred_label("key-auth")),
        secret("ba", &[("username", "alice"), ("password", "pw")], &cred_label("basic-auth")),
        secret("jw", &[("key", "iss"), ("rsa_public_key", "PEM"), ("algorithm", "RS256")], &cred_label("jwt")),
        secret("ac", &[("group", "admins")], &cred_label("acl")),
        secret(
            "oa",
            &[("name", "app"), ("client_id", "cid"), ("redirect_uris", "https://a,https://b"), ("hash_secret", "true")],
            &cred_label("oauth2")
        ),
        consumer("bob", "", "custom_id: b-1"),
    );
    let t = run(&yaml);
    let consumers = t.config["consumers"].as_array().unwrap();
    assert_eq!(consumers.len(), 2);
    // Sorted by username (none first), then custom_id.
    assert_eq!(consumers[0]["custom_id"], "b-1");
    assert!(consumers[0].get("id").is_none(), "ids come from usernames only");
    let alice = &consumers[1];
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["custom_id"], "a-1");
    assert!(alice["id"].is_string());
    let tags =
        |name: &str| json!([format!("k8s-name:{name}"), "k8s-namespace:default", "k8s-kind:Secret", "k8s-version:v1"]);
    assert_eq!(alice["keyauth_credentials"], json!([{"key": "k1", "ttl": 60, "tags": tags("ka")}]));
    assert_eq!(alice["basicauth_credentials"], json!([{"username": "alice", "password": "pw", "tags": tags("ba")}]));
    assert_eq!(
        alice["jwt_secrets"],
        json!([{"key": "iss", "rsa_public_key": "PEM", "algorithm": "RS256", "tags": tags("jw")}])
    );
    assert_eq!(alice["acls"], json!([{"group": "admins", "tags": tags("ac")}]));
    assert_eq!(
        alice["oauth2_credentials"],
        json!([{"name": "app", "client_id": "cid", "redirect_uris": ["https://a", "https://b"], "hash_secret": true, "tags": tags("oa")}])
    );
    assert_eq!(alice["tags"][2], "k8s-kind:KongConsumer");
}

#[test]
fn jwt_defaults_and_credential_failures() {
    let yaml = format!(
        "{}{}{}{}",
        consumer("c", "", "username: c\ncredentials: [jw, nolabel, weird, missing]"),
        secret("jw", &[("key", "iss")], &cred_label("jwt")),
        secret("nolabel", &[("key", "x")], ""),
        secret("weird", &[("key", "x")], &cred_label("ldap")),
    );
    let t = run(&yaml);
    assert_eq!(t.config["consumers"][0]["jwt_secrets"][0]["algorithm"], "HS256");
    let msgs: Vec<_> = t.failures.iter().map(|f| f.message.clone()).collect();
    assert!(msgs.iter().any(|m| m.contains("lacks konghq.com/credential label")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("unsupported credential type: \"ldap\"")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("Secret default/missing not found")), "{msgs:?}");
}

#[test]
fn conflicting_credentials_drop_consumers() {
    let yaml = format!(
        "{}{}{}{}{}",
        consumer("a", "", "username: a\ncredentials: [k1]"),
        consumer("b", "", "username: b\ncredentials: [k2]"),
        consumer("c", "", "username: c"),
        secret("k1", &[("key", "same")], &cred_label("key-auth")),
        secret("k2", &[("key", "same")], &cred_label("key-auth")),
    );
    let t = run(&yaml);
    let names: Vec<_> = t.config["consumers"].as_array().unwrap().iter().map(|c| c["username"].clone()).collect();
    assert_eq!(names, [json!("c")]);
    assert!(t.failures.iter().any(|f| f.object.kind == "Secret" && f.message.contains("conflicting credential")));
    assert!(t.failures.iter().any(|f| f.object.name == "a" && f.message.contains("conflicting credentials")));
}

#[test]
fn consumer_class_filter_and_consumer_plugins() {
    let unclassed =
        "---\napiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata:\n  name: x\n  namespace: \
                     default\nusername: x\n";
    assert!(run(unclassed).config.get("consumers").is_none(), "no class annotation, no default class");
    let default_class =
        "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: kong\n  annotations:\n    \
                         ingressclass.kubernetes.io/is-default-class: \"true\"\n";
    assert!(run(&format!("{unclassed}{default_class}")).config["consumers"].is_array());

    let yaml = format!(
        "{}{}{}",
        base("konghq.com/plugins: rl", ""),
        consumer("u", ", konghq.com/plugins: rl", "username: user-1"),
        kong_plugin("rl", "plugin: rate-limiting"),
    );
    let ps = plugins(&run(&yaml));
    assert_eq!(ps.len(), 1, "consumer × route: one plugin instance");
    assert_eq!((ps[0]["consumer"].clone(), ps[0]["route"].clone()), (json!("user-1"), json!(ROUTE)));
}
