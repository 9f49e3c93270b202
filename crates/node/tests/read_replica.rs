//! A node with a read replica (`pg_ro_*`): its change-log polls and cache fills go to a real streaming
//! replica, writes and Admin API reads to the primary, and it still serves its own write when the response
//! arrives.

use gatehouse_testkit::{wait_for, EchoServer, Node, NodeOptions, PgCluster};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

async fn status(node: &Node, path: &str) -> u16 {
    reqwest::get(format!("{}{path}", node.proxy_url())).await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test]
async fn polls_go_to_the_replica_and_writes_to_the_primary() {
    let primary = PgCluster::start_durable().expect("primary");
    let db = primary.create_database("replicated").expect("db");
    let replica = primary.start_replica().expect("replica");
    let options = |env| NodeOptions { env, args: vec!["--run-migrations".into()], ..Default::default() };
    let with_replica = Node::start(binary(), options([primary.node_env(&db), replica.replica_env(&db)].concat()))
        .await
        .expect("node reading the replica");
    assert!(with_replica.log().contains("reads go to the read replica"), "{}", with_replica.log());
    let plain = Node::start(binary(), options(primary.node_env(&db))).await.expect("node reading the primary");
    let echo = EchoServer::start().await.expect("echo");

    // Read-your-writes holds although polls read a replica that may lag: each write is live on answer.
    for i in 0..10 {
        with_replica.create("/services", json!({"name": format!("s{i}"), "url": echo.url()})).await;
        with_replica.create(&format!("/services/s{i}/routes"), json!({"paths": [format!("/r{i}")]})).await;
        assert_eq!(status(&with_replica, &format!("/r{i}")).await, 200, "route {i} not live when its create answered");
    }

    // Another node's write reaches this node through the replica: with the replica down it cannot.
    replica.stop().expect("stop the replica");
    plain.create("/services", json!({"name": "late", "url": echo.url()})).await;
    plain.create("/services/late/routes", json!({"paths": ["/late"]})).await;
    assert_eq!(status(&plain, "/late").await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&with_replica, "/late").await, 404, "the change cannot arrive while the replica is down");
    assert_eq!(status(&with_replica, "/r0").await, 200, "the proxy keeps serving from its snapshot");
    // Its own writes still go to the primary.
    let (code, body) = with_replica.admin(reqwest::Method::POST, "/consumers", json!({"username": "u"})).await;
    assert_eq!(code, 201, "{body}");

    replica.resume().expect("restart the replica");
    wait_for("the change through the replica", Duration::from_secs(30), || async {
        (status(&with_replica, "/late").await == 200).then_some(())
    })
    .await
    .expect("the replica delivers the change once it is back");
}
