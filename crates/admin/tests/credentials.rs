//! Consumer credentials and ACL groups through the Admin API, on SQLite and PostgreSQL alike: generated keys and
//! secrets, unique keys, key-auth's `ttl`, basic-auth password hashing, nested listing and the cascade on consumer
//! deletion. Expected statuses and bodies follow Kong 3.9's plugin API specs (`spec/03-plugins/09-key-auth`,
//! `10-basic-auth`, `16-jwt`, `18-acl`, `19-hmac-auth`).

mod common;

use common::{Api, Reply};
use serde_json::{json, Value};

contract!(
    key_auth_credentials,
    key_auth_ttl,
    nested_listing_is_scoped_to_the_consumer,
    basic_auth_passwords_are_hashed,
    jwt_secrets,
    hmac_auth_credentials,
    acl_groups,
    deleting_a_consumer_cascades,
);

/// A consumer with a fixed id, so that basic-auth hashes are known in advance.
const BOB_ID: &str = "6b7f6d0e-5c3a-4f58-9d6f-7d3f3c1c9a11";
/// `sha1_hex(password .. BOB_ID)`, Kong's `kong/plugins/basic-auth/crypto.lua`, computed with `sha1sum`.
const HASH_KONG: &str = "7b8a371d9c68977e2aa25b1121a66bc1ce939094";
const HASH_4321: &str = "cbf040d1115a42e5608c169c8ec649fc8a5f8d54";
const HASH_SPACED: &str = "4264c1404f4098940c58107fcb2f89acb0ac9e3d";
const TTL_ERROR: &str = "must be an integer between 0 and 100000000";

async fn bob(api: &Api) -> Value {
    let reply = api.put(&format!("/consumers/{BOB_ID}"), json!({"username": "bob"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

fn len(reply: &Reply) -> Option<usize> {
    reply.body["data"].as_array().map(Vec::len)
}

fn id(entity: &Value) -> &str {
    entity["id"].as_str().unwrap_or_default()
}

/// Kong's `random_string()`: 32 characters from base64 with `/` and `+` replaced, so alphanumeric only.
fn assert_generated(value: &Value) {
    let s = value.as_str().unwrap_or_default();
    assert_eq!(s.len(), 32, "{value}");
    assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
}

fn assert_fields(reply: &Reply, fields: Value) {
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["code"], 2, "{}", reply.text);
    assert_eq!(reply.body["fields"], fields, "{}", reply.text);
}

async fn key_auth_credentials(api: Api) {
    let consumer = bob(&api).await;
    let generated = api.create("/consumers/bob/key-auth", json!({})).await;
    assert_generated(&generated["key"]);
    assert_eq!(generated["consumer"], json!({"id": BOB_ID}));
    assert!(generated.get("updated_at").is_none(), "credentials have no updated_at in Kong");
    let other = api.create("/consumers/bob/key-auth", json!({})).await;
    assert_ne!(other["key"], generated["key"], "each generated key is new");
    let given = api.create("/consumers/bob/key-auth", json!({"key": "1234", "tags": ["tag1", "tag2"]})).await;
    assert_eq!((given["key"].as_str(), given["tags"].clone()), (Some("1234"), json!(["tag1", "tag2"])));
    let listed = api.get("/key-auths").await;
    assert_eq!(len(&listed), Some(3));
    assert_eq!(api.get("/key-auths/").await.body, listed.body, "a trailing slash is the same collection");
    assert_eq!(api.get("/key-auths/1234").await.body, given, "credentials are found by key");
    assert_eq!(api.get(&format!("/key-auths/{}", id(&given))).await.body, given);
    assert_eq!(api.get(&format!("/consumers/bob/key-auth/{}", id(&given))).await.body, given);
    assert_eq!(api.get("/consumers/bob/key-auth/1234").await.body, given);
    assert_eq!(api.get("/key-auths/1234/consumer").await.body, consumer);
    assert_eq!(api.get(&format!("/key-auths/{}/consumer", uuid::Uuid::new_v4())).await.status, 404);
    api.create("/consumers", json!({"username": "alice"})).await;
    assert_eq!(api.get(&format!("/consumers/alice/key-auth/{}", id(&given))).await.status, 404);
    assert_eq!(api.get("/consumers/alice/key-auth/1234").await.status, 404);
    let dup = api.post("/consumers/alice/key-auth", json!({"key": "1234"})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(
        dup.body,
        json!({"code": 5, "name": "unique constraint violation",
               "message": "UNIQUE violation detected on '{key=\"1234\"}'", "fields": {"key": "1234"}})
    );
    let orphan = api.post("/key-auths", json!({"key": "5678"})).await;
    assert_eq!(orphan.body["message"], "schema violation (consumer: required field missing)");
    assert_fields(
        &api.patch(&format!("/consumers/bob/key-auth/{}", id(&given)), json!({"key": 123})).await,
        json!({"key": "expected a string"}),
    );
    let patched = api.patch("/consumers/bob/key-auth/1234", json!({"key": "4321"})).await;
    assert_eq!((patched.status, patched.body["key"].as_str()), (200, Some("4321")));
    assert_eq!(patched.body["id"], given["id"]);
    assert_eq!(api.get("/key-auths/1234").await.status, 404);
    let put = api.put("/consumers/bob/key-auth/abcd", json!({})).await;
    assert_eq!((put.status, put.body["key"].as_str()), (200, Some("abcd")), "{}", put.text);
    assert_eq!(put.body["consumer"]["id"], BOB_ID);
    let put_id = api.put(&format!("/consumers/bob/key-auth/{}", uuid::Uuid::new_v4()), json!({})).await;
    assert_eq!(put_id.status, 200, "{}", put_id.text);
    assert_generated(&put_id.body["key"]);
    assert_eq!(api.delete(&format!("/consumers/bob/key-auth/{}", id(&generated))).await.status, 204);
    assert_eq!(api.get(&format!("/key-auths/{}", id(&generated))).await.status, 404);
    assert_eq!(api.delete("/consumers/bob/key-auth/blah").await.status, 404);
    assert_eq!(api.delete("/consumers/bob/key-auth/00000000-0000-0000-0000-000000000000").await.status, 404);
    assert_eq!(api.delete("/consumers/alice/key-auth/4321").await.status, 404, "not alice's key");
    assert_eq!(api.get("/key-auths/4321").await.status, 200);
    assert_eq!(api.delete("/key-auths/4321").await.status, 204);
    assert_eq!(api.count("key-auths").await, 3);
}

async fn key_auth_ttl(api: Api) {
    bob(&api).await;
    let created = api.create("/consumers/bob/key-auth", json!({"key": "temp", "ttl": 100})).await;
    let ttl = created["ttl"].as_i64().unwrap_or(-1);
    assert!((98..=100).contains(&ttl), "remaining ttl on create: {created}");
    let fetched = api.get("/key-auths/temp").await.body;
    assert!(fetched["ttl"].as_i64().is_some_and(|t| (98..=100).contains(&t)), "{fetched}");
    let listed = api.get("/consumers/bob/key-auth").await;
    assert!(listed.body["data"][0]["ttl"].as_i64().is_some_and(|t| t <= 100), "{}", listed.text);
    let form = api.post_form("/consumers/bob/key-auth", &[("key", "formed"), ("ttl", "50")]).await;
    assert_eq!(form.status, 201, "{}", form.text);
    assert!(form.body["ttl"].as_i64().is_some_and(|t| (48..=50).contains(&t)), "{}", form.text);
    let plain = api.create("/consumers/bob/key-auth", json!({"key": "forever", "ttl": 0})).await;
    assert!(plain["ttl"].is_null(), "a ttl of 0 never expires: {plain}");
    for bad in [json!(-1), json!("x"), json!(1.5), json!(100_000_001), json!(true)] {
        let reply = api.post("/consumers/bob/key-auth", json!({"ttl": bad})).await;
        assert_eq!(reply.status, 400, "ttl {bad}: {}", reply.text);
        assert_eq!(
            reply.body,
            json!({"code": 11, "name": "invalid options", "message": format!("invalid option (ttl: {TTL_ERROR})"),
                   "options": {"ttl": TTL_ERROR}}),
            "ttl {bad}"
        );
    }
    let patch = api.patch("/key-auths/forever", json!({"ttl": -5})).await;
    assert_eq!(patch.body["options"]["ttl"], TTL_ERROR);
    assert_eq!(api.count("key-auths").await, 3, "rejected ttls write nothing");
    let short = api.create("/consumers/bob/key-auth", json!({"key": "short", "ttl": 1})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(api.get(&format!("/consumers/bob/key-auth/{}", id(&short))).await.status, 404, "expired");
    assert_eq!(api.get("/key-auths/short").await.status, 404);
    assert_eq!(api.count("key-auths").await, 3, "expired keys are not listed");
    let reused = api.post("/consumers/bob/key-auth", json!({"key": "short"})).await;
    assert_eq!(reused.status, 201, "an expired key can be issued again: {}", reused.text);
}

async fn nested_listing_is_scoped_to_the_consumer(api: Api) {
    bob(&api).await;
    api.create("/consumers", json!({"username": "alice"})).await;
    let mut bobs = Vec::new();
    for i in 0..5 {
        let key = api.create("/consumers/bob/key-auth", json!({"key": format!("bob-{i}")})).await;
        bobs.push(id(&key).to_string());
        api.create("/consumers/alice/key-auth", json!({"key": format!("alice-{i}")})).await;
    }
    api.create("/consumers/alice/basic-auth", json!({"username": "a", "password": "p"})).await;
    bobs.sort();
    let all = api.get("/consumers/bob/key-auth").await;
    assert_eq!(len(&all), Some(5));
    assert!(all.body["data"].as_array().is_some_and(|d| d.iter().all(|k| k["consumer"]["id"] == BOB_ID)));
    let mut seen = Vec::new();
    let mut next = Some("/consumers/bob/key-auth?size=2".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        for key in page.body["data"].as_array().cloned().unwrap_or_default() {
            assert_eq!(key["consumer"]["id"], BOB_ID, "{key}");
            seen.push(id(&key).to_string());
        }
        assert!(page.body["data"].as_array().is_some_and(|d| d.len() <= 2), "{}", page.text);
        // Kong's nested `next` carries only the offset (`kong/api/endpoints.lua`), so the size is passed again.
        next = page.body["next"].as_str().map(|n| {
            assert!(n.starts_with("/consumers/bob/key-auth?offset=") && !n.contains("size="), "{n}");
            format!("{n}&size=2")
        });
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, bobs, "every key of bob's once, in id order");
    assert_eq!(len(&api.get("/consumers/bob/basic-auth").await), Some(0));
    assert_eq!(len(&api.get("/consumers/alice/basic-auth").await), Some(1));
    assert_eq!(api.count("key-auths").await, 10);
    let first = api.get("/key-auths?size=6").await;
    assert_eq!(len(&first), Some(6));
    let offset = first.body["offset"].as_str().unwrap_or_default();
    let escaped: String = form_urlencoded::byte_serialize(offset.as_bytes()).collect();
    let second = api.get(&format!("/key-auths?size=6&offset={escaped}")).await;
    assert_eq!(len(&second), Some(4));
    assert!(second.body.get("offset").is_none(), "last page");
    assert_eq!(api.get("/consumers/nobody/key-auth").await.status, 404);
}

async fn basic_auth_passwords_are_hashed(api: Api) {
    bob(&api).await;
    let created = api.create("/consumers/bob/basic-auth", json!({"username": "bob", "password": "kong"})).await;
    assert_eq!(created["password"], HASH_KONG, "sha1(password .. consumer id) in hex");
    assert_eq!(created["consumer"]["id"], BOB_ID);
    let spaced = api.create("/consumers/bob/basic-auth", json!({"username": "bobby", "password": " kong "})).await;
    assert_eq!(spaced["password"], HASH_SPACED, "whitespace is not trimmed");
    let fetched = api.get("/basic-auths/bob").await;
    assert_eq!(fetched.body, created, "the clear-text password is never stored");
    assert!(!fetched.text.contains("\"kong\""));
    let by_id = api.get(&format!("/consumers/bob/basic-auth/{}", id(&created))).await;
    assert_eq!(by_id.body["password"], HASH_KONG);
    let renamed =
        api.patch(&format!("/consumers/bob/basic-auth/{}", id(&created)), json!({"username": "tyrion"})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(
        (renamed.body["username"].as_str(), renamed.body["password"].as_str()),
        (Some("tyrion"), Some(HASH_KONG))
    );
    let rehashed = api.patch("/consumers/bob/basic-auth/tyrion", json!({"password": "4321"})).await;
    assert_eq!(rehashed.body["password"], HASH_4321, "a new password is hashed: {}", rehashed.text);
    assert_eq!(api.get("/basic-auths/tyrion").await.body["password"], HASH_4321);
    let top = api.patch("/basic-auths/tyrion", json!({"tags": ["t"]})).await;
    assert_eq!(top.body["password"], HASH_4321, "the hash is not hashed again");
    // The hash is salted with the consumer id: moving the credential needs the password again.
    let other = api.create("/consumers", json!({"username": "other"})).await;
    let moved = api.patch("/basic-auths/tyrion", json!({"consumer": {"id": other["id"]}})).await;
    assert_eq!(moved.status, 400, "{}", moved.text);
    assert_eq!(
        moved.body["message"],
        "schema violation (all or none of these fields must be set: 'password', 'consumer.id')"
    );
    assert_eq!(api.get("/basic-auths/tyrion").await.body["consumer"]["id"], BOB_ID);
    api.delete("/consumers/other").await;
    let put = api.put("/consumers/bob/basic-auth/robert", json!({"password": "kong"})).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!((put.body["username"].as_str(), put.body["password"].as_str()), (Some("robert"), Some(HASH_KONG)));
    let empty = api.post("/consumers/bob/basic-auth", json!({})).await;
    assert_fields(&empty, json!({"username": "required field missing", "password": "required field missing"}));
    let typed =
        api.put("/consumers/bob/basic-auth/b59d82f6-c839-4a60-b491-c6cdff4cd5d3", json!({"username": 123})).await;
    assert_fields(&typed, json!({"username": "expected a string", "password": "required field missing"}));
    let orphan = api.post("/basic-auths", json!({"username": "x"})).await;
    assert_eq!(
        orphan.body["message"],
        "2 schema violations (consumer: required field missing; password: required field missing)"
    );
    let dup = api.post("/consumers/bob/basic-auth", json!({"username": "robert", "password": "x"})).await;
    assert_eq!((dup.status, dup.body["code"].as_i64()), (409, Some(5)), "{}", dup.text);
    assert_eq!(len(&api.get("/basic-auths").await), Some(3));
    assert_eq!(api.delete("/consumers/bob/basic-auth/blah").await.status, 404);
    assert_eq!(api.delete("/consumers/bob/basic-auth/robert").await.status, 204);
    assert_eq!(api.count("basic-auths").await, 2);
}

async fn jwt_secrets(api: Api) {
    bob(&api).await;
    let generated = api.create("/consumers/bob/jwt", json!({})).await;
    assert_eq!(generated["algorithm"], "HS256");
    assert_generated(&generated["key"]);
    assert_generated(&generated["secret"]);
    assert_ne!(generated["key"], generated["secret"]);
    assert_eq!(generated["rsa_public_key"], Value::Null);
    assert_eq!(generated["consumer"]["id"], BOB_ID);
    let given = api.create("/consumers/bob/jwt/", json!({"key": "bob2", "secret": "tooshort"})).await;
    assert_eq!((given["key"].as_str(), given["secret"].as_str()), (Some("bob2"), Some("tooshort")));
    let same_secret = api.create("/consumers/bob/jwt", json!({"key": "bob3", "secret": "tooshort"})).await;
    assert_eq!(same_secret["secret"], "tooshort", "secrets need not be unique");
    let dup = api.post("/consumers/bob/jwt", json!({"key": "bob2"})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let rs = api.post("/consumers/bob/jwt", json!({"key": "bob5", "algorithm": "RS256"})).await;
    assert_fields(
        &rs,
        json!({"rsa_public_key": "required field missing",
               "@entity": ["failed conditional validation given value of field 'algorithm'"]}),
    );
    let invalid =
        api.post("/consumers/bob/jwt", json!({"key": "bob5", "algorithm": "RS256", "rsa_public_key": "test"}));
    assert_fields(
        &invalid.await,
        json!({"rsa_public_key": "invalid key",
               "@entity": ["failed conditional validation given value of field 'algorithm'"]}),
    );
    let unknown = api.post("/consumers/bob/jwt", json!({"algorithm": "XX256"})).await;
    assert!(unknown.body["fields"]["algorithm"].as_str().is_some_and(|m| m.starts_with("expected one of: HS256")));
    let hs = api.create("/consumers/bob/jwt", json!({"key": "bob6", "algorithm": "HS512"})).await;
    assert_generated(&hs["secret"]);
    let put = api.put("/consumers/bob/jwt/abcd", json!({})).await;
    assert_eq!((put.status, put.body["key"].as_str()), (200, Some("abcd")), "{}", put.text);
    let patched = api.patch("/consumers/bob/jwt/abcd", json!({"secret": "newsecret"})).await;
    assert_eq!((patched.body["secret"].as_str(), patched.body["key"].as_str()), (Some("newsecret"), Some("abcd")));
    assert_eq!(api.get("/jwts/bob2").await.body, given);
    assert_eq!(len(&api.get("/consumers/bob/jwt").await), Some(5));
    assert_eq!(api.count("jwts").await, 5, "rejected secrets write nothing");
}

async fn hmac_auth_credentials(api: Api) {
    bob(&api).await;
    let generated = api.create("/consumers/bob/hmac-auth/", json!({"username": "bob"})).await;
    assert_generated(&generated["secret"]);
    assert_eq!(generated["consumer"]["id"], BOB_ID);
    let given = api.create("/consumers/bob/hmac-auth", json!({"username": "bobby", "secret": "1234"})).await;
    assert_eq!(given["secret"], "1234");
    assert_fields(
        &api.post("/consumers/bob/hmac-auth", json!({})).await,
        json!({"username": "required field missing"}),
    );
    let dup = api.post("/consumers/bob/hmac-auth", json!({"username": "bob"})).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(api.get("/hmac-auths/bobby").await.body, given);
    assert_eq!(api.get("/consumers/bob/hmac-auth/bob").await.body, generated);
    let patched = api.patch("/consumers/bob/hmac-auth/bob", json!({"secret": "s2"})).await;
    assert_eq!(patched.body["secret"], "s2");
    assert_eq!(patched.body["username"], "bob");
    assert_eq!(api.count("hmac-auths").await, 2);
}

async fn acl_groups(api: Api) {
    bob(&api).await;
    let alice = api.create("/consumers", json!({"username": "alice"})).await;
    let admin = api.create("/consumers/bob/acls", json!({"group": "admin"})).await;
    assert_eq!((admin["group"].as_str(), admin["consumer"]["id"].as_str()), (Some("admin"), Some(BOB_ID)));
    let by_group = api.get("/consumers/bob/acls/admin").await;
    assert_eq!((by_group.status, by_group.body.clone()), (200, admin.clone()), "an ACL is found by its group");
    assert_eq!(api.get(&format!("/consumers/bob/acls/{}", id(&admin))).await.body, admin);
    let dup = api.post("/consumers/bob/acls", json!({"group": "admin"})).await;
    assert_eq!((dup.status, dup.body["code"].as_i64()), (409, Some(5)), "{}", dup.text);
    let alices = api.create(&format!("/consumers/{}/acls", id(&alice)), json!({"group": "admin"})).await;
    assert_ne!(alices["id"], admin["id"], "another consumer may join the same group");
    assert_eq!(api.get("/consumers/alice/acls/admin").await.body, alices);
    assert_eq!(api.get(&format!("/consumers/alice/acls/{}", id(&admin))).await.status, 404);
    assert_eq!(api.get("/consumers/alice/acls/pro").await.status, 404);
    let pro = api.put("/consumers/bob/acls/pro", json!({})).await;
    assert_eq!(pro.status, 200, "{}", pro.text);
    assert_eq!((pro.body["group"].as_str(), pro.body["consumer"]["id"].as_str()), (Some("pro"), Some(BOB_ID)));
    let again = api.put("/consumers/bob/acls/pro", json!({"tags": ["t"]})).await;
    assert_eq!((again.body["id"].clone(), again.body["tags"].clone()), (pro.body["id"].clone(), json!(["t"])));
    let anna = api.put("/consumers/alice/acls/pro", json!({})).await;
    assert_ne!(anna.body["id"], pro.body["id"]);
    assert_eq!(api.get("/consumers/bob/acls/pro").await.body, again.body);
    assert_fields(&api.post("/consumers/bob/acls", json!({})).await, json!({"group": "required field missing"}));
    let typed = api.put("/consumers/bob/acls/f7852533-9160-4f5a-ae12-1ab99219ea95", json!({"group": 123})).await;
    assert_fields(&typed, json!({"group": "expected a string"}));
    let renamed = api.patch("/consumers/bob/acls/pro", json!({"group": "updatedGroup"})).await;
    assert_eq!(
        (renamed.body["group"].as_str(), renamed.body["id"].clone()),
        (Some("updatedGroup"), pro.body["id"].clone())
    );
    assert_eq!(api.get("/consumers/bob/acls/pro").await.status, 404);
    assert_eq!(len(&api.get("/consumers/bob/acls").await), Some(2));
    assert_eq!(len(&api.get("/acls").await), Some(4));
    assert_eq!(api.get("/acls/").await.body, api.get("/acls").await.body);
    assert_eq!(api.delete("/consumers/bob/acls/blah").await.status, 404);
    assert_eq!(api.delete("/consumers/bob/acls/00000000-0000-0000-0000-000000000000").await.status, 404);
    assert_eq!(api.delete("/consumers/bob/acls/admin").await.status, 204);
    assert_eq!(api.get("/consumers/bob/acls/admin").await.status, 404);
    assert_eq!(api.get("/consumers/alice/acls/admin").await.status, 200, "only bob's membership went");
    assert_eq!(api.count("acls").await, 3);
}

async fn deleting_a_consumer_cascades(api: Api) {
    bob(&api).await;
    api.create("/consumers", json!({"username": "alice"})).await;
    for who in ["bob", "alice"] {
        api.create(&format!("/consumers/{who}/key-auth"), json!({})).await;
        api.create(&format!("/consumers/{who}/basic-auth"), json!({"username": who, "password": "p"})).await;
        api.create(&format!("/consumers/{who}/jwt"), json!({})).await;
        api.create(&format!("/consumers/{who}/hmac-auth"), json!({"username": who})).await;
        api.create(&format!("/consumers/{who}/acls"), json!({"group": "g"})).await;
        api.create(&format!("/consumers/{who}/plugins"), json!({"name": "rate-limiting", "config": {"minute": 1}}))
            .await;
    }
    let global = api.create("/plugins", json!({"name": "key-auth"})).await;
    let collections = ["key-auths", "basic-auths", "jwts", "hmac-auths", "acls"];
    for c in collections {
        assert_eq!(api.count(c).await, 2, "{c}");
    }
    assert_eq!(api.count("plugins").await, 3);
    assert_eq!(api.delete("/consumers/bob").await.status, 204);
    for c in collections {
        let rows = api.get(&format!("/{c}")).await.body["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{c}: bob's credentials go with bob");
        assert_ne!(rows[0]["consumer"]["id"], BOB_ID, "{c}");
    }
    let plugins = api.get("/plugins").await.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(plugins.len(), 2, "bob's consumer-scoped plugin goes with bob");
    assert!(plugins.iter().any(|p| p["id"] == global["id"]));
    assert!(plugins.iter().all(|p| p["consumer"].get("id").is_none_or(|c| c != BOB_ID)));
    assert_eq!(api.get("/basic-auths/bob").await.status, 404);
    assert_eq!(api.get("/hmac-auths/bob").await.status, 404);
    assert_eq!(api.get(&format!("/consumers/{BOB_ID}/key-auth")).await.status, 404);
    bob(&api).await;
    assert_eq!(len(&api.get("/consumers/bob/acls").await), Some(0), "a recreated consumer starts empty");
    assert_eq!(api.post("/consumers/bob/basic-auth", json!({"username": "bob", "password": "p"})).await.status, 201);
}
