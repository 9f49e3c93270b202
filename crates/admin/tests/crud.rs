//! Create, read, upsert, update, delete and pagination, on SQLite and PostgreSQL alike.

mod common;

use common::Api;
use serde_json::{json, Value};

contract!(
    create_service_renders_every_field,
    get_by_id_and_name,
    put_upserts_by_name_and_id,
    patch_merges_and_missing_is_not_found,
    delete_is_idempotent,
    pagination_walks_every_row_once,
    pagination_rejects_bad_size_and_offset,
    tags_filter_and_tags_view,
    upstream_and_target_defaults,
    consumers_by_custom_id,
    keys_with_reserved_characters_are_exact,
);

async fn create_service_renders_every_field(api: Api) {
    let reply = api.post_form("/services", &[("name", "x"), ("url", "http://example.com")]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let s = &reply.body;
    assert_eq!(s["name"], "x");
    assert_eq!(s["protocol"], "http");
    assert_eq!(s["host"], "example.com");
    assert_eq!(s["port"], 80);
    assert_eq!(s["path"], Value::Null);
    assert_eq!(s["retries"], 5);
    assert_eq!(s["connect_timeout"], 60000);
    assert_eq!(s["enabled"], true);
    assert_eq!(s["tags"], Value::Null);
    assert_eq!(s["client_certificate"], Value::Null);
    assert!(s["created_at"].is_i64() && s["updated_at"].is_i64());
    assert!(uuid::Uuid::parse_str(s["id"].as_str().unwrap_or_default()).is_ok());
    assert!(reply.headers.get("x-kong-admin-latency").is_some());
    assert!(s.as_object().is_some_and(|o| o.contains_key("tls_verify_depth")), "unset fields render as null");
}

async fn get_by_id_and_name(api: Api) {
    let s = api.create("/services", json!({"name": "svc", "host": "upstream.test"})).await;
    let id = s["id"].as_str().unwrap_or_default();
    assert_eq!(api.get(&format!("/services/{id}")).await.body, s);
    assert_eq!(api.get("/services/svc").await.body, s);
    let missing = api.get("/services/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"message": "Not found"}));
    let route = api.create("/routes", json!({"name": "r", "paths": ["/a"], "service": {"id": id}})).await;
    assert_eq!(route["service"], json!({"id": id}));
    let by_service = api.get("/routes/r/service").await;
    assert_eq!(by_service.status, 200);
    assert_eq!(by_service.body["id"], s["id"]);
}

async fn put_upserts_by_name_and_id(api: Api) {
    let created = api.put("/services/alpha", json!({"host": "a.test"})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["name"], "alpha");
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let replaced = api.put("/services/alpha", json!({"host": "b.test", "name": "ignored", "retries": 1})).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["id"], id.as_str(), "PUT by name keeps the id");
    assert_eq!(replaced.body["name"], "alpha", "the URL's key wins over the body");
    assert_eq!(replaced.body["host"], "b.test");
    let reset = api.put("/services/alpha", json!({"host": "c.test"})).await;
    assert_eq!(reset.body["retries"], 5, "PUT replaces fully: defaults come back");
    let new_id = uuid::Uuid::new_v4().to_string();
    let by_id = api.put(&format!("/services/{new_id}"), json!({"host": "d.test", "name": "delta"})).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_eq!(by_id.body["id"], new_id.as_str());
    assert_eq!(api.count("services").await, 2);
}

async fn patch_merges_and_missing_is_not_found(api: Api) {
    api.create("/upstreams", json!({"name": "up.test", "healthchecks": {"active": {"healthy": {"interval": 5}}}}))
        .await;
    let patched = api.patch("/upstreams/up.test", json!({"healthchecks": {"active": {"timeout": 3}}})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let active = &patched.body["healthchecks"]["active"];
    assert_eq!(active["timeout"], 3);
    assert_eq!(active["healthy"]["interval"], 5, "records merge field by field");
    let missing = api.patch("/services/ghost", json!({"retries": 1})).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], 6);
    assert_eq!(missing.body["name"], "not found");
    assert_eq!(missing.body["message"], "could not find the entity with '{name=\"ghost\"}'");
    let missing_id = uuid::Uuid::new_v4();
    let by_id = api.patch(&format!("/services/{missing_id}"), json!({"retries": 1})).await;
    assert_eq!(by_id.body["message"], format!("could not find the entity with primary key '{{id=\"{missing_id}\"}}'"));
}

async fn delete_is_idempotent(api: Api) {
    api.create("/consumers", json!({"username": "bob"})).await;
    let first = api.delete("/consumers/bob").await;
    assert_eq!(first.status, 204);
    assert!(first.text.is_empty());
    assert_eq!(api.delete("/consumers/bob").await.status, 204);
    assert_eq!(api.delete(&format!("/consumers/{}", uuid::Uuid::new_v4())).await.status, 204);
    assert_eq!(api.get("/consumers/bob").await.status, 404);
}

async fn pagination_walks_every_row_once(api: Api) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let c = api.create("/consumers", json!({"username": format!("user{i}")})).await;
        ids.push(c["id"].as_str().unwrap_or_default().to_string());
    }
    ids.sort();
    let first = api.get("/consumers?size=3").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["data"].as_array().map(Vec::len), Some(3));
    let offset = first.body["offset"].as_str().unwrap_or_default().to_string();
    let next = first.body["next"].as_str().unwrap_or_default().to_string();
    assert!(next.starts_with("/consumers?offset="), "{next}");
    assert!(next.ends_with("&size=3"), "{next}");
    assert!(!offset.is_empty());
    let mut seen: Vec<String> = Vec::new();
    let mut path = Some("/consumers?size=3".to_string());
    while let Some(p) = path {
        let page = api.get(&p).await;
        for e in page.body["data"].as_array().cloned().unwrap_or_default() {
            seen.push(e["id"].as_str().unwrap_or_default().to_string());
        }
        path = page.body["next"].as_str().map(String::from);
    }
    assert_eq!(seen, ids, "pages are in primary-key order with no gaps or repeats");
    let last = api.get("/consumers?size=7").await;
    assert_eq!(last.body["next"], Value::Null);
    assert!(last.body.get("offset").is_none());
}

async fn pagination_rejects_bad_size_and_offset(api: Api) {
    let nan = api.get("/services?size=abc").await;
    assert_eq!((nan.status, nan.body["code"].as_i64()), (400, Some(9)));
    assert_eq!(nan.body["message"], "size must be a number");
    for bad in ["0", "1001", "2.5"] {
        let r = api.get(&format!("/services?size={bad}")).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["message"], "size must be an integer between 1 and 1000");
    }
    let offset = api.get("/services?offset=%21%21").await;
    assert_eq!((offset.status, offset.body["code"].as_i64()), (400, Some(7)));
    assert_eq!(offset.body["name"], "invalid offset");
    assert_eq!(offset.body["message"], "'!!' is not a valid offset: bad base64 encoding");
}

async fn tags_filter_and_tags_view(api: Api) {
    api.create("/services", json!({"name": "s1", "host": "h", "tags": ["blue", "prod"]})).await;
    api.create("/services", json!({"name": "s2", "host": "h", "tags": ["blue"]})).await;
    api.create("/services", json!({"name": "s3", "host": "h", "tags": ["green"]})).await;
    let names = |reply: &common::Reply| {
        let mut n: Vec<String> = reply.body["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| s["name"].as_str().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&api.get("/services?tags=blue,prod").await), vec!["s1"]);
    assert_eq!(names(&api.get("/services?tags=prod/green").await), vec!["s1", "s3"]);
    assert_eq!(names(&api.get("/services?tags=blue").await), vec!["s1", "s2"]);
    let empty = api.get("/services?tags=").await;
    assert_eq!((empty.status, empty.body["code"].as_i64()), (400, Some(11)));
    let view = api.get("/tags/blue").await;
    assert_eq!(view.status, 200);
    let rows = view.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["entity_name"] == "services" && r["tag"] == "blue"));
    assert_eq!(api.get("/tags").await.body["data"].as_array().map(Vec::len), Some(4));
    api.patch("/services/s1", json!({"tags": ["prod"]})).await;
    assert_eq!(api.get("/tags/blue").await.body["data"].as_array().map(Vec::len), Some(1));
    api.delete("/services/s2").await;
    assert_eq!(api.get("/tags/blue").await.body["data"].as_array().map(Vec::len), Some(0));
}

async fn upstream_and_target_defaults(api: Api) {
    let up = api.create("/upstreams", json!({"name": "backend.test"})).await;
    assert_eq!(up["algorithm"], "round-robin");
    assert_eq!(up["slots"], 10000);
    assert_eq!(up["healthchecks"]["active"]["healthy"]["http_statuses"], json!([200, 302]));
    assert_eq!(up["healthchecks"]["passive"]["unhealthy"]["http_statuses"], json!([429, 500, 503]));
    assert_eq!(up["healthchecks"]["threshold"], 0);
    let target = api.create("/upstreams/backend.test/targets", json!({"target": "10.0.0.1"})).await;
    assert_eq!(target["target"], "10.0.0.1:8000");
    assert_eq!(target["weight"], 100);
    assert_eq!(target["upstream"]["id"], up["id"]);
    let dup = api.post("/upstreams/backend.test/targets", json!({"target": "10.0.0.1:8000"})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(api.get("/targets").await.status, 404, "targets are only nested under upstreams");
    let listed = api.get("/upstreams/backend.test/targets").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(api.delete("/upstreams/backend.test").await.status, 204);
    let tid = target["id"].as_str().unwrap_or_default();
    let gone = api.get(&format!("/upstreams/{}/targets/{tid}", up["id"].as_str().unwrap_or_default())).await;
    assert_eq!(gone.status, 404, "targets cascade with their upstream");
}

async fn consumers_by_custom_id(api: Api) {
    api.create("/consumers", json!({"username": "a", "custom_id": "c-1"})).await;
    api.create("/consumers", json!({"username": "b"})).await;
    let found = api.get("/consumers?custom_id=c-1").await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(found.body["data"][0]["username"], "a");
    assert_eq!(found.body["next"], Value::Null);
}

async fn keys_with_reserved_characters_are_exact(api: Api) {
    api.create("/consumers", json!({"username": "alice"})).await;
    let odd = api.create("/consumers", json!({"username": "alice&b=c+d"})).await;
    let found = api.get("/consumers/alice&b=c+d").await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["id"], odd["id"], "the whole segment is the key, not a form-decoded prefix");
    assert_eq!(api.get("/consumers/alice%26b%3Dc%2Bd").await.body["id"], odd["id"]);
    assert_eq!(api.delete("/consumers/alice&b=c+d").await.status, 204);
    assert_eq!(api.get("/consumers/alice").await.status, 200, "a different consumer is untouched");
}
