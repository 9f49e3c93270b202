//! Several real node processes on one throwaway PostgreSQL cluster.

use gatehouse_testkit::{Node, NodeOptions, PgCluster};
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn options(cluster: &PgCluster, database: &str, run_migrations: bool) -> NodeOptions {
    let args = if run_migrations { vec!["--run-migrations".to_string()] } else { vec![] };
    NodeOptions { env: cluster.node_env(database), args, ..Default::default() }
}

#[tokio::test]
async fn refuses_to_start_on_an_unmigrated_database() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("refuse").expect("db");
    let mut node = Node::spawn(binary(), options(cluster, &db, false)).expect("spawn");
    let code = node.wait_exit(Duration::from_secs(20)).await.expect("the node exits");
    assert_ne!(code, Some(0));
    let log = node.log();
    assert!(log.contains("gatehouse migrations bootstrap"), "the message names the command: {log}");
    assert!(log.contains("--run-migrations"), "{log}");
}

#[tokio::test]
async fn concurrent_starts_migrate_exactly_once() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("race_migrate").expect("db");
    let mut a = Node::spawn(binary(), options(cluster, &db, true)).expect("spawn a");
    let mut b = Node::spawn(binary(), options(cluster, &db, true)).expect("spawn b");
    a.wait_ready(Duration::from_secs(30)).await.expect("a comes up");
    b.wait_ready(Duration::from_secs(30)).await.expect("b comes up");
    let migrated = [&a, &b].iter().filter(|n| n.log().contains("migrations executed")).count();
    let waited = [&a, &b].iter().filter(|n| n.log().contains("migrated by another node")).count();
    assert_eq!((migrated, waited), (1, 1), "a:\n{}\nb:\n{}", a.log(), b.log());
    for node in [&a, &b] {
        let reply = reqwest::get(format!("{}/services", node.admin_url())).await.expect("get");
        assert_eq!(reply.status(), 200);
    }
}

#[tokio::test]
async fn two_nodes_racing_on_one_name_get_one_201_and_one_409() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("race_unique").expect("db");
    let a = Node::start(binary(), options(cluster, &db, true)).await.expect("a");
    let b = Node::start(binary(), options(cluster, &db, true)).await.expect("b");
    gatehouse_testkit::race_service_creates(&a, &b, 20).await.expect("one 201 and one 409 per round");
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/services?size=1000", b.admin_url()))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(20));
}

#[tokio::test]
async fn a_health_override_on_one_node_applies_on_every_node() {
    use serde_json::{json, Value};
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("health_broadcast").expect("db");
    let a = Node::start(binary(), options(cluster, &db, true)).await.expect("a");
    let b = Node::start(binary(), options(cluster, &db, true)).await.expect("b");
    a.create("/upstreams", json!({"name": "shared"})).await;
    a.create("/upstreams/shared/targets", json!({"target": "10.0.0.7:80"})).await;
    let health_on = |node: &Node| {
        let url = format!("{}/upstreams/shared/health", node.admin_url());
        async move {
            let body: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
            // Without health checks Kong reports HEALTHCHECKS_OFF; an override shows in the weights.
            body["data"][0]["data"]["weight"]["available"].as_u64()
        }
    };
    gatehouse_testkit::wait_for("b to know the target", Duration::from_secs(10), || async {
        (health_on(&b).await == Some(100)).then_some(())
    })
    .await
    .expect("the target reaches b");
    let (status, _) =
        a.admin(reqwest::Method::PUT, "/upstreams/shared/targets/10.0.0.7:80/unhealthy", Value::Null).await;
    assert_eq!(status, 204);
    assert_eq!(health_on(&a).await, Some(0), "applied on the node that was asked at once");
    gatehouse_testkit::wait_for("b to follow the override", Duration::from_secs(10), || async {
        (health_on(&b).await == Some(0)).then_some(())
    })
    .await
    .expect("the override reaches the other node");
    let (status, _) = b.admin(reqwest::Method::PUT, "/upstreams/shared/targets/10.0.0.7:80/healthy", Value::Null).await;
    assert_eq!(status, 204);
    gatehouse_testkit::wait_for("a to follow back", Duration::from_secs(10), || async {
        (health_on(&a).await == Some(100)).then_some(())
    })
    .await
    .expect("and back");
}
