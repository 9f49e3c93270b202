//! The sync when things go wrong, against a real gateway node on SQLite: rejected entities are reported
//! with the Kubernetes object they came from while everything else is applied; an unreachable gateway is
//! an error and the next push after it is back succeeds; several Admin API URLs and TLS without
//! verification.

use gatehouse_ingress::sync::{
    sync_config, AdminClient, AdminClientConfig, Collection, EntityFailure, Operation, SyncError, SyncOptions,
    SyncOutcome, Syncer,
};
use gatehouse_testkit::{free_port, wait_for, Node, NodeOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const SVC: &str = "edc1d53e-73b4-5932-9455-0e01f0d53e3f";
const SVC_BAD: &str = "98bf1a35-c9f4-5102-a0fd-3fce31982820";
const R_GOOD: &str = "fc9a8135-0253-5631-b1e0-8712f796a4e2";
const R_BAD: &str = "5df756b2-ceba-55e3-b9dc-a7e4dfbe6947";
const R_UNDER_BAD: &str = "5dbcc13e-ee70-5b2c-8ced-48c1454e32c4";
const P_OK: &str = "61a22b86-f859-5c8a-a23c-97b92b14b635";
const P_INVALID: &str = "cf7e2afa-49f9-56c3-b8b1-223d8d62574a";
const P_ON_BAD: &str = "7175c636-32f0-5fc4-842a-86c0567289e1";
const P_UNDER_BAD: &str = "e8dddcdf-ebe3-5a2d-af0d-865da7881126";
const P_DANGLING: &str = "94a0d72e-a19f-5269-a40c-6e52a6120d34";
const CONSUMER: &str = "7deb6e70-60be-5dd2-b374-06551479ea5e";
const BAD_INGRESS_UID: &str = "c6ac927c-4f5a-4e88-8b5d-c7b01d0f43af";

fn binary() -> PathBuf {
    gatehouse_testkit::workspace_binary("gatehouse-node", "gatehouse").expect("gatehouse binary")
}

async fn get(node: &Node, path: &str) -> u16 {
    node.admin(Method::GET, path, Value::Null).await.0
}

fn k8s(kind: &str, name: &str, uid: &str) -> Value {
    json!([
        format!("k8s-name:{name}"),
        "k8s-namespace:default",
        format!("k8s-kind:{kind}"),
        format!("k8s-uid:{uid}"),
        "k8s-version:v1"
    ])
}

fn plugin(id: &str, name: &str, config: Value) -> Value {
    json!({ "id": id, "name": name, "config": config, "tags": k8s("KongPlugin", name, id) })
}

/// A configuration with a route whose path the gateway rejects, a service with an invalid protocol, a
/// plugin with an invalid config, a plugin naming a route that does not exist and an oauth2 credential.
fn config(bad_path: &str, bad_protocol: &str) -> Value {
    json!({
        "_format_version": "3.0",
        "services": [{
            "id": SVC, "name": "default.echo.80", "host": "echo.test", "tags": k8s("Service", "echo", SVC),
            "routes": [{
                "id": R_BAD, "name": "bad", "paths": [bad_path],
                "tags": k8s("Ingress", "bad-ingress", BAD_INGRESS_UID),
                "plugins": [plugin(P_ON_BAD, "cors", json!({}))],
            }, {
                "id": R_GOOD, "name": "good", "paths": ["/good"], "tags": k8s("Ingress", "good", R_GOOD),
                "plugins": [plugin(P_INVALID, "correlation-id", json!({ "generator": "bogus" })),
                            plugin(P_OK, "cors", json!({ "origins": ["*"] }))],
            }],
        }, {
            "id": SVC_BAD, "name": "default.other.80", "host": "other.test", "protocol": bad_protocol,
            "tags": k8s("Service", "other", SVC_BAD),
            "routes": [{
                "id": R_UNDER_BAD, "name": "under-bad", "paths": ["/other"], "tags": k8s("Ingress", "other", R_UNDER_BAD),
                "plugins": [plugin(P_UNDER_BAD, "cors", json!({}))],
            }],
        }],
        "consumers": [{
            "id": CONSUMER, "username": "app", "tags": k8s("KongConsumer", "app", CONSUMER),
            "oauth2_credentials": [{ "name": "app", "client_id": "cid", "client_secret": "secret",
                                     "redirect_uris": ["https://app.test/cb"], "tags": k8s("Secret", "app-oauth", "u") }],
        }],
        "plugins": [{ "id": P_DANGLING, "name": "key-auth", "route": "nope", "tags": k8s("KongPlugin", "auth", "u2") }],
    })
}

fn find<'a>(list: &'a [EntityFailure], id: &str) -> &'a EntityFailure {
    list.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("{id} not in {list:#?}"))
}

fn ids(list: &[EntityFailure]) -> Vec<&str> {
    let mut ids: Vec<&str> = list.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn rejected_entities_are_reported_and_only_their_dependents_skipped() {
    let node = Node::start(&binary(), NodeOptions::default()).await.expect("node");
    let client = AdminClient::from_url(&node.admin_url()).expect("client");
    let report = sync_config(&client, &config("no-slash", "gopher"), 8).await.expect("push");

    let rejected = find(&report.failures, R_BAD);
    assert_eq!(
        (rejected.collection, rejected.operation, rejected.status),
        (Collection::Routes, Operation::Create, Some(400))
    );
    assert_eq!(rejected.object.kind.as_deref(), Some("Ingress"));
    assert_eq!(rejected.object.namespace.as_deref(), Some("default"));
    assert_eq!(rejected.object.name.as_deref(), Some("bad-ingress"));
    assert_eq!(rejected.object.uid.as_deref(), Some(BAD_INGRESS_UID));
    assert_eq!(rejected.label.as_deref(), Some("bad"));
    assert!(rejected.message.contains("paths"), "{rejected:#?}");
    assert!(rejected.to_string().contains("Ingress default/bad-ingress"), "{rejected}");
    let invalid = find(&report.failures, P_INVALID);
    assert!(invalid.message.contains("generator"), "{invalid:#?}");
    assert_eq!(find(&report.failures, SVC_BAD).status, Some(400));
    let dangling = find(&report.failures, P_DANGLING);
    assert_eq!(dangling.status, None);
    assert!(dangling.message.contains("'nope'"), "{dangling:#?}");
    assert!(
        report.failures.iter().all(|f| f.collection != Collection::Oauth2),
        "oauth2 applications are accepted: {:#?}",
        report.failures
    );
    assert_eq!(report.failures.len(), 4, "{:#?}", report.failures);

    let mut skipped = vec![P_ON_BAD, R_UNDER_BAD, P_UNDER_BAD];
    skipped.sort_unstable();
    assert_eq!(ids(&report.skipped), skipped);
    assert!(find(&report.skipped, P_ON_BAD).message.contains(R_BAD));
    assert_eq!(report.created, 5, "service, good route, its valid plugin, consumer, oauth2 app: {report:#?}");

    for (path, status) in [
        (format!("/routes/{R_GOOD}"), 200),
        (format!("/plugins/{P_OK}"), 200),
        (format!("/consumers/{CONSUMER}"), 200),
        (format!("/routes/{R_BAD}"), 404),
        (format!("/plugins/{P_INVALID}"), 404),
        (format!("/plugins/{P_ON_BAD}"), 404),
        (format!("/services/{SVC_BAD}"), 404),
        (format!("/routes/{R_UNDER_BAD}"), 404),
    ] {
        assert_eq!(get(&node, &path).await, status, "{path}");
    }

    // Unchanged configuration: the same failures, nothing written.
    let again = sync_config(&client, &config("no-slash", "gopher"), 8).await.expect("again");
    assert_eq!((again.writes(), again.unchanged, again.failures.len(), again.skipped.len()), (0, 5, 4, 3));

    // Fixing the route and the service brings them and their dependents in.
    let fixed = sync_config(&client, &config("/bad", "http"), 8).await.expect("fixed");
    assert_eq!((fixed.created, fixed.updated, fixed.deleted), (5, 0, 0), "{fixed:#?}");
    assert_eq!(ids(&fixed.failures), {
        let mut left = vec![P_INVALID, P_DANGLING];
        left.sort_unstable();
        left
    });
    assert!(fixed.skipped.is_empty(), "{:#?}", fixed.skipped);
    assert_eq!(get(&node, &format!("/plugins/{P_UNDER_BAD}")).await, 200);
}

fn simple() -> Value {
    json!({
        "_format_version": "3.0",
        "services": [{ "id": SVC, "name": "svc", "host": "echo.test", "tags": k8s("Service", "echo", SVC),
                       "routes": [{ "id": R_GOOD, "name": "good", "paths": ["/good"], "tags": k8s("Ingress", "good", R_GOOD) }] }],
    })
}

/// A node on a chosen Admin API port (and optionally a chosen prefix, to reuse its database).
async fn node_on(port: u16, prefix: Option<&std::path::Path>) -> Node {
    let mut env = vec![("GATEHOUSE_ADMIN_LISTEN".to_string(), format!("127.0.0.1:{port}"))];
    if let Some(prefix) = prefix {
        env.push(("GATEHOUSE_PREFIX".to_string(), prefix.display().to_string()));
    }
    let node = Node::spawn(&binary(), NodeOptions { env, ..Default::default() }).expect("spawn");
    wait_for("the Admin API", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", node.log()));
    node
}

#[tokio::test]
async fn an_unreachable_gateway_is_an_error_and_the_push_succeeds_once_it_is_back() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let syncer = Syncer::new(AdminClient::from_url(&url).expect("client"), SyncOptions::default());
    let config = simple();
    let error = syncer.sync(&config).await.expect_err("nobody listens");
    assert!(matches!(error, SyncError::Unreachable(_)) && error.is_transient(), "{error}");

    let mut node = node_on(port, None).await;
    match syncer.sync(&config).await.expect("the gateway is back") {
        SyncOutcome::Pushed(report) => assert_eq!(report.created, 2, "{report:#?}"),
        other => panic!("expected a push, got {other:?}"),
    }

    node.terminate().expect("stop");
    node.wait_exit(Duration::from_secs(15)).await.expect("exit");
    assert!(matches!(syncer.push(&config).await, Err(SyncError::Unreachable(_))));
    // The same database behind the same URL: the configuration is already there.
    let _back = node_on(port, Some(&node.prefix.path)).await;
    let report = syncer.push(&config).await.expect("push after restart");
    assert_eq!((report.writes(), report.unchanged), (0, 2), "{report:#?}");
}

#[tokio::test]
async fn the_first_reachable_url_is_used_and_tls_verification_can_be_skipped() {
    let node = Node::start(&binary(), NodeOptions { tls: true, ..Default::default() }).await.expect("node");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let client = AdminClient::new(AdminClientConfig::new([dead, node.admin_url()])).expect("client");
    let report = sync_config(&client, &simple(), 8).await.expect("push through the second URL");
    assert_eq!(report.created, 2);
    assert_eq!(client.active_url(), node.admin_url());

    let https = format!("https://127.0.0.1:{}", node.tls_admin_port);
    let verifying = AdminClient::from_url(&https).expect("client");
    assert!(matches!(sync_config(&verifying, &simple(), 8).await, Err(SyncError::Unreachable(_))));
    let config =
        AdminClientConfig { tls_skip_verify: true, token: Some("a-token".into()), ..AdminClientConfig::new([https]) };
    let trusting = AdminClient::new(config).expect("client");
    let report = sync_config(&trusting, &simple(), 8).await.expect("push over TLS");
    assert_eq!((report.writes(), report.unchanged), (0, 2));
}
