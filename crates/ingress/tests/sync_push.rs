//! The sync against a real gateway node on SQLite: a first push creates everything, a second writes
//! nothing, changes update only what changed, removals delete (children first) without touching entities
//! made by hand, and credentials round-trip without being re-sent.

use gatehouse_ingress::sync::{sync_config, AdminClient, SyncOptions, SyncOutcome, SyncReport, Syncer, MANAGED_TAG};
use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const CERT: &str = "c6ac927c-4f5a-4e88-8b5d-c7b01d0f43af";
const CA: &str = "0b7e3a0e-2d4e-4a3c-9a51-4a7f1d1c2b01";
const SVC: &str = "edc1d53e-73b4-5932-9455-0e01f0d53e3f";
const SVC2: &str = "764d9f4d-c24c-5709-991c-19a96a581f6e";
const ROUTE: &str = "fc9a8135-0253-5631-b1e0-8712f796a4e2";
const ROUTE2: &str = "5df756b2-ceba-55e3-b9dc-a7e4dfbe6947";
const ROUTE3: &str = "34b4d13c-2f70-5d47-a009-411826202ea2";
const CONSUMER: &str = "7deb6e70-60be-5dd2-b374-06551479ea5e";
const P_ROUTE: &str = "61a22b86-f859-5c8a-a23c-97b92b14b635";
const P_SVC: &str = "cf7e2afa-49f9-56c3-b8b1-223d8d62574a";
const P_BY_NAME: &str = "7175c636-32f0-5fc4-842a-86c0567289e1";
const P_CONSUMER: &str = "e8dddcdf-ebe3-5a2d-af0d-865da7881126";
const P_GLOBAL: &str = "94a0d72e-a19f-5269-a40c-6e52a6120d34";
const P_SVC2: &str = "41e0df75-8715-5017-b56b-431e70ccd2ff";

async fn start_node() -> Node {
    let binary = gatehouse_testkit::workspace_binary("gatehouse-node", "gatehouse").expect("gatehouse binary");
    Node::start(&binary, NodeOptions::default()).await.expect("node")
}

async fn get(node: &Node, path: &str) -> (u16, Value) {
    node.admin(Method::GET, path, Value::Null).await
}

/// KIC's tags for an object.
fn k8s(kind: &str, name: &str) -> Value {
    json!([
        format!("k8s-name:{name}"),
        "k8s-namespace:default",
        format!("k8s-kind:{kind}"),
        format!("k8s-uid:{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())),
        "k8s-version:v1",
    ])
}

fn route(id: &str, name: &str, paths: Value) -> Value {
    json!({
        "id": id, "name": name, "paths": paths, "path_handling": "v0", "preserve_host": true,
        "protocols": ["http", "https"], "regex_priority": 0, "strip_path": false,
        "https_redirect_status_code": 426, "request_buffering": true, "response_buffering": true,
        "tags": k8s("Ingress", name),
    })
}

/// A configuration shaped like KIC's output, with every kind of entity the controller manages.
fn golden(echo: &EchoServer) -> Value {
    let mut first = route(ROUTE, "default.echo.echo..80", json!(["/echo"]));
    first["plugins"] = json!([{
        "id": P_ROUTE, "name": "correlation-id", "config": { "header_name": "kong-id" },
        "instance_name": "example-21a1f5b5f", "tags": k8s("KongPlugin", "kong-id"),
    }]);
    json!({
        "_format_version": "3.0",
        "certificates": [{
            "id": CERT,
            "cert": include_str!("../../admin/tests/fixtures/rsa.crt"),
            "key": include_str!("../../admin/tests/fixtures/rsa.key"),
            "snis": [{ "name": "rsa.test", "certificate": { "id": CERT } }],
            "tags": k8s("Secret", "tls"),
        }],
        "ca_certificates": [{
            "id": CA, "cert": include_str!("../../admin/tests/fixtures/ca.crt"), "tags": k8s("Secret", "ca"),
        }],
        "services": [{
            "id": SVC, "name": "default.echo.80", "host": "echo.default.80.svc", "port": 80, "path": "/",
            "protocol": "http", "connect_timeout": 60000, "read_timeout": 60000, "write_timeout": 60000,
            "retries": 5, "tags": k8s("Service", "echo"),
            "routes": [first, route(ROUTE2, "default.echo.other..80", json!(["~/other$"]))],
            "plugins": [{
                "id": P_SVC, "name": "cors", "config": { "origins": ["*"] }, "tags": k8s("KongPlugin", "cors"),
            }],
        }],
        "upstreams": [{
            "name": "echo.default.80.svc", "algorithm": "round-robin", "tags": k8s("Service", "echo"),
            "healthchecks": { "active": { "concurrency": 20, "headers": { "X-Check": ["kong"] },
                                          "healthy": { "http_statuses": [200, 302], "interval": 0 } } },
            "targets": [{ "target": echo.addr.to_string(), "weight": 100, "tags": k8s("EndpointSlice", "echo") }],
        }],
        "consumers": [{
            "id": CONSUMER, "username": "alice", "tags": k8s("KongConsumer", "alice"),
            "keyauth_credentials": [{ "key": "alice-key", "tags": k8s("Secret", "alice-key-auth") }],
            "basicauth_credentials": [{ "username": "alice", "password": "pw-1", "tags": k8s("Secret", "alice-basic") }],
            "acls": [{ "group": "admins", "tags": k8s("Secret", "alice-acl") }],
            "jwt_secrets": [{ "key": "alice-jwt", "algorithm": "HS256", "secret": "s3cret", "tags": k8s("Secret", "alice-jwt") }],
            "hmacauth_credentials": [{ "username": "alice-hmac", "tags": k8s("Secret", "alice-hmac") }],
            "plugins": [{
                "id": P_CONSUMER, "name": "rate-limiting", "config": { "minute": 1000, "policy": "local" },
                "tags": k8s("KongPlugin", "limit"),
            }],
        }],
        "plugins": [
            { "id": P_BY_NAME, "name": "key-auth", "route": "default.echo.other..80", "tags": k8s("KongPlugin", "auth") },
            { "id": P_GLOBAL, "name": "correlation-id", "config": { "header_name": "x-global-id" },
              "tags": k8s("KongClusterPlugin", "global-id") },
        ],
    })
}

/// Entities in `golden`: certificate, sni, CA, service, 2 routes, upstream, target, consumer,
/// 5 credentials and 5 plugins.
const GOLDEN_ENTITIES: usize = 19;

fn assert_clean(report: &SyncReport) {
    assert!(report.is_clean(), "failures: {:#?}\nskipped: {:#?}", report.failures, report.skipped);
}

#[tokio::test]
async fn first_push_creates_everything_and_the_second_writes_nothing() {
    let node = start_node().await;
    let echo = EchoServer::start().await.expect("echo");
    let client = AdminClient::from_url(&node.admin_url()).expect("client");
    let config = golden(&echo);

    let report = sync_config(&client, &config, 8).await.expect("first push");
    assert_clean(&report);
    assert_eq!((report.created, report.updated, report.deleted), (GOLDEN_ENTITIES, 0, 0), "{report:#?}");
    let seq = report.max_seq.expect("the writes' change sequence number");
    assert!(client.wait_propagated(seq, Duration::from_secs(10)).await.expect("propagation"));

    let (status, service) = get(&node, &format!("/services/{SVC}")).await;
    assert_eq!(status, 200);
    let tags = service["tags"].as_array().expect("tags");
    assert!(tags.contains(&json!(MANAGED_TAG)) && tags.contains(&json!("k8s-kind:Service")), "{service}");
    let (_, route) = get(&node, &format!("/routes/{ROUTE}")).await;
    assert_eq!(route["service"]["id"], SVC);
    let (_, by_name) = get(&node, &format!("/plugins/{P_BY_NAME}")).await;
    assert_eq!(by_name["route"]["id"], ROUTE2, "a plugin naming its route gets the route's id");
    let (_, targets) = get(&node, "/upstreams/echo.default.80.svc/targets").await;
    assert_eq!(targets["data"][0]["target"], echo.addr.to_string());
    let (_, sni) = get(&node, "/snis/rsa.test").await;
    assert_eq!(sni["certificate"]["id"], CERT);
    let (_, keys) = get(&node, &format!("/consumers/{CONSUMER}/key-auth")).await;
    assert_eq!(keys["data"][0]["key"], "alice-key");
    let paged = client.list(&format!("/routes?tags={MANAGED_TAG}&size=1")).await.expect("list");
    assert_eq!(paged.map(|routes| routes.len()), Some(2), "pages are followed");
    let (_, plugins) = get(&node, &format!("/plugins?tags={MANAGED_TAG}")).await;
    assert_eq!(plugins["data"].as_array().map(Vec::len), Some(5));
    let proxied = reqwest::get(format!("{}/echo", node.proxy_url())).await.expect("proxy");
    assert_eq!(proxied.status(), 200, "the service reaches the echo server through the upstream's target");

    let again = sync_config(&client, &config, 8).await.expect("second push");
    assert_clean(&again);
    assert_eq!((again.writes(), again.unchanged), (0, GOLDEN_ENTITIES), "{again:#?}");
    assert_eq!(again.max_seq, None);
}

#[tokio::test]
async fn the_syncer_skips_unchanged_pushes_and_repairs_hand_edits() {
    let _ = tracing_subscriber::fmt().with_env_filter("gatehouse_ingress=debug").with_test_writer().try_init();
    let node = start_node().await;
    let echo = EchoServer::start().await.expect("echo");
    let syncer = Syncer::new(AdminClient::from_url(&node.admin_url()).expect("client"), SyncOptions::default());
    let config = golden(&echo);
    let hash = gatehouse_ingress::sync::config_hash(&config);
    assert!(syncer.needs_push(&hash));
    match syncer.sync(&config).await.expect("first sync") {
        SyncOutcome::Pushed(report) => assert_eq!(report.created, GOLDEN_ENTITIES),
        other => panic!("expected a push, got {other:?}"),
    }
    assert!(!syncer.needs_push(&hash));
    // The gateway moved (our own writes): one more read-only look, then nothing at all.
    match syncer.sync(&config).await.expect("second sync") {
        SyncOutcome::Pushed(report) => assert_eq!(report.writes(), 0),
        SyncOutcome::UpToDate => {}
    }
    assert_eq!(syncer.sync(&config).await.expect("third sync"), SyncOutcome::UpToDate);

    // Someone edits a managed route by hand: the next sync puts it back.
    let (status, _) = node.admin(Method::PATCH, &format!("/routes/{ROUTE}"), json!({ "paths": ["/hacked"] })).await;
    assert_eq!(status, 200);
    match syncer.sync(&config).await.expect("repair") {
        SyncOutcome::Pushed(report) => assert_eq!((report.updated, report.writes()), (1, 1), "{report:#?}"),
        other => panic!("expected a push, got {other:?}"),
    }
    let (_, route) = get(&node, &format!("/routes/{ROUTE}")).await;
    assert_eq!(route["paths"], json!(["/echo"]));
}

/// Two services with a route and a plugin each, and an upstream with two targets.
fn small(retries: u32, echo_paths: Value, with_second: bool, targets: &[&str]) -> Value {
    let mut services = vec![json!({
        "id": SVC, "name": "default.echo.80", "host": "upstream.test", "retries": retries,
        "tags": k8s("Service", "echo"),
        "routes": [route(ROUTE, "default.echo.echo..80", echo_paths)],
    })];
    if with_second {
        let mut second = route(ROUTE3, "default.two.two..80", json!(["/two"]));
        second["plugins"] = json!([{ "id": P_SVC2, "name": "cors", "tags": k8s("KongPlugin", "cors") }]);
        services.push(json!({
            "id": SVC2, "name": "default.two.80", "host": "two.test", "tags": k8s("Service", "two"),
            "routes": [second],
        }));
    }
    let targets: Vec<Value> =
        targets.iter().map(|t| json!({ "target": t, "tags": k8s("EndpointSlice", "e") })).collect();
    json!({
        "_format_version": "3.0",
        "services": services,
        "upstreams": [{ "name": "upstream.test", "tags": k8s("Service", "echo"), "targets": targets }],
    })
}

#[tokio::test]
async fn changes_update_only_what_changed_and_removals_spare_hand_made_entities() {
    let node = start_node().await;
    let client = AdminClient::from_url(&node.admin_url()).expect("client");
    let targets = ["10.0.0.1:80", "10.0.0.2:80"];
    let base = small(5, json!(["/echo"]), true, &targets);
    let first = sync_config(&client, &base, 8).await.expect("base");
    assert_clean(&first);
    assert_eq!(first.created, 8);
    // Made by hand, without the tag: never touched.
    node.create("/services", json!({ "name": "manual", "host": "manual.test" })).await;
    node.create("/services/manual/routes", json!({ "name": "manual-route", "paths": ["/manual"] })).await;
    node.create("/upstreams/upstream.test/targets", json!({ "target": "10.9.9.9:80" })).await;

    let changed = small(7, json!(["/echo", "/echo2"]), true, &targets);
    let report = sync_config(&client, &changed, 8).await.expect("change");
    assert_clean(&report);
    assert_eq!((report.created, report.updated, report.deleted, report.unchanged), (0, 2, 0, 6), "{report:#?}");
    let (_, service) = get(&node, &format!("/services/{SVC}")).await;
    assert_eq!(service["retries"], 7);

    // The second service (with its route and plugin) and one target go: children are deleted first, or
    // the gateway would refuse to delete a service that routes still reference.
    let removed = small(7, json!(["/echo", "/echo2"]), false, &targets[..1]);
    let report = sync_config(&client, &removed, 8).await.expect("removal");
    assert_clean(&report);
    assert_eq!((report.created, report.updated, report.deleted), (0, 0, 4), "{report:#?}");
    for path in [format!("/services/{SVC2}"), format!("/routes/{ROUTE3}"), format!("/plugins/{P_SVC2}")] {
        assert_eq!(get(&node, &path).await.0, 404, "{path} deleted");
    }
    let (_, left) = get(&node, "/upstreams/upstream.test/targets").await;
    let mut left: Vec<&str> =
        left["data"].as_array().expect("targets").iter().filter_map(|t| t["target"].as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["10.0.0.1:80", "10.9.9.9:80"]);
    assert_eq!(get(&node, "/services/manual").await.0, 200);
    assert_eq!(get(&node, "/routes/manual-route").await.0, 200);

    // Removing everything deletes the rest (the hand-made target goes with its upstream), and still not
    // the hand-made service and route.
    let report = sync_config(&client, &json!({ "_format_version": "3.0" }), 8).await.expect("empty");
    assert_clean(&report);
    assert_eq!(report.deleted, 4, "{report:#?}");
    assert_eq!(get(&node, "/services/manual").await.0, 200);
    assert_eq!(get(&node, "/routes/manual-route").await.0, 200);
}

fn with_credentials(echo: &EchoServer, password: &str, key_auth_id: &str) -> Value {
    json!({
        "_format_version": "3.0",
        "services": [{
            "id": SVC, "name": "default.echo.80", "host": echo.addr.ip().to_string(), "port": echo.addr.port(),
            "tags": k8s("Service", "echo"),
            "routes": [{
                "id": ROUTE, "name": "basic", "paths": ["/basic"], "tags": k8s("Ingress", "basic"),
                "plugins": [{ "id": P_ROUTE, "name": "basic-auth", "tags": k8s("KongPlugin", "basic") }],
            }, {
                "id": ROUTE2, "name": "key", "paths": ["/key"], "tags": k8s("Ingress", "key"),
                "plugins": [{ "id": P_BY_NAME, "name": "key-auth", "tags": k8s("KongPlugin", "key") }],
            }],
        }],
        "consumers": [{
            "id": CONSUMER, "username": "alice", "tags": k8s("KongConsumer", "alice"),
            "keyauth_credentials": [{ "id": key_auth_id, "key": "alice-key", "ttl": 3600, "tags": k8s("Secret", "k") }],
            "basicauth_credentials": [{ "username": "alice", "password": password, "tags": k8s("Secret", "b") }],
        }],
    })
}

async fn status_with(node: &Node, path: &str, header: (&str, &str)) -> u16 {
    let reply =
        reqwest::Client::new().get(format!("{}{path}", node.proxy_url())).header(header.0, header.1).send().await;
    reply.expect("proxy").status().as_u16()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn credentials_round_trip_without_being_resent() {
    const KEY_1: &str = "2f2e1c3a-4b5d-4e6f-8a9b-0c1d2e3f4a5b";
    const KEY_2: &str = "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d";
    let node = start_node().await;
    let echo = EchoServer::start().await.expect("echo");
    let client = AdminClient::from_url(&node.admin_url()).expect("client");
    let report = sync_config(&client, &with_credentials(&echo, "pw-1", KEY_1), 8).await.expect("push");
    assert_clean(&report);
    assert_eq!(report.created, 8);
    let (_, stored) = get(&node, &format!("/consumers/{CONSUMER}/basic-auth/alice")).await;
    assert_ne!(stored["password"], "pw-1", "the gateway stores a hash");
    assert_eq!(status_with(&node, "/basic", ("authorization", &basic("alice", "pw-1"))).await, 200);
    assert_eq!(status_with(&node, "/key", ("apikey", "alice-key")).await, 200);

    let again = sync_config(&client, &with_credentials(&echo, "pw-1", KEY_1), 8).await.expect("again");
    assert_eq!((again.writes(), again.unchanged), (0, 8), "neither the password nor the key ttl is re-sent");

    let report = sync_config(&client, &with_credentials(&echo, "pw-2", KEY_1), 8).await.expect("new password");
    assert_eq!((report.updated, report.writes()), (1, 1), "{report:#?}");
    assert_eq!(status_with(&node, "/basic", ("authorization", &basic("alice", "pw-2"))).await, 200);
    assert_eq!(status_with(&node, "/basic", ("authorization", &basic("alice", "pw-1"))).await, 401);

    // The same key under a new credential id (its Secret was replaced): the new one conflicts with the old
    // until the old is deleted, and is written after the deletes.
    let report = sync_config(&client, &with_credentials(&echo, "pw-2", KEY_2), 8).await.expect("moved key");
    assert_clean(&report);
    assert_eq!((report.created, report.deleted, report.updated), (1, 1, 0), "{report:#?}");
    let (_, key) = get(&node, &format!("/key-auths/{KEY_2}")).await;
    assert_eq!(key["key"], "alice-key");
    assert_eq!(status_with(&node, "/key", ("apikey", "alice-key")).await, 200);
}
