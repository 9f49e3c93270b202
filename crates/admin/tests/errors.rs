//! Kong's error codes and bodies, and proof that rejected writes change nothing.

mod common;

use common::{Api, BODY_LIMIT};
use reqwest::Method;
use serde_json::{json, Value};

contract!(
    schema_violation_names_fields,
    unique_violation_is_409,
    foreign_key_violation_and_unresolved,
    restricted_delete_and_cascade,
    malformed_bodies_are_rejected,
    rejected_writes_leave_database_unchanged,
    unknown_paths_and_methods,
    plugins_are_checked_against_the_registry,
);

async fn schema_violation_names_fields(api: Api) {
    let reply = api.post("/services", json!({"protocol": "ftp", "port": 70000, "bogus": 1})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], 2);
    assert_eq!(reply.body["name"], "schema violation");
    let fields = &reply.body["fields"];
    assert_eq!(fields["bogus"], "unknown field");
    assert_eq!(fields["host"], "required field missing");
    assert_eq!(fields["port"], "value should be between 0 and 65535");
    assert_eq!(fields["protocol"], "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp");
    assert_eq!(
        reply.body["message"],
        "4 schema violations (bogus: unknown field; host: required field missing; port: value should be between 0 and 65535; protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
    );
    let route = api.post("/routes", json!({"paths": ["/ok", "nope"]})).await;
    assert_eq!(route.status, 400);
    assert_eq!(route.body["fields"]["paths"], json!([null, "should start with: / (fixed path) or ~/ (regex path)"]));
    let empty = api.post("/routes", json!({})).await;
    assert_eq!(
        empty.body["message"],
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')"
    );
}

async fn unique_violation_is_409(api: Api) {
    api.create("/services", json!({"name": "dup", "host": "a"})).await;
    let again = api.post("/services", json!({"name": "dup", "host": "b"})).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], 5);
    assert_eq!(again.body["name"], "unique constraint violation");
    assert_eq!(again.body["message"], "UNIQUE violation detected on '{name=\"dup\"}'");
    assert_eq!(again.body["fields"], json!({"name": "dup"}));
    let s = api.get("/services/dup").await.body;
    let sid = s["id"].as_str().unwrap_or_default();
    api.create("/plugins", json!({"name": "key-auth", "service": {"id": sid}})).await;
    let twin = api.post("/plugins", json!({"name": "key-auth", "service": {"id": sid}})).await;
    assert_eq!(twin.status, 409, "{}", twin.text);
    assert_eq!(
        twin.body["message"],
        format!(
            "UNIQUE violation detected on '{{consumer=null,name=\"key-auth\",route=null,service={{id=\"{sid}\"}}}}'"
        )
    );
}

async fn foreign_key_violation_and_unresolved(api: Api) {
    let ghost = uuid::Uuid::new_v4().to_string();
    let reply = api.post("/routes", json!({"paths": ["/x"], "service": {"id": ghost}})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], 4);
    assert_eq!(reply.body["name"], "foreign key violation");
    assert_eq!(
        reply.body["message"],
        format!("the foreign key '{{id=\"{ghost}\"}}' does not reference an existing 'services' entity.")
    );
    assert_eq!(reply.body["fields"], json!({"service": {"id": ghost}}));
    let unresolved = api.post("/routes", json!({"paths": ["/x"], "service": {"name": "non-existing"}})).await;
    assert_eq!(unresolved.status, 400);
    assert_eq!(unresolved.body["code"], 13);
    assert_eq!(unresolved.body["name"], "foreign keys unresolved");
    assert_eq!(
        unresolved.body["message"],
        "foreign key unresolved (service.name: the foreign key cannot be resolved with '{name=\"non-existing\"}' for an existing 'services' entity)"
    );
    api.create("/services", json!({"name": "real", "host": "h"})).await;
    let resolved = api.post("/routes", json!({"paths": ["/x"], "service": {"name": "real"}})).await;
    assert_eq!(resolved.status, 201, "{}", resolved.text);
    let rid = resolved.body["id"].as_str().unwrap_or_default().to_string();
    let put_ghost = api.put(&format!("/routes/{rid}"), json!({"paths": ["/x"], "service": {"id": ghost}})).await;
    assert_eq!(put_ghost.body["code"], 4);
    let patch_ghost = api.patch(&format!("/routes/{rid}"), json!({"service": {"name": "nope"}})).await;
    assert_eq!(patch_ghost.body["code"], 13);
    assert_eq!(api.get(&format!("/routes/{rid}")).await.body["service"], resolved.body["service"]);
}

async fn restricted_delete_and_cascade(api: Api) {
    let s = api.create("/services", json!({"name": "svc", "host": "h"})).await;
    let r = api.create("/services/svc/routes", json!({"name": "r1", "paths": ["/r"]})).await;
    let p = api.create("/routes/r1/plugins", json!({"name": "cors"})).await;
    let blocked = api.delete("/services/svc").await;
    assert_eq!(blocked.status, 400);
    assert_eq!(blocked.body["code"], 4);
    assert_eq!(blocked.body["message"], "an existing 'routes' entity references this 'services' entity");
    assert_eq!(blocked.body["fields"], json!({"@referenced_by": "routes"}));
    assert_eq!(api.get("/services/svc").await.status, 200);
    assert_eq!(api.delete("/routes/r1").await.status, 204);
    let pid = p["id"].as_str().unwrap_or_default();
    assert_eq!(api.get(&format!("/plugins/{pid}")).await.status, 404, "plugins cascade with their route");
    assert_eq!(api.delete("/services/svc").await.status, 204);
    assert_eq!(r["service"]["id"], s["id"]);
}

async fn malformed_bodies_are_rejected(api: Api) {
    let bad_json = api.raw(Method::POST, "/services", Some("application/json"), b"{not json".to_vec()).await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.body, json!({"message": "Cannot parse JSON body"}));
    let empty_json = api.raw(Method::POST, "/services", Some("application/json"), Vec::new()).await;
    assert_eq!(empty_json.status, 400);
    let xml = api.raw(Method::POST, "/services", Some("text/xml"), b"<a/>".to_vec()).await;
    assert_eq!(xml.status, 415);
    let no_type = api.raw(Method::POST, "/services", None, b"name=x".to_vec()).await;
    assert_eq!(no_type.status, 415);
    let huge = vec![b'a'; BODY_LIMIT + 10];
    let mut body = b"{\"name\":\"".to_vec();
    body.extend(huge);
    body.extend(b"\"}");
    let too_big = api.raw(Method::POST, "/services", Some("application/json"), body).await;
    assert_eq!(too_big.status, 413);
    let form = api.post_form("/routes", &[("paths[]", "/a"), ("paths[]", "/b"), ("strip_path", "false")]).await;
    assert_eq!(form.status, 201, "{}", form.text);
    assert_eq!(form.body["paths"], json!(["/a", "/b"]));
    assert_eq!(form.body["strip_path"], false);
    let multipart = reqwest::multipart::Form::new().text("name", "mp").text("host", "mp.test").text("port", "8080");
    let mp = api.multipart("/services", multipart).await;
    assert_eq!(mp.status, 201, "{}", mp.text);
    assert_eq!(mp.body["port"], 8080);
    let nested_form =
        api.post_form("/upstreams", &[("name", "f.test"), ("healthchecks.active.healthy.interval", "7")]).await;
    assert_eq!(nested_form.status, 201, "{}", nested_form.text);
    assert_eq!(nested_form.body["healthchecks"]["active"]["healthy"]["interval"], 7);
}

async fn rejected_writes_leave_database_unchanged(api: Api) {
    api.create("/services", json!({"name": "keep", "host": "h", "tags": ["t1"]})).await;
    let before = api.get("/services/keep").await.body;
    let baseline = counts(&api).await;
    let attempts = vec![
        api.post("/services", json!({"name": "keep", "host": "other"})).await,
        api.patch("/services/keep", json!({"port": -1})).await,
        api.put("/services/keep", json!({"protocol": "tcp", "path": "/x"})).await,
        api.patch("/services/keep", json!({"tags": ["a,b"]})).await,
        api.post("/routes", json!({"paths": ["/z"], "service": {"id": uuid::Uuid::new_v4()}})).await,
        api.post("/certificates", json!({"cert": "garbage", "key": "garbage", "snis": ["a.test"]})).await,
        api.raw(Method::PATCH, "/services/keep", Some("application/json"), b"[".to_vec()).await,
    ];
    for reply in &attempts {
        assert!(reply.status >= 400, "expected rejection, got {}: {}", reply.status, reply.text);
    }
    assert_eq!(counts(&api).await, baseline);
    assert_eq!(api.get("/services/keep").await.body, before);
}

async fn counts(api: &Api) -> [usize; 5] {
    [
        api.count("services").await,
        api.count("routes").await,
        api.count("tags").await,
        api.count("certificates").await,
        api.count("snis").await,
    ]
}

async fn unknown_paths_and_methods(api: Api) {
    let unknown = api.get("/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, json!({"message": "Not found"}));
    let wrong = api.raw(Method::DELETE, "/services", None, Vec::new()).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.body, json!({"message": "Method not allowed"}));
    let slash = api.get("/services/").await;
    assert_eq!(slash.status, 200, "a trailing slash is tolerated");
    let options = api.raw(Method::OPTIONS, "/services", None, Vec::new()).await;
    assert_eq!(options.status, 204);
    assert_eq!(options.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD, OPTIONS, POST"));
    let config = api.get("/config").await;
    assert_eq!(config.status, 400);
}

async fn plugins_are_checked_against_the_registry(api: Api) {
    let unknown = api.post("/plugins", json!({"name": "no-such-plugin"})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body["fields"]["name"],
        "plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property"
    );
    let ok = api.create("/plugins", json!({"name": "rate-limiting", "config": {"minute": 5}})).await;
    assert_eq!(ok["enabled"], true);
    assert_eq!(ok["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    assert_eq!(ok["config"]["minute"], 5);
    assert_eq!(ok["route"], Value::Null);
    let enabled = api.get("/plugins/enabled").await;
    assert!(enabled.body["enabled_plugins"].as_array().is_some_and(|a| a.contains(&json!("key-auth"))));
}
