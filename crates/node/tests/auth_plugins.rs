//! Authentication plugins end to end: a real node, configured through its Admin API, in front of an upstream
//! that echoes what it received. Messages, statuses and headers are Kong 3.9's.

mod plugin_common;

use gatehouse_testkit::wait_for;
use plugin_common::{call, Setup};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn key_auth_accepts_keys_from_header_query_and_body() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("open", "/open"), ("locked", "/locked"), ("hidden", "/hidden")]).await;
    s.node.create("/routes/locked/plugins", json!({"name": "key-auth"})).await;
    s.node
        .create(
            "/routes/hidden/plugins",
            json!({"name": "key-auth", "config": {"hide_credentials": true, "key_in_body": true, "key_names": ["apikey", "x-key", "my_key"]}}),
        )
        .await;
    let alice = s.node.create("/consumers", json!({"username": "alice", "custom_id": "a-1"})).await;
    let cred = s.node.create("/consumers/alice/key-auth", json!({"key": "alice-key"})).await;

    let (status, headers, body) = call(s.get("/locked")).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "No API key found in request");
    assert!(body["request_id"].is_string());
    assert_eq!(headers["www-authenticate"], "Key");

    let (status, _, body) = call(s.get("/locked").header("apikey", "nope")).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));

    let (status, _, body) = call(s.get("/locked").header("apikey", "alice-key").header("apikey", "b")).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Duplicate API key found")));

    let (status, _, echoed) = call(s.get("/locked").header("apikey", "alice-key")).await;
    assert_eq!(status, 200);
    let up = &echoed["headers"];
    assert_eq!(up["x-consumer-id"], alice["id"]);
    assert_eq!(up["x-consumer-username"], "alice");
    assert_eq!(up["x-consumer-custom-id"], "a-1");
    assert_eq!(up["x-credential-identifier"], cred["id"]);
    assert_eq!(up["apikey"], "alice-key", "credentials are forwarded unless hidden");
    assert!(up.get("x-anonymous-consumer").is_none());

    let (status, _, echoed) = call(s.get("/locked?apikey=alice-key&x=1")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["query"], "apikey=alice-key&x=1");

    // hide_credentials strips the key wherever it was found.
    let (status, _, echoed) = call(s.get("/hidden?x=1&x-key=alice-key")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["query"], "x=1");
    let (status, _, echoed) = call(s.get("/hidden").header("x-key", "alice-key")).await;
    assert_eq!(status, 200);
    assert!(echoed["headers"].get("x-key").is_none());
    // nginx finds `my-key` for the key name `my_key`; Kong then clears only `my_key`.
    let (status, _, echoed) = call(s.get("/hidden").header("my-key", "alice-key")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["headers"]["my-key"], "alice-key");
    let form = s
        .client
        .post(format!("{}/hidden", s.node.proxy_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1&apikey=alice-key");
    let (status, _, echoed) = call(form).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["body"], "a=1");
    let json_body =
        s.client.post(format!("{}/hidden", s.node.proxy_url())).json(&json!({"apikey": "alice-key", "n": 1}));
    let (status, _, echoed) = call(json_body).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["body"], r#"{"n":1}"#);
    // multipart/form-data: the key is read from its field; hiding it re-encodes the other fields as Kong's
    // `set_body` does (sorted by name, file parts reduced to name and content).
    let part = reqwest::multipart::Part::text("file body").file_name("a.txt");
    let form = reqwest::multipart::Form::new().text("z", "last").text("apikey", "alice-key").part("f", part);
    let b = form.boundary().to_string();
    let (status, _, echoed) = call(s.client.post(format!("{}/hidden", s.node.proxy_url())).multipart(form)).await;
    assert_eq!(status, 200);
    assert_eq!(
        echoed["body"],
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nfile body\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nlast\r\n--{b}--\r\n"
        )
    );
    let without_key = reqwest::multipart::Form::new().text("apikey2", "alice-key");
    let (status, _, body) = call(s.client.post(format!("{}/hidden", s.node.proxy_url())).multipart(without_key)).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("No API key found in request")));

    // Routes without the plugin are untouched.
    assert_eq!(call(s.get("/open")).await.0, 200);

    // A deleted credential is refused at once (the node's own write is applied before it answers).
    let (status, _) = s
        .admin(Method::DELETE, &format!("/consumers/alice/key-auth/{}", cred["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(call(s.get("/locked").header("apikey", "alice-key")).await.0, 401);
}

#[tokio::test]
async fn key_auth_keys_expire_with_their_ttl_and_anonymous_falls_back() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("locked", "/locked"), ("guest", "/guest")]).await;
    s.node.create("/routes/locked/plugins", json!({"name": "key-auth", "config": {"realm": "api"}})).await;
    s.node.create("/consumers", json!({"username": "bob"})).await;
    let anon = s.node.create("/consumers", json!({"username": "anonymous"})).await;
    s.node.create("/routes/guest/plugins", json!({"name": "key-auth", "config": {"anonymous": "anonymous"}})).await;
    let short = s.node.create("/consumers/bob/key-auth", json!({"key": "short-lived", "ttl": 2})).await;
    assert!(short["ttl"].as_i64().is_some_and(|t| (0..=2).contains(&t)), "{short}");

    let (status, _, _) = call(s.get("/locked").header("apikey", "short-lived")).await;
    assert_eq!(status, 200);
    let (_, headers, _) = call(s.get("/locked")).await;
    assert_eq!(headers["www-authenticate"], "Key realm=\"api\"");
    wait_for("the key to expire", Duration::from_secs(10), || async {
        (call(s.get("/locked").header("apikey", "short-lived")).await.0 == 401).then_some(())
    })
    .await
    .expect("a key past its ttl must stop authenticating");
    let (status, _) = s.admin(Method::GET, "/key-auths/short-lived", json!({})).await;
    assert_eq!(status, 404, "expired keys read as absent");

    let (status, _, echoed) = call(s.get("/guest")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["headers"]["x-anonymous-consumer"], "true");
    assert_eq!(echoed["headers"]["x-consumer-id"], anon["id"]);
    assert_eq!(echoed["headers"]["x-consumer-username"], "anonymous");
    s.node.create("/consumers/bob/key-auth", json!({"key": "bob-key"})).await;
    let (_, _, echoed) = call(s.get("/guest").header("apikey", "bob-key")).await;
    assert_eq!(echoed["headers"]["x-consumer-username"], "bob");
    assert!(echoed["headers"].get("x-anonymous-consumer").is_none());
}

#[tokio::test]
async fn basic_auth_verifies_kongs_password_hash_and_hides_credentials() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("basic", "/basic"), ("hidden", "/hidden")]).await;
    s.node.create("/routes/basic/plugins", json!({"name": "basic-auth"})).await;
    s.node.create("/routes/hidden/plugins", json!({"name": "basic-auth", "config": {"hide_credentials": true}})).await;
    let carol = s.node.create("/consumers", json!({"username": "carol"})).await;
    let cred = s.node.create("/consumers/carol/basic-auth", json!({"username": "carol", "password": "s3cret"})).await;
    assert_ne!(cred["password"], "s3cret", "the password is never returned in clear");
    assert_eq!(cred["password"].as_str().map(str::len), Some(40));

    let (status, headers, body) = call(s.get("/basic")).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(headers["www-authenticate"], "Basic realm=\"service\"");
    assert_eq!(call(s.get("/basic").basic_auth("carol", Some("wrong"))).await.0, 401);
    assert_eq!(call(s.get("/basic").basic_auth("nobody", Some("s3cret"))).await.0, 401);
    let (status, _, echoed) = call(s.get("/basic").basic_auth("carol", Some("s3cret"))).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["headers"]["x-consumer-id"], carol["id"]);
    assert_eq!(echoed["headers"]["x-credential-identifier"], "carol");
    assert!(echoed["headers"].get("authorization").is_some());
    let (status, _, echoed) = call(s.get("/hidden").basic_auth("carol", Some("s3cret"))).await;
    assert_eq!(status, 200);
    assert!(echoed["headers"].get("authorization").is_none());

    // A credential imported in Kong's stored form (sha1 of password + consumer id) verifies unchanged.
    let dave = s.node.create("/consumers", json!({"username": "dave"})).await;
    let stored = gatehouse_model::entities::credentials::basic_auth_password_hash(dave["id"].as_str().unwrap(), "pw");
    assert_eq!(stored.len(), 40);
    let (status, updated) = s.admin(Method::PATCH, "/basic-auths/carol", json!({"password": "changed"})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(call(s.get("/basic").basic_auth("carol", Some("s3cret"))).await.0, 401);
    assert_eq!(call(s.get("/basic").basic_auth("carol", Some("changed"))).await.0, 200);
}

#[tokio::test]
async fn acl_allows_and_denies_by_group_after_authentication() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("admins", "/admins"), ("not-banned", "/not-banned")]).await;
    for route in ["admins", "not-banned"] {
        s.node.create(&format!("/routes/{route}/plugins"), json!({"name": "key-auth"})).await;
    }
    s.node.create("/routes/admins/plugins", json!({"name": "acl", "config": {"allow": ["admin"]}})).await;
    s.node
        .create(
            "/routes/not-banned/plugins",
            json!({"name": "acl", "config": {"deny": ["banned"], "hide_groups_header": true}}),
        )
        .await;
    for user in ["erin", "frank"] {
        s.node.create("/consumers", json!({"username": user})).await;
        s.node.create(&format!("/consumers/{user}/key-auth"), json!({"key": format!("{user}-key")})).await;
    }
    s.node.create("/consumers/erin/acls", json!({"group": "admin"})).await;
    s.node.create("/consumers/erin/acls", json!({"group": "ops"})).await;
    let (status, banned) = s.admin(Method::PUT, "/consumers/frank/acls/banned", json!({})).await;
    assert_eq!((status, banned["group"].as_str()), (200, Some("banned")));

    let (status, _, echoed) = call(s.get("/admins").header("apikey", "erin-key")).await;
    assert_eq!(status, 200);
    // Kong lists a consumer's groups in primary-key order, as the store pages them.
    let groups = echoed["headers"]["x-consumer-groups"].as_str().unwrap_or_default();
    assert!(groups == "admin, ops" || groups == "ops, admin", "{groups}");
    let (status, _, body) = call(s.get("/admins").header("apikey", "frank-key")).await;
    assert_eq!((status, body["message"].as_str()), (403, Some("You cannot consume this service")));
    let (status, _, echoed) = call(s.get("/not-banned").header("apikey", "erin-key")).await;
    assert_eq!(status, 200);
    assert!(echoed["headers"].get("x-consumer-groups").is_none(), "hide_groups_header");
    assert_eq!(call(s.get("/not-banned").header("apikey", "frank-key")).await.0, 403);

    // Group changes apply at once: the membership cached for frank is dropped on every change.
    let (status, _) = s.admin(Method::DELETE, "/consumers/frank/acls/banned", json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(call(s.get("/not-banned").header("apikey", "frank-key")).await.0, 200);
    s.node.create("/consumers/frank/acls", json!({"group": "admin"})).await;
    assert_eq!(call(s.get("/admins").header("apikey", "frank-key")).await.0, 200);
}

#[tokio::test]
async fn scoping_follows_kongs_precedence() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("plain", "/plain"), ("custom", "/custom")]).await;
    // A global config, overridden on one route by a config with another key name.
    s.node.create("/plugins", json!({"name": "key-auth"})).await;
    s.node.create("/routes/custom/plugins", json!({"name": "key-auth", "config": {"key_names": ["token"]}})).await;
    s.node.create("/consumers", json!({"username": "gina"})).await;
    s.node.create("/consumers/gina/key-auth", json!({"key": "gina-key"})).await;
    s.node.create("/consumers", json!({"username": "hank"})).await;
    s.node.create("/consumers/hank/key-auth", json!({"key": "hank-key"})).await;

    assert_eq!(call(s.get("/plain").header("apikey", "gina-key")).await.0, 200);
    assert_eq!(call(s.get("/custom").header("apikey", "gina-key")).await.0, 401, "the route config wins");
    assert_eq!(call(s.get("/custom").header("token", "gina-key")).await.0, 200);

    // A consumer-scoped config resolves after authentication set the consumer: only hank is stopped.
    s.node
        .create(
            "/consumers/hank/plugins",
            json!({"name": "request-termination", "config": {"status_code": 418, "message": "no tea for hank"}}),
        )
        .await;
    let (status, _, body) = call(s.get("/plain").header("apikey", "hank-key")).await;
    assert_eq!((status, body["message"].as_str()), (418, Some("no tea for hank")));
    assert_eq!(call(s.get("/plain").header("apikey", "gina-key")).await.0, 200);
    // route+consumer beats consumer alone.
    s.node
        .create(
            "/plugins",
            json!({"name": "request-termination", "route": {"name": "custom"}, "consumer": {"username": "hank"},
                   "config": {"status_code": 451}}),
        )
        .await;
    assert_eq!(call(s.get("/custom").header("token", "hank-key")).await.0, 451);
    assert_eq!(call(s.get("/plain").header("apikey", "hank-key")).await.0, 418);

    // Disabled configs and configs for other protocols do not run.
    let (status, global) = s.admin(Method::GET, "/plugins?size=10", json!({})).await;
    assert_eq!(status, 200);
    let global_id = global["data"]
        .as_array()
        .and_then(|d| d.iter().find(|p| p["name"] == "key-auth" && p["route"].is_null()))
        .and_then(|p| p["id"].as_str())
        .map(str::to_string)
        .unwrap();
    let (status, _) = s.admin(Method::PATCH, &format!("/plugins/{global_id}"), json!({"enabled": false})).await;
    assert_eq!(status, 200);
    assert_eq!(call(s.get("/plain")).await.0, 200);
    let (status, _) = s
        .admin(Method::PATCH, &format!("/plugins/{global_id}"), json!({"enabled": true, "protocols": ["https"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(call(s.get("/plain")).await.0, 200, "an https-only config does not run on http");
}

#[tokio::test]
async fn hash_on_consumer_pins_each_authenticated_consumer_to_one_target() {
    let s = Setup::start().await;
    let second = gatehouse_testkit::EchoServer::start().await.expect("second upstream");
    s.node
        .create("/upstreams", json!({"name": "pool.test", "algorithm": "consistent-hashing", "hash_on": "consumer"}))
        .await;
    for target in [s.echo.addr, second.addr] {
        s.node.create("/upstreams/pool.test/targets", json!({"target": target.to_string()})).await;
    }
    s.node.create("/services", json!({"name": "pooled", "host": "pool.test", "port": 80})).await;
    s.node.create("/services/pooled/routes", json!({"name": "pinned", "paths": ["/pinned"]})).await;
    s.node.create("/routes/pinned/plugins", json!({"name": "key-auth"})).await;
    let mut targets_seen = std::collections::HashSet::new();
    for i in 0..16 {
        s.node.create("/consumers", json!({"username": format!("c{i}")})).await;
        s.node.create(&format!("/consumers/c{i}/key-auth"), json!({"key": format!("key-{i}")})).await;
        let mut hosts = std::collections::HashSet::new();
        for _ in 0..4 {
            let (status, _, echoed) = call(s.get("/pinned").header("apikey", format!("key-{i}"))).await;
            assert_eq!(status, 200);
            hosts.insert(echoed["headers"]["host"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(hosts.len(), 1, "consumer c{i} was spread over {hosts:?}");
        targets_seen.extend(hosts);
    }
    assert_eq!(targets_seen.len(), 2, "16 consumers all hashed to one target: {targets_seen:?}");
}
