//! Three real nodes on one PostgreSQL: a change made through one node's Admin API reaches the other
//! nodes' proxies and Admin APIs, woken by NOTIFY long before the 5 s poll.

use gatehouse_testkit::{wait_for, EchoServer, Node, NodeOptions, PgCluster};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Well below the default `db_update_frequency` of 5 s: only the NOTIFY wake-up can meet it.
const BOUND: Duration = Duration::from_secs(2);

async fn status_of(url: String) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

#[tokio::test]
async fn changes_on_one_node_reach_the_others() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("propagation").expect("db");
    let options =
        || NodeOptions { env: cluster.node_env(&db), args: vec!["--run-migrations".into()], ..Default::default() };
    let a = Node::start(binary(), options()).await.expect("a");
    let b = Node::start(binary(), options()).await.expect("b");
    let c = Node::start(binary(), options()).await.expect("c");
    let echo = EchoServer::start().await.expect("echo");

    a.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    let route = a.create("/services/svc/routes", json!({"name": "r", "paths": ["/p"]})).await;
    for node in [&b, &c] {
        let url = format!("{}/p", node.proxy_url());
        wait_for("the route on the other node's proxy", BOUND, || async {
            (status_of(url.clone()).await == Some(200)).then_some(())
        })
        .await
        .expect("created route propagates");
        let (status, seen) = node.admin(reqwest::Method::GET, "/routes/r", serde_json::Value::Null).await;
        assert_eq!((status, &seen["id"]), (200, &route["id"]));
    }

    let (status, _) = b.admin(reqwest::Method::PATCH, "/routes/r", json!({"paths": ["/q"]})).await;
    assert_eq!(status, 200);
    for node in [&a, &c] {
        let (old, new) = (format!("{}/p", node.proxy_url()), format!("{}/q", node.proxy_url()));
        wait_for("the updated route", BOUND, || async {
            (status_of(old.clone()).await == Some(404) && status_of(new.clone()).await == Some(200)).then_some(())
        })
        .await
        .expect("an update made on b propagates");
    }

    a.create("/upstreams", json!({"name": "pool.test"})).await;
    a.create("/upstreams/pool.test/targets", json!({"target": echo.addr.to_string()})).await;
    let (status, _) =
        c.admin(reqwest::Method::PATCH, "/services/svc", json!({"host": "pool.test", "port": 80, "path": null})).await;
    assert_eq!(status, 200);
    for node in [&a, &b] {
        let url = format!("{}/q", node.proxy_url());
        wait_for("the service now balanced over the upstream", BOUND, || async {
            (status_of(url.clone()).await == Some(200)).then_some(())
        })
        .await
        .expect("upstream, target and service changes propagate");
    }

    let (status, _) = c.admin(reqwest::Method::DELETE, "/routes/r", serde_json::Value::Null).await;
    assert_eq!(status, 204);
    for node in [&a, &b] {
        let url = format!("{}/q", node.proxy_url());
        wait_for("the deleted route", BOUND, || async { (status_of(url.clone()).await == Some(404)).then_some(()) })
            .await
            .expect("a delete made on c propagates");
    }
}

#[tokio::test]
async fn a_client_can_wait_until_a_write_is_live_on_every_node() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("propagation_wait").expect("db");
    let options =
        || NodeOptions { env: cluster.node_env(&db), args: vec!["--run-migrations".into()], ..Default::default() };
    let nodes = [
        Node::start(binary(), options()).await.expect("a"),
        Node::start(binary(), options()).await.expect("b"),
        Node::start(binary(), options()).await.expect("c"),
    ];
    let echo = EchoServer::start().await.expect("echo");
    let client = reqwest::Client::new();
    wait_for("all three nodes in /clustering/status", Duration::from_secs(10), || async {
        let status: serde_json::Value =
            client.get(format!("{}/clustering/status", nodes[1].admin_url())).send().await.ok()?.json().await.ok()?;
        let up = status["data"].as_array()?.iter().filter(|n| n["status"] == "up").count();
        (up == 3).then_some(())
    })
    .await
    .expect("every node reports a heartbeat");

    nodes[0].create("/services", json!({"name": "svc", "url": echo.url()})).await;
    let reply = client
        .post(format!("{}/services/svc/routes", nodes[0].admin_url()))
        .json(&json!({"paths": ["/waited"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(reply.status(), 201);
    let seq: i64 = reply
        .headers()
        .get("x-gatehouse-change-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a write carries the sequence number it produced");
    let waited = client
        .get(format!("{}/clustering/propagation/{seq}?timeout=5000", nodes[1].admin_url()))
        .send()
        .await
        .expect("wait");
    assert_eq!(waited.status(), 200);
    let body: serde_json::Value = waited.json().await.expect("json");
    assert_eq!(body["propagated"], true);
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(3));
    for node in &nodes {
        let live = client.get(format!("{}/waited", node.proxy_url())).send().await.expect("proxy");
        assert_eq!(live.status(), 200, "once propagation is confirmed the route answers everywhere, without polling");
    }
    let future = client
        .get(format!("{}/clustering/propagation/{}?timeout=50", nodes[2].admin_url(), seq + 1000))
        .send()
        .await
        .expect("wait");
    assert_eq!(future.status(), 504, "a sequence number nobody reached times out");
}

#[tokio::test]
async fn a_database_outage_keeps_the_proxy_serving_and_nodes_converge_after() {
    let cluster = PgCluster::start().expect("a cluster of our own, to stop");
    let db = cluster.create_database("outage").expect("db");
    let mut env = cluster.node_env(&db);
    env.push(("GATEHOUSE_PG_TIMEOUT".into(), "1000".into()));
    env.push(("GATEHOUSE_DB_UPDATE_FREQUENCY".into(), "0.5".into()));
    let options = || NodeOptions { env: env.clone(), args: vec!["--run-migrations".into()], ..Default::default() };
    let (a, b) =
        (Node::start(binary(), options()).await.expect("a"), Node::start(binary(), options()).await.expect("b"));
    let echo = EchoServer::start().await.expect("echo");
    a.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    a.create("/services/svc/routes", json!({"paths": ["/up"]})).await;
    let url = format!("{}/up", b.proxy_url());
    wait_for("the route on b", BOUND, || async { (status_of(url.clone()).await == Some(200)).then_some(()) })
        .await
        .expect("propagated before the outage");

    cluster.stop().expect("stop PostgreSQL");
    for node in [&a, &b] {
        for _ in 0..50 {
            assert_eq!(status_of(format!("{}/up", node.proxy_url())).await, Some(200), "the proxy keeps serving");
        }
    }
    let (status, body) = a.admin(reqwest::Method::POST, "/services", json!({"name": "during", "host": "h"})).await;
    assert_eq!(status, 503, "writes fail cleanly while the database is down: {body}");
    let (_, health) = a.admin(reqwest::Method::GET, "/status", serde_json::Value::Null).await;
    assert_eq!(health["database"]["reachable"], false);
    assert_eq!(status_of(format!("http://127.0.0.1:{}/status/ready", a.status_port)).await, Some(503));

    cluster.resume().expect("restart PostgreSQL");
    wait_for("writes to work again", Duration::from_secs(20), || async {
        let (status, _) = a.admin(reqwest::Method::POST, "/services/svc/routes", json!({"paths": ["/after"]})).await;
        (status == 201).then_some(())
    })
    .await
    .expect("node a reconnects without a restart");
    let after = format!("{}/after", b.proxy_url());
    wait_for("b to catch up after the outage", Duration::from_secs(20), || async {
        (status_of(after.clone()).await == Some(200)).then_some(())
    })
    .await
    .expect("node b resyncs and converges");
    assert_eq!(status_of(format!("http://127.0.0.1:{}/status/ready", a.status_port)).await, Some(200));
}

#[tokio::test]
async fn processes_sharing_one_sqlite_file_follow_each_other_by_polling() {
    let shared = gatehouse_testkit::TempDir::new("sqlite-follow").expect("dir");
    let prefix = shared.path.to_string_lossy().to_string();
    let options = || NodeOptions {
        env: vec![("GATEHOUSE_PREFIX".into(), prefix.clone()), ("GATEHOUSE_DB_UPDATE_FREQUENCY".into(), "0.2".into())],
        ..Default::default()
    };
    let (a, b) =
        (Node::start(binary(), options()).await.expect("a"), Node::start(binary(), options()).await.expect("b"));
    let echo = EchoServer::start().await.expect("echo");
    a.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    a.create("/services/svc/routes", json!({"name": "r", "paths": ["/shared"]})).await;
    let url = format!("{}/shared", b.proxy_url());
    wait_for("the route on the other process", BOUND, || async {
        (status_of(url.clone()).await == Some(200)).then_some(())
    })
    .await
    .expect("polling the shared SQLite file propagates the write");
    let (status, _) = b.admin(reqwest::Method::DELETE, "/routes/r", serde_json::Value::Null).await;
    assert_eq!(status, 204);
    let back = format!("{}/shared", a.proxy_url());
    wait_for("the delete on the first process", BOUND, || async {
        (status_of(back.clone()).await == Some(404)).then_some(())
    })
    .await
    .expect("and back");
}

/// A transaction that took a lower sequence number commits after a higher one was applied: the follower
/// must not skip it. The test holds a write transaction open through the store while the Admin API commits
/// a later write, keeps it open until the follower has moved past the hole, then commits it and expects
/// the held change on every node.
#[tokio::test]
async fn a_change_committed_out_of_sequence_order_is_not_lost() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("out_of_order").expect("db");
    let options =
        || NodeOptions { env: cluster.node_env(&db), args: vec!["--run-migrations".into()], ..Default::default() };
    let (a, b) =
        (Node::start(binary(), options()).await.expect("a"), Node::start(binary(), options()).await.expect("b"));
    let echo = EchoServer::start().await.expect("echo");
    let service = a.create("/services", json!({"name": "svc", "url": echo.url()})).await;

    let config = gatehouse_store::DbConfig::Postgres(gatehouse_store::PgConfig {
        pool_size: 2,
        ..gatehouse_store::PgConfig::new(cluster.host.clone(), cluster.port, cluster.user.clone(), db.clone())
    });
    let store = gatehouse_store::Store::open(&config, uuid::Uuid::new_v4()).await.expect("store");
    let routes = gatehouse_model::schema_by_name("routes").expect("schema");
    let mut held = serde_json::Map::new();
    held.insert("paths".into(), json!(["/held"]));
    held.insert("service".into(), json!({"id": service["id"]}));
    routes.process_auto_fields(&mut held, gatehouse_model::Context::Insert, 1);
    let mut tx = store.begin().await.expect("begin");
    tx.insert(routes, &held).await.expect("insert, not committed yet");

    let reply = reqwest::Client::new()
        .post(format!("{}/services/svc/routes", a.admin_url()))
        .json(&json!({"paths": ["/later"]}))
        .send()
        .await
        .expect("later write");
    let later_seq: i64 = reply
        .headers()
        .get("x-gatehouse-change-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("seq header");
    let later = format!("{}/later", b.proxy_url());
    wait_for("the later write on b", BOUND, || async { (status_of(later.clone()).await == Some(200)).then_some(()) })
        .await
        .expect("the later write propagates while the earlier one is still open");
    assert_eq!(status_of(format!("{}/held", b.proxy_url())).await, Some(404));
    // Keep the transaction open until b gives up waiting for the hole and moves its position past it.
    let status_url = format!("{}/clustering/status", b.admin_url());
    let b_id = {
        let root: serde_json::Value = reqwest::get(b.admin_url()).await.expect("root").json().await.expect("json");
        root["node_id"].as_str().unwrap_or_default().to_string()
    };
    wait_for("b to move past the open transaction's number", Duration::from_secs(20), || async {
        let status: serde_json::Value = reqwest::get(status_url.clone()).await.ok()?.json().await.ok()?;
        let node = status["data"].as_array()?.iter().find(|n| n["id"] == b_id.as_str())?.clone();
        (node["last_seq"].as_i64()? >= later_seq).then_some(())
    })
    .await
    .expect("b skips the hole after its timeout");

    tx.commit().await.expect("commit the held transaction");
    for node in [&a, &b] {
        let url = format!("{}/held", node.proxy_url());
        wait_for("the held write", BOUND, || async { (status_of(url.clone()).await == Some(200)).then_some(()) })
            .await
            .expect("the change with the lower sequence number is applied after it commits");
    }
}
