//! Cluster benchmark: three nodes on one PostgreSQL (a throwaway cluster with default durability).
//! - Propagation: 200 route creates on node A, each timed from the write until the route answers on node B's
//!   proxy (and on node C's); p50/p99.
//! - Idle load: statements per second per idle node, from `pg_stat_statements` over 20 s.
//!
//! Run with `bench/propagation`.

use anyhow::Context as _;
use gatehouse_testkit::{EchoServer, Node, NodeOptions, PgCluster};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

async fn live(client: &reqwest::Client, url: &str, deadline: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == 200 {
                return Ok(started.elapsed());
            }
        }
        anyhow::ensure!(started.elapsed() < deadline, "{url} not live after {deadline:?}");
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

fn psql(cluster: &PgCluster, db: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args(["-h", &cluster.host, "-p", &cluster.port.to_string(), "-U", &cluster.user, "-d", db, "-tAc", sql])
        .output()
        .context("psql")?;
    anyhow::ensure!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Statements executed in `db` so far, from pg_stat_statements (background work such as autovacuum and
/// the statistics collector is not counted, unlike pg_stat_database's transaction counters).
fn statements(cluster: &PgCluster, db: &str) -> anyhow::Result<u64> {
    let sql = format!(
        "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{db}') AND query NOT LIKE '%pg_stat_statements%'"
    );
    psql(cluster, db, &sql)?.parse().context("pg_stat_statements")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let changes: usize = std::env::var("BENCH_CHANGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let cluster = PgCluster::start_durable()?;
    let db = cluster.create_database("propagation")?;
    psql(&cluster, &db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")?;
    let mut env = cluster.node_env(&db);
    env.push(("GATEHOUSE_LOG_LEVEL".into(), "warn".into()));
    let options = || NodeOptions { env: env.clone(), args: vec!["--run-migrations".into()], ..Default::default() };
    let a = Node::start(&binary, options()).await?;
    let b = Node::start(&binary, options()).await?;
    let c = Node::start(&binary, options()).await?;
    let echo = EchoServer::start().await?;
    a.create("/services", json!({"name": "svc", "url": echo.url()})).await;
    let client = reqwest::Client::new();
    let (mut to_b, mut to_c) = (Vec::new(), Vec::new());
    for i in 0..changes {
        let started = Instant::now();
        a.create("/services/svc/routes", json!({"paths": [format!("/change{i}")]})).await;
        let on_b = live(&client, &format!("{}/change{i}", b.proxy_url()), Duration::from_secs(30)).await?;
        let _ = on_b;
        to_b.push(started.elapsed());
        live(&client, &format!("{}/change{i}", c.proxy_url()), Duration::from_secs(30)).await?;
        to_c.push(started.elapsed());
    }
    to_b.sort();
    to_c.sort();

    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = statements(&cluster, &db)?;
    let idle = Duration::from_secs(20);
    tokio::time::sleep(idle).await;
    let after = statements(&cluster, &db)?;
    let per_node = (after.saturating_sub(before)) as f64 / idle.as_secs_f64() / 3.0;

    // Full resync: load 10,000 routes into a fresh node and read how long its first load took.
    let total_routes: usize = std::env::var("BENCH_RESYNC_ROUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let admin = a.admin_url();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (client, admin) = (client.clone(), admin.clone());
            tokio::spawn(async move {
                for i in (w..total_routes).step_by(16) {
                    let body = json!({"paths": [format!("/resync{i}")], "service": {"name": "svc"}});
                    let reply = client.post(format!("{admin}/routes")).json(&body).send().await?;
                    anyhow::ensure!(reply.status() == 201, "route create failed");
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let mut quiet_info = env.clone();
    quiet_info.push(("GATEHOUSE_LOG_LEVEL".into(), "info".into()));
    let fresh = Node::start(&binary, NodeOptions { env: quiet_info, ..Default::default() }).await?;
    let resync_ms: u64 = fresh
        .log()
        .lines()
        .find(|l| l.contains("configuration loaded"))
        .and_then(|l| l.split("elapsed_ms=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no 'configuration loaded' line in the fresh node's log")?;
    let loaded_routes = fresh
        .log()
        .lines()
        .find(|l| l.contains("configuration loaded"))
        .and_then(|l| l.split("routes=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or_default();

    println!("Propagation: {changes} route creates on node A of 3 (PostgreSQL, default durability), timed from the");
    println!("write until the route answers on another node's proxy (write latency included)");
    println!();
    println!("| measured | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (what, list) in [("A -> B proxy", &to_b), ("A -> B and C proxies", &to_c)] {
        println!(
            "| {what} | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(list, 0.5),
            percentile(list, 0.99),
            list.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
        );
    }
    println!();
    println!("| idle database load | statements/s per node |");
    println!("|---|---|");
    println!("| 3 idle nodes, db_update_frequency = 5 s | {per_node:.2} |");
    println!();
    println!("| full resync (a node's start-up load) | routes | time |");
    println!("|---|---|---|");
    println!("| read all routes and services, compile the router, publish | {loaded_routes} | {resync_ms} ms |");
    Ok(())
}
