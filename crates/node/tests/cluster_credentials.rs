//! Credentials across a cluster: a change made on one node reaches every node's entity cache through the
//! change log, and cached credentials keep authenticating while the database is down.

use gatehouse_testkit::{wait_for, EchoServer, Node, NodeOptions, PgCluster};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Well below the default `db_update_frequency` of 5 s: only the NOTIFY wake-up can meet it.
const BOUND: Duration = Duration::from_secs(2);

async fn status_with_key(node: &Node, key: &str) -> Option<u16> {
    let reply = reqwest::Client::new().get(format!("{}/p", node.proxy_url())).header("apikey", key).send().await;
    reply.ok().map(|r| r.status().as_u16())
}

async fn wait_status(node: &Node, key: &str, want: u16, what: &str) {
    wait_for(what, BOUND, || async { (status_with_key(node, key).await == Some(want)).then_some(()) })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[tokio::test]
async fn credential_changes_on_one_node_apply_on_the_others() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("credentials").expect("db");
    let options =
        || NodeOptions { env: cluster.node_env(&db), args: vec!["--run-migrations".into()], ..Default::default() };
    let a = Node::start(binary(), options()).await.expect("a");
    let b = Node::start(binary(), options()).await.expect("b");
    let echo = EchoServer::start().await.expect("echo");
    a.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    a.create("/services/svc/routes", json!({"name": "r", "paths": ["/p"]})).await;
    a.create("/routes/r/plugins", json!({"name": "key-auth"})).await;
    a.create("/consumers", json!({"username": "kim"})).await;
    let key = a.create("/consumers/kim/key-auth", json!({"key": "kim-key"})).await;

    // b caches the key (a hit) and the unknown one (a miss).
    wait_status(&b, "kim-key", 200, "the key authenticates on b").await;
    assert_eq!(status_with_key(&b, "later-key").await, Some(401));

    let path = format!("/consumers/kim/key-auth/{}", key["id"].as_str().unwrap_or_default());
    let (status, _) = a.admin(reqwest::Method::DELETE, &path, json!(null)).await;
    assert_eq!(status, 204);
    wait_status(&b, "kim-key", 401, "a key deleted on a is refused on b").await;

    a.create("/consumers/kim/key-auth", json!({"key": "later-key"})).await;
    wait_status(&b, "later-key", 200, "a key created on a replaces b's cached miss").await;

    // Changing the key itself drops the entry cached under the old key.
    let (status, _) = a.admin(reqwest::Method::PATCH, "/key-auths/later-key", json!({"key": "renamed-key"})).await;
    assert_eq!(status, 200);
    wait_status(&b, "later-key", 401, "the old key stops working on b").await;
    wait_status(&b, "renamed-key", 200, "the new key works on b").await;

    // Deleting the consumer cascades to its credentials on every node.
    let (status, _) = a.admin(reqwest::Method::DELETE, "/consumers/kim", json!(null)).await;
    assert_eq!(status, 204);
    wait_status(&b, "renamed-key", 401, "a deleted consumer's key is refused on b").await;
}

#[tokio::test]
async fn cached_credentials_keep_working_while_the_database_is_down() {
    let cluster = PgCluster::start().expect("a cluster of our own, to stop");
    let db = cluster.create_database("cache_outage").expect("db");
    let mut env = cluster.node_env(&db);
    env.push(("KONG_DB_CACHE_TTL".into(), "1".into()));
    env.push(("KONG_DB_RESURRECT_TTL".into(), "30".into()));
    let node = Node::start(binary(), NodeOptions { env, args: vec!["--run-migrations".into()], ..Default::default() })
        .await
        .expect("node");
    let echo = EchoServer::start().await.expect("echo");
    node.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    node.create("/services/svc/routes", json!({"name": "r", "paths": ["/p"]})).await;
    node.create("/routes/r/plugins", json!({"name": "key-auth"})).await;
    node.create("/consumers", json!({"username": "lee"})).await;
    node.create("/consumers/lee/key-auth", json!({"key": "lee-key"})).await;
    assert_eq!(status_with_key(&node, "lee-key").await, Some(200));

    cluster.stop().expect("stop PostgreSQL");
    // Past db_cache_ttl the entry is stale; the reload fails and the stale entry is served instead.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_with_key(&node, "lee-key").await, Some(200), "stale credentials are served during the outage");
    assert_eq!(status_with_key(&node, "never-seen").await, Some(500), "a key never cached cannot be checked");
    cluster.resume().expect("restart PostgreSQL");
    wait_for("the database to be back", Duration::from_secs(20), || async {
        (status_with_key(&node, "never-seen").await == Some(401)).then_some(())
    })
    .await
    .expect("lookups work again after the outage");
}
