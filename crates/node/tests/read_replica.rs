//! A node with a read replica (`pg_ro_*`): reads and change-log polls go to a real streaming replica, writes
//! to the primary, and the writing node still serves its own write when the response arrives.

use gatehouse_testkit::{wait_for, EchoServer, Node, NodeOptions, PgCluster};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

#[tokio::test]
async fn reads_go_to_the_replica_and_writes_to_the_primary() {
    let primary = PgCluster::start_durable().expect("primary");
    let db = primary.create_database("replicated").expect("db");
    let replica = primary.start_replica().expect("replica");
    let env = [primary.node_env(&db), replica.replica_env(&db)].concat();
    let node = Node::start(binary(), NodeOptions { env, args: vec!["--run-migrations".into()], ..Default::default() })
        .await
        .expect("node");
    assert!(node.log().contains("reads go to the read replica"), "{}", node.log());
    let echo = EchoServer::start().await.expect("echo");

    // Read-your-writes holds although polls read a replica that may lag: each write is live on answer.
    for i in 0..20 {
        node.create("/services", json!({"name": format!("s{i}"), "url": echo.url()})).await;
        node.create(&format!("/services/s{i}/routes"), json!({"paths": [format!("/r{i}")]})).await;
        let status = reqwest::get(format!("{}/r{i}", node.proxy_url())).await.expect("proxy").status();
        assert_eq!(status, 200, "route {i} not live when its create answered");
    }

    // With the replica down, writes still succeed on the primary; reads (which go to the replica) fail.
    replica.stop().expect("stop the replica");
    let (status, body) =
        node.admin(reqwest::Method::POST, "/services", json!({"name": "late", "url": echo.url()})).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = node.admin(reqwest::Method::GET, "/services/s0", Value::Null).await;
    assert!(status >= 500, "a read needs the replica: got {status}");
    assert_eq!(reqwest::get(format!("{}/r0", node.proxy_url())).await.expect("proxy").status(), 200);

    // Back up: the replica catches up with the write it missed and reads work again.
    replica.resume().expect("restart the replica");
    wait_for("reads through the replica", Duration::from_secs(30), || async {
        let (status, body) = node.admin(reqwest::Method::GET, "/services/late", Value::Null).await;
        (status == 200 && body["name"] == "late").then_some(())
    })
    .await
    .expect("the replica serves the write made while it was down");
}
