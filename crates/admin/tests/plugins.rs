//! Plugins through the Admin API: config validation with Kong's error bodies, defaults, PATCH merging, PUT upserts,
//! the plugin schema endpoints and `/plugins/enabled`, on SQLite and PostgreSQL alike. Expected statuses and bodies
//! follow Kong 3.9's own specs (`spec/02-integration/04-admin_api/04-plugins_routes_spec.lua`,
//! `spec/03-plugins/09-key-auth/01-api_spec.lua`) and `kong/api/routes/kong.lua`.

mod common;

use common::Api;
use serde_json::{json, Value};

contract!(
    config_errors_have_kongs_shape,
    rejected_writes_change_nothing,
    scope_restrictions_and_entity_checks,
    defaults_are_filled_on_create,
    patch_merges_into_config,
    put_upserts_by_instance_name_and_id,
    duplicate_scope_is_a_unique_violation,
    plugin_schema_endpoints,
    validate_endpoint,
    enabled_plugins,
);

const BAD_HEADER: &str = "bad header name 'hello\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
const ONLY_ONE: &str = "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'";
const AT_LEAST_ONE: &str = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'";

/// Asserts a 400 schema violation and returns its `fields`.
fn violation(reply: &common::Reply) -> Value {
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["code"], 2, "{}", reply.text);
    assert_eq!(reply.body["name"], "schema violation", "{}", reply.text);
    reply.body["fields"].clone()
}

fn len(reply: &common::Reply) -> Option<usize> {
    reply.body["data"].as_array().map(Vec::len)
}

async fn config_errors_have_kongs_shape(api: Api) {
    let not_array = api.post("/plugins", json!({"name": "key-auth", "config": {"key_names": "apikey"}})).await;
    assert_eq!(
        not_array.body,
        json!({
            "code": 2,
            "name": "schema violation",
            "message": "schema violation (config.key_names: expected an array)",
            "fields": {"config": {"key_names": "expected an array"}},
        })
    );
    let header = api.post("/plugins", json!({"name": "key-auth", "config": {"key_names": ["hello\\world"]}})).await;
    assert_eq!(violation(&header)["config"]["key_names"], json!([BAD_HEADER]), "element errors are listed by index");
    assert_eq!(header.body["message"], format!("schema violation (config.key_names.1: {BAD_HEADER})"));
    let second = api.post("/plugins", json!({"name": "key-auth", "config": {"key_names": ["ok", ""]}})).await;
    assert_eq!(violation(&second)["config"]["key_names"][1], "length must be at least 1");
    let boolean = api.post("/plugins", json!({"name": "key-auth", "config": {"key_in_body": "yes"}})).await;
    assert_eq!(violation(&boolean), json!({"config": {"key_in_body": "expected a boolean"}}));
    let unknown = api.post("/plugins", json!({"name": "key-auth", "config": {"foo": 1}})).await;
    assert_eq!(violation(&unknown), json!({"config": {"foo": "unknown field"}}));
    assert_eq!(unknown.body["message"], "schema violation (config.foo: unknown field)");
    let two = api.post("/plugins", json!({"name": "key-auth", "config": {"foo": 1, "realm": 1}})).await;
    assert_eq!(violation(&two), json!({"config": {"foo": "unknown field", "realm": "expected a string"}}));
    assert_eq!(two.body["message"], "2 schema violations (config.foo: unknown field; config.realm: expected a string)");
    let top = api.post("/plugins", json!({"name": "key-auth", "foo": "bar"})).await;
    assert_eq!(violation(&top), json!({"foo": "unknown field"}));
    let record = api.post("/plugins", json!({"name": "key-auth", "config": "bar"})).await;
    assert_eq!(violation(&record), json!({"config": "expected a record"}));
    let protocols = api.post("/plugins", json!({"name": "key-auth", "protocols": ["tcp"]})).await;
    assert_eq!(violation(&protocols)["protocols"], json!(["expected one of: grpc, grpcs, http, https"]));
    let missing = api.post("/plugins", json!({"config": {}})).await;
    assert_eq!(violation(&missing), json!({"name": "required field missing"}));
    let disabled = api.post("/plugins", json!({"name": "nope"})).await;
    assert_eq!(
        violation(&disabled),
        json!({"name": "plugin 'nope' not enabled; add it to the 'plugins' configuration property"})
    );
    let rate = api.post("/plugins", json!({"name": "rate-limiting", "config": {"second": "many"}})).await;
    assert_eq!(violation(&rate)["config"]["second"], "expected a number");
    // Kong 3.9's key_names has no length rule: an empty list is accepted as given.
    let empty = api.create("/plugins", json!({"name": "key-auth", "config": {"key_names": []}})).await;
    assert_eq!(empty["config"]["key_names"], json!([]));
    assert_eq!(api.count("plugins").await, 1, "only the valid plugin was written");
}

async fn rejected_writes_change_nothing(api: Api) {
    let plugin = api.create("/plugins", json!({"name": "key-auth", "config": {"key_names": ["testkey"]}})).await;
    let id = plugin["id"].as_str().unwrap_or_default();
    let path = format!("/plugins/{id}");
    let unknown = api.patch(&path, json!({"foo": "bar"})).await;
    assert_eq!(
        unknown.body,
        json!({"code": 2, "name": "schema violation", "message": "schema violation (foo: unknown field)",
               "fields": {"foo": "unknown field"}})
    );
    let record = api.patch(&path, json!({"config": "bar"})).await;
    assert_eq!(record.body["message"], "schema violation (config: expected a record)");
    let bad = api.patch(&path, json!({"config": {"key_names": ["hello\\world"]}})).await;
    assert_eq!(violation(&bad)["config"]["key_names"], json!([BAD_HEADER]));
    let after = api.get(&path).await;
    assert_eq!(after.body, plugin, "a rejected PATCH leaves the plugin as it was");
    let missing = api.patch(&format!("/plugins/{}", uuid::Uuid::new_v4()), json!({"enabled": false})).await;
    assert_eq!(missing.status, 404);
    assert_eq!(api.delete(&format!("/plugins/{}", uuid::Uuid::new_v4())).await.status, 204);
    assert_eq!(api.delete("/plugins/not-found").await.status, 204);
    assert_eq!(api.get("/plugins/not-found").await.status, 404);
}

async fn scope_restrictions_and_entity_checks(api: Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    for name in ["key-auth", "basic-auth", "jwt", "hmac-auth"] {
        let nested = api.post("/consumers/bob/plugins", json!({"name": name})).await;
        assert_eq!(violation(&nested), json!({"consumer": "value must be null"}), "{name}");
        assert_eq!(nested.body["message"], "schema violation (consumer: value must be null)");
    }
    let top = api.post("/plugins", json!({"name": "key-auth", "consumer": {"id": bob["id"]}})).await;
    assert_eq!(violation(&top), json!({"consumer": "value must be null"}));
    let by_name = json!({"name": "acl", "consumer": {"username": "bob"}, "config": {"deny": ["x"]}});
    assert_eq!(violation(&api.post("/plugins", by_name).await)["consumer"], "value must be null");
    let scoped = api.create("/consumers/bob/plugins", json!({"name": "rate-limiting", "config": {"minute": 5}})).await;
    assert_eq!(scoped["consumer"]["id"], bob["id"], "plugins without no_consumer may be consumer-scoped");
    let both = api.post("/plugins", json!({"name": "acl", "config": {"allow": ["a"], "deny": ["b"]}})).await;
    assert_eq!(violation(&both), json!({"@entity": [ONLY_ONE]}));
    assert_eq!(both.body["message"], format!("schema violation ({ONLY_ONE})"));
    let neither = api.post("/plugins", json!({"name": "acl", "config": {}})).await;
    assert_eq!(violation(&neither), json!({"@entity": [ONLY_ONE, AT_LEAST_ONE]}));
    assert_eq!(neither.body["message"], format!("2 schema violations ({ONLY_ONE}; {AT_LEAST_ONE})"));
    let acl = api.create("/plugins", json!({"name": "acl", "config": {"allow": ["admins"], "deny": []}})).await;
    assert_eq!(acl["config"]["allow"], json!(["admins"]));
    assert_eq!(acl["config"]["hide_groups_header"], false);
    let acl_path = format!("/plugins/{}", acl["id"].as_str().unwrap_or_default());
    let flip = api.patch(&acl_path, json!({"config": {"deny": ["x"]}})).await;
    assert_eq!(violation(&flip), json!({"@entity": [ONLY_ONE]}), "entity checks see the merged config");
    assert_eq!(api.count("plugins").await, 2);
}

async fn defaults_are_filled_on_create(api: Api) {
    let service = api.create("/services", json!({"name": "s", "host": "s.test"})).await;
    let plugin = api.create("/services/s/plugins", json!({"name": "key-auth"})).await;
    assert_eq!(
        plugin["config"],
        json!({
            "key_names": ["apikey"], "hide_credentials": false, "anonymous": null, "key_in_header": true,
            "key_in_query": true, "key_in_body": false, "run_on_preflight": true, "realm": null,
        })
    );
    assert_eq!(plugin["protocols"], json!(["grpc", "grpcs", "http", "https"]), "key-auth uses protocols_http");
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["service"], json!({"id": service["id"]}));
    for absent in ["route", "consumer", "instance_name", "tags"] {
        assert_eq!(plugin[absent], Value::Null, "{absent}");
        assert!(plugin.as_object().is_some_and(|p| p.contains_key(absent)), "{absent} renders as null");
    }
    assert!(plugin["created_at"].is_i64() && plugin["updated_at"].is_i64());
    let id = plugin["id"].as_str().unwrap_or_default();
    assert_eq!(api.get(&format!("/plugins/{id}")).await.body, plugin, "what was returned is what is stored");
    let basic = api.create("/plugins", json!({"name": "basic-auth", "config": {"hide_credentials": true}})).await;
    assert_eq!(basic["config"], json!({"anonymous": null, "hide_credentials": true, "realm": "service"}));
    let cors = api.create("/plugins", json!({"name": "cors", "protocols": ["https"]})).await;
    assert_eq!(cors["protocols"], json!(["https"]));
    let named = api.create("/plugins", json!({"name": "jwt", "instance_name": "my-jwt"})).await;
    assert_eq!(named["config"]["key_claim_name"], "iss");
    assert_eq!(api.get("/plugins/my-jwt").await.body["id"], named["id"], "plugins are found by instance_name");
    assert_eq!(len(&api.get("/services/s/plugins").await), Some(1));
    assert_eq!(len(&api.get("/plugins").await), Some(4));
}

async fn patch_merges_into_config(api: Api) {
    let plugin =
        api.create("/plugins", json!({"name": "key-auth", "config": {"key_names": ["testkey"], "realm": "r"}})).await;
    let path = format!("/plugins/{}", plugin["id"].as_str().unwrap_or_default());
    let hidden = api.patch(&path, json!({"config": {"hide_credentials": true}})).await;
    assert_eq!(hidden.status, 200, "{}", hidden.text);
    assert_eq!(hidden.body["config"]["hide_credentials"], true);
    assert_eq!(hidden.body["config"]["key_names"], json!(["testkey"]), "other config fields are kept");
    assert_eq!(hidden.body["config"]["realm"], "r");
    let renamed = api.patch(&path, json!({"config": {"key_names": ["a", "b"]}})).await;
    assert_eq!(renamed.body["config"]["key_names"], json!(["a", "b"]), "arrays are replaced, not merged");
    assert_eq!(renamed.body["config"]["hide_credentials"], true);
    let disabled = api.patch(&path, json!({"enabled": false})).await;
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(disabled.body["config"], renamed.body["config"]);
    assert_eq!(disabled.body["name"], "key-auth", "the name comes from the stored plugin");
    let cleared = api.patch(&path, json!({"config": {"realm": null}, "tags": ["t"]})).await;
    assert_eq!(cleared.body["config"]["realm"], Value::Null);
    assert_eq!(cleared.body["tags"], json!(["t"]));
    assert_eq!(api.get(&path).await.body, cleared.body);
    assert_eq!(cleared.body["id"], plugin["id"]);
    assert_eq!(cleared.body["created_at"], plugin["created_at"]);
    api.create("/services", json!({"name": "svc", "host": "svc.test"})).await;
    let nested = api.create("/services/svc/plugins", json!({"name": "cors"})).await;
    let nested_path = format!("/services/svc/plugins/{}", nested["id"].as_str().unwrap_or_default());
    let patched = api.patch(&nested_path, json!({"config": {"max_age": 60}})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["config"]["max_age"], 60);
    assert_eq!(patched.body["config"]["credentials"], false);
    assert_eq!(patched.body["service"], nested["service"]);
    let unscoped = api.patch(&path, json!({"service": null})).await;
    assert_eq!(unscoped.status, 200, "{}", unscoped.text);
}

async fn put_upserts_by_instance_name_and_id(api: Api) {
    let service = api.create("/services", json!({"name": "s", "host": "s.test"})).await;
    let body = json!({"name": "key-auth", "service": {"id": service["id"]}, "config": {"key_names": ["testkey"]}});
    let created = api.put("/plugins/my-key-auth", body).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["instance_name"], "my-key-auth");
    assert_eq!(created.body["config"]["key_names"], json!(["testkey"]));
    let body = json!({"name": "key-auth", "service": {"id": service["id"]}, "config": {"key_names": ["testkey2"]}});
    let replaced = api.put("/plugins/my-key-auth", body).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["id"], created.body["id"], "an upsert keeps the id");
    assert_eq!(replaced.body["config"]["key_names"], json!(["testkey2"]));
    let hidden = api.patch("/plugins/my-key-auth", json!({"config": {"hide_credentials": true}})).await;
    assert_eq!(hidden.body["config"]["hide_credentials"], true);
    let reset = api.put("/plugins/my-key-auth", json!({"name": "key-auth", "service": {"name": "s"}})).await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.body["config"]["key_names"], json!(["apikey"]), "PUT replaces: config defaults come back");
    assert_eq!(reset.body["config"]["hide_credentials"], false);
    assert_eq!(reset.body["service"]["id"], service["id"]);
    let id = uuid::Uuid::new_v4().to_string();
    let by_id = api.put(&format!("/plugins/{id}"), json!({"name": "cors"})).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_eq!(by_id.body["id"], id.as_str());
    assert_eq!(by_id.body["config"]["origins"], Value::Null);
    let invalid = api.put(&format!("/plugins/{id}"), json!({"name": "cors", "config": {"max_age": "x"}})).await;
    assert_eq!(violation(&invalid), json!({"config": {"max_age": "expected a number"}}));
    let missing_name = api.put("/plugins/other", json!({"config": {}})).await;
    assert_eq!(violation(&missing_name)["name"], "required field missing");
    assert_eq!(api.count("plugins").await, 2);
}

async fn duplicate_scope_is_a_unique_violation(api: Api) {
    let service = api.create("/services", json!({"name": "s", "host": "s.test"})).await;
    api.create("/services/s/plugins", json!({"name": "key-auth"})).await;
    let dup = api.post("/plugins", json!({"name": "key-auth", "service": {"name": "s"}})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(dup.body["code"], 5);
    assert_eq!(dup.body["name"], "unique constraint violation");
    let sid = service["id"].as_str().unwrap_or_default();
    assert_eq!(
        dup.body["message"],
        format!(
            "UNIQUE violation detected on '{{consumer=null,name=\"key-auth\",route=null,service={{id=\"{sid}\"}}}}'"
        )
    );
    api.create("/plugins", json!({"name": "key-auth"})).await;
    assert_eq!(api.post("/plugins", json!({"name": "key-auth"})).await.status, 409, "one global instance");
    api.create("/services/s/plugins", json!({"name": "cors"})).await;
    assert_eq!(api.count("plugins").await, 3);
}

async fn plugin_schema_endpoints(api: Api) {
    let schema = api.get("/schemas/plugins/key-auth").await;
    assert_eq!(schema.status, 200, "{}", schema.text);
    let fields = schema.body["fields"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = fields.iter().filter_map(|f| f.as_object()?.keys().next().cloned()).collect();
    assert_eq!(names, ["consumer", "protocols", "config"]);
    let consumer = fields.iter().find_map(|f| f.get("consumer")).cloned().unwrap_or(Value::Null);
    assert_eq!(consumer["type"], "foreign");
    assert!(consumer.get("schema").is_none(), "foreign schemas are stripped");
    let config = fields.iter().find_map(|f| f.get("config")).cloned().unwrap_or(Value::Null);
    assert_eq!(config["type"], "record");
    assert_eq!(config["required"], true);
    let config_fields = config["fields"].as_array().cloned().unwrap_or_default();
    let key_names = config_fields.iter().find_map(|f| f.get("key_names")).cloned().unwrap_or(Value::Null);
    assert_eq!(key_names["type"], "array");
    assert_eq!(key_names["default"], json!(["apikey"]));
    assert_eq!(key_names["required"], true);
    assert_eq!(config_fields.len(), 8);
    let protocols = fields.iter().find_map(|f| f.get("protocols")).cloned().unwrap_or(Value::Null);
    assert_eq!(protocols["default"], json!(["grpc", "grpcs", "http", "https"]));
    let acl = api.get("/schemas/plugins/acl").await;
    assert_eq!(
        acl.body["entity_checks"],
        json!([{"only_one_of": ["config.allow", "config.deny"]}, {"at_least_one_of": ["config.allow", "config.deny"]}])
    );
    let transformer = api.get("/schemas/plugins/request-transformer").await;
    assert_eq!(transformer.status, 200);
    assert!(!transformer.text.contains("\"fields\":{"), "records' fields are arrays: {}", transformer.text);
    assert!(!transformer.text.contains("\"default\":{}"), "empty array defaults are arrays: {}", transformer.text);
    let missing = api.get("/schemas/plugins/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"message": "No plugin named 'nope'"}));
    assert_eq!(api.get("/schemas/plugins/foobar").await.body, json!({"message": "No plugin named 'foobar'"}));
    assert_eq!(api.post("/schemas/plugins/key-auth", json!({})).await.status, 405);
    assert_eq!(api.get("/schemas/plugins/key-auth").await.body["entity_checks"], json!([]));
    // The deprecated endpoint describes the config record alone.
    let deprecated = api.get("/plugins/schema/key-auth").await;
    assert_eq!(deprecated.status, 200);
    assert_eq!(deprecated.body["entity_checks"], json!([]));
    let names: Vec<String> = deprecated.body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f.as_object()?.keys().next().cloned()).collect())
        .unwrap_or_default();
    assert_eq!(names.first().map(String::as_str), Some("key_names"));
    assert_eq!(names.len(), 8);
}

async fn validate_endpoint(api: Api) {
    let ok = api.post("/schemas/plugins/validate", json!({"name": "key-auth"})).await;
    assert_eq!((ok.status, ok.body.clone()), (200, json!({"message": "schema validation successful"})));
    let with_config =
        api.post("/schemas/plugins/validate", json!({"name": "acl", "config": {"allow": ["admins"]}})).await;
    assert_eq!(with_config.status, 200, "{}", with_config.text);
    let bad = api.post("/schemas/plugins/validate", json!({"name": "key-auth", "config": {"key_names": 1}})).await;
    assert_eq!(
        bad.body,
        json!({"code": 2, "name": "schema violation", "message": "schema violation (config.key_names: expected an array)",
               "fields": {"config": {"key_names": "expected an array"}}})
    );
    let unknown = api.post("/schemas/plugins/validate", json!({"name": "key-auth", "config": {"foo": true}})).await;
    assert_eq!(violation(&unknown), json!({"config": {"foo": "unknown field"}}));
    let consumer = json!({"name": "key-auth", "consumer": {"id": uuid::Uuid::new_v4()}});
    assert_eq!(
        violation(&api.post("/schemas/plugins/validate", consumer).await),
        json!({"consumer": "value must be null"})
    );
    let acl = api.post("/schemas/plugins/validate", json!({"name": "acl", "config": {}})).await;
    assert_eq!(violation(&acl), json!({"@entity": [ONLY_ONE, AT_LEAST_ONE]}));
    let nameless = api.post("/schemas/plugins/validate", json!({})).await;
    assert_eq!(violation(&nameless), json!({"name": "required field missing"}));
    let disabled = api.post("/schemas/plugins/validate", json!({"name": "nope"})).await;
    assert!(violation(&disabled)["name"].as_str().is_some_and(|m| m.contains("not enabled")), "{}", disabled.text);
    assert_eq!(api.get("/schemas/plugins/validate").await.status, 405);
    assert_eq!(api.count("plugins").await, 0, "validation does not write");
}

async fn enabled_plugins(api: Api) {
    let reply = api.get("/plugins/enabled").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let list: Vec<String> = reply.body["enabled_plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    for name in ["key-auth", "basic-auth", "jwt", "hmac-auth", "acl", "rate-limiting", "cors"] {
        assert!(list.contains(&name.to_string()), "{name} missing from {list:?}");
    }
    assert_eq!(list.len(), gatehouse_model::plugins::BUNDLED.len(), "every bundled plugin is enabled here");
    assert!(!list.contains(&"nope".to_string()));
    assert_eq!(api.post("/plugins/enabled", json!({})).await.status, 405);
}
