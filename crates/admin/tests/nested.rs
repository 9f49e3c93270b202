//! Nested endpoints, foreign-key sub-resources, certificates with SNIs, and the informational endpoints.

mod common;

use common::{fixture, Api};
use serde_json::{json, Value};

contract!(
    nested_collections_scope_to_their_parent,
    foreign_sub_resource,
    certificates_create_their_snis,
    ca_certificates_are_checked,
    root_status_endpoints_and_schemas,
);

async fn nested_collections_scope_to_their_parent(api: Api) {
    let a = api.create("/services", json!({"name": "a", "host": "a.test"})).await;
    api.create("/services", json!({"name": "b", "host": "b.test"})).await;
    let ra = api.create("/services/a/routes", json!({"name": "ra", "service": {"name": "b"}, "paths": ["/a"]})).await;
    assert_eq!(ra["service"]["id"], a["id"], "POST on a nested collection forces the parent");
    api.create("/services/b/routes", json!({"name": "rb", "paths": ["/b"]})).await;
    let listed = api.get("/services/a/routes").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed.body["data"][0]["name"], "ra");
    assert_eq!(api.get("/services/a/routes/ra").await.status, 200);
    assert_eq!(api.get("/services/a/routes/rb").await.status, 404, "a child of another parent is not found");
    assert_eq!(api.delete("/services/a/routes/rb").await.status, 404);
    assert_eq!(api.get("/services/nope/routes").await.status, 404);
    let patched = api.patch("/services/a/routes/ra", json!({"hosts": ["x.test"]})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["service"]["id"], a["id"]);
    let consumer = api.create("/consumers", json!({"username": "c"})).await;
    let plugin = api.create("/consumers/c/plugins", json!({"name": "rate-limiting", "config": {"second": 1}})).await;
    assert_eq!(plugin["consumer"]["id"], consumer["id"]);
    assert_eq!(api.get("/consumers/c/plugins").await.body["data"].as_array().map(Vec::len), Some(1));
    let mut pages = 0;
    for i in 0..3 {
        api.create("/services/a/routes", json!({"paths": [format!("/p{i}")]})).await;
    }
    let mut next = Some("/services/a/routes?size=2".to_string());
    while let Some(path) = next {
        let page = api.get(&path).await;
        pages += 1;
        next = page.body["next"].as_str().map(String::from);
        if let Some(n) = &next {
            assert!(n.starts_with("/services/a/routes?offset="), "{n}");
        }
    }
    assert_eq!(pages, 2);
}

async fn foreign_sub_resource(api: Api) {
    let route = api.create("/routes", json!({"name": "lonely", "paths": ["/l"]})).await;
    assert_eq!(api.get("/routes/lonely/service").await.status, 404);
    let created = api.put("/routes/lonely/service", json!({"name": "fresh", "host": "f.test"})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let linked = api.get("/routes/lonely").await.body;
    assert_eq!(linked["service"]["id"], created.body["id"]);
    let patched = api.patch("/routes/lonely/service", json!({"port": 8080})).await;
    assert_eq!(patched.body["port"], 8080);
    assert_eq!(api.delete("/routes/lonely/service").await.status, 405);
    assert_eq!(route["name"], "lonely");
}

async fn certificates_create_their_snis(api: Api) {
    let cert = api
        .create(
            "/certificates",
            json!({"cert": fixture("rsa.crt"), "key": fixture("rsa.key"), "snis": ["b.test", "a.test"]}),
        )
        .await;
    assert_eq!(cert["snis"], json!(["a.test", "b.test"]));
    let cid = cert["id"].as_str().unwrap_or_default();
    let snis = api.get(&format!("/certificates/{cid}/snis")).await;
    assert_eq!(snis.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(api.get("/snis/a.test").await.body["certificate"]["id"], cert["id"]);
    let mismatch = api.post("/certificates", json!({"cert": fixture("rsa.crt"), "key": fixture("ec.key")})).await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.text.contains("certificate does not match key"), "{}", mismatch.text);
    let taken = api
        .post("/certificates", json!({"cert": fixture("ec.crt"), "key": fixture("ec.key"), "snis": ["a.test"]}))
        .await;
    assert_eq!(taken.status, 400);
    assert_eq!(
        taken.body["message"],
        format!("schema violation (snis: a.test already associated with existing certificate '{cid}')")
    );
    let wildcard = api.create("/snis", json!({"name": "*.wild.test", "certificate": {"id": cid}})).await;
    assert_eq!(wildcard["name"], "*.wild.test");
    let bad = api.post("/snis", json!({"name": "a.*.test", "certificate": {"id": cid}})).await;
    assert_eq!(bad.body["fields"]["name"], "wildcard must be leftmost or rightmost character");
    assert_eq!(api.get(&format!("/certificates/{cid}")).await.body["snis"], json!(["*.wild.test", "a.test", "b.test"]));
    assert_eq!(api.delete(&format!("/certificates/{cid}")).await.status, 204);
    assert_eq!(api.get("/snis/a.test").await.status, 404, "SNIs go with their certificate");
}

async fn ca_certificates_are_checked(api: Api) {
    let ca = api.create("/ca_certificates", json!({"cert": fixture("ca.crt")})).await;
    let digest = ca["cert_digest"].as_str().unwrap_or_default();
    assert_eq!(digest.len(), 64);
    let dup = api.post("/ca_certificates", json!({"cert": fixture("ca.crt")})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["message"], format!("UNIQUE violation detected on '{{cert_digest=\"{digest}\"}}'"));
    let leaf = api.post("/ca_certificates", json!({"cert": fixture("rsa.crt")})).await;
    assert_eq!(leaf.status, 400);
    assert!(leaf.text.contains("missing the \\\"CA\\\" basic constraint"), "{}", leaf.text);
}

async fn root_status_endpoints_and_schemas(api: Api) {
    api.create("/plugins", json!({"name": "cors"})).await;
    let root = api.get("/").await;
    assert_eq!(root.status, 200);
    assert_eq!(root.body["tagline"], "Welcome to kong");
    assert!(root.body["node_id"].is_string());
    assert_eq!(root.body["plugins"]["enabled_in_cluster"], json!(["cors"]));
    assert_eq!(root.body["plugins"]["available_on_server"]["key-auth"]["priority"], 1250);
    assert_eq!(root.body["configuration"]["pg_password"], "******");
    let status = api.get("/status").await;
    assert_eq!(status.body["database"]["reachable"], true);
    assert!(status.body["server"]["total_requests"].as_u64().is_some_and(|n| n >= 2));
    let endpoints = api.get("/endpoints").await;
    let list = endpoints.body["data"].as_array().cloned().unwrap_or_default();
    for expected in
        ["/services", "/services/{services}/routes", "/routes/{routes}/service", "/upstreams/{upstreams}/targets"]
    {
        assert!(list.contains(&json!(expected)), "missing {expected} in {list:?}");
    }
    let schema = api.get("/schemas/services").await;
    let fields = schema.body["fields"].as_array().cloned().unwrap_or_default();
    let retries = fields.iter().find_map(|f| f.get("retries")).cloned().unwrap_or(Value::Null);
    assert_eq!(retries["default"], 5);
    assert_eq!(retries["between"], json!([0, 32767]));
    assert_eq!(api.get("/schemas/nope").await.body, json!({"message": "No entity named 'nope'"}));
    let valid = api.post("/schemas/services/validate", json!({"host": "x.test"})).await;
    assert_eq!(valid.body, json!({"message": "schema validation successful"}));
    let invalid = api.post("/schemas/services/validate", json!({"host": "x.test", "port": "no"})).await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["fields"]["port"], "expected an integer");
    assert_eq!(api.count("services").await, 0, "validation does not write");
}
