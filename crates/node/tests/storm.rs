//! Write storms across several nodes: every node's snapshot must end identical to the database (compared
//! by digest), also when a node is killed with SIGKILL in the middle and started again.

use gatehouse_testkit::{wait_for, Node, NodeOptions, PgCluster};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// One client's share of the storm: creates, updates and deletes spread over `nodes`.
async fn storm(client_no: usize, admins: Vec<String>, rounds: usize) -> usize {
    let client = reqwest::Client::new();
    let mut ok = 0;
    for round in 0..rounds {
        let admin = &admins[(client_no + round) % admins.len()];
        let name = format!("c{client_no}-r{round}");
        let service =
            client.post(format!("{admin}/services")).json(&json!({"name": name, "host": "upstream.test"})).send().await;
        if service.map(|r| r.status().as_u16()).ok() != Some(201) {
            continue;
        }
        let route = client
            .post(format!("{admin}/services/{name}/routes"))
            .json(&json!({"name": name, "paths": [format!("/{name}")]}))
            .send()
            .await;
        if route.map(|r| r.status().as_u16()).ok() != Some(201) {
            continue;
        }
        let other = &admins[(client_no + round + 1) % admins.len()];
        let _ = client
            .patch(format!("{other}/routes/{name}"))
            .json(&json!({"paths": [format!("/{name}/v2")]}))
            .send()
            .await;
        if round % 3 == 0 {
            let _ = client.delete(format!("{other}/routes/{name}")).send().await;
            let _ = client.delete(format!("{other}/services/{name}")).send().await;
        }
        ok += 1;
    }
    ok
}

async fn converged(nodes: &[&Node]) -> anyhow::Result<()> {
    let waited = wait_for("every snapshot to match the database", Duration::from_secs(30), || async {
        let client = reqwest::Client::new();
        for node in nodes {
            let digest: Value =
                client.get(format!("{}/clustering/digest", node.admin_url())).send().await.ok()?.json().await.ok()?;
            if digest["snapshot"] != digest["database"] || digest["snapshot"].is_null() {
                return None;
            }
        }
        Some(())
    })
    .await;
    if waited.is_err() {
        report_divergence(nodes).await;
    }
    waited
}

/// Prints what tells a lost or misapplied change (the node's position caught up, its digest did not) from a
/// stalled follower (its position lags `latest_seq`) or a node that stopped answering, with every node's log.
async fn report_divergence(nodes: &[&Node]) {
    let client = reqwest::Client::new();
    for (n, node) in nodes.iter().enumerate() {
        for path in ["clustering/digest", "clustering/status"] {
            let answer = match client.get(format!("{}/{path}", node.admin_url())).send().await {
                Ok(response) => response.text().await.unwrap_or_else(|e| format!("unreadable body: {e}")),
                Err(e) => format!("request failed: {e}"),
            };
            eprintln!("node {n} /{path}: {answer}");
        }
    }
    for (n, node) in nodes.iter().enumerate() {
        eprintln!("--- node {n} log ---\n{}", node.log());
    }
}

fn options(cluster: &PgCluster, db: &str) -> NodeOptions {
    // Debug logs name every hole the follower moves past and every snapshot it publishes, for the report above.
    let mut env = cluster.node_env(db);
    env.push(("GATEHOUSE_LOG_LEVEL".into(), "debug".into()));
    NodeOptions { env, args: vec!["--run-migrations".into()], ..Default::default() }
}

#[tokio::test]
async fn a_write_storm_leaves_every_snapshot_identical_to_the_database() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("storm").expect("db");
    let nodes = [
        Node::start(binary(), options(cluster, &db)).await.expect("a"),
        Node::start(binary(), options(cluster, &db)).await.expect("b"),
        Node::start(binary(), options(cluster, &db)).await.expect("c"),
    ];
    let admins: Vec<String> = nodes.iter().map(Node::admin_url).collect();
    let clients: Vec<_> = (0..4).map(|n| tokio::spawn(storm(n, admins.clone(), 25))).collect();
    let mut created = 0;
    for c in clients {
        created += c.await.expect("client");
    }
    assert!(created > 50, "the storm did real work: {created}");
    converged(&nodes.iter().collect::<Vec<_>>()).await.expect("all nodes converge");
}

#[tokio::test]
async fn a_node_killed_mid_storm_catches_up_and_the_others_lose_nothing() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("storm_kill").expect("db");
    let a = Node::start(binary(), options(cluster, &db)).await.expect("a");
    let b = Node::start(binary(), options(cluster, &db)).await.expect("b");
    let c = Node::start(binary(), options(cluster, &db)).await.expect("c");
    let survivors = vec![a.admin_url(), b.admin_url()];
    let storm_all = tokio::spawn(storm(0, vec![a.admin_url(), b.admin_url(), c.admin_url()], 30));
    let storm_survivors = tokio::spawn(storm(1, survivors.clone(), 30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(c); // SIGKILL in the middle of the storm
    storm_all.await.expect("client");
    storm_survivors.await.expect("client");
    converged(&[&a, &b]).await.expect("the survivors converge");
    let restarted = Node::start(binary(), options(cluster, &db)).await.expect("c again");
    converged(&[&a, &b, &restarted]).await.expect("the restarted node catches up");
}
