//! Admin API benchmark: creates 10,000 services and 10,000 routes over HTTP against a real node, then pages
//! through them 1,000 at a time. Reports creates/s, per-request p50/p99, and page times, for the embedded
//! SQLite default and for PostgreSQL (a throwaway cluster with PostgreSQL's default durability).
//!
//! Run with `bench/admin` (it builds the release binary first).

use anyhow::Context as _;
use gatehouse_testkit::{Node, NodeOptions, PgCluster};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Figures {
    backend: &'static str,
    creates: usize,
    creates_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    page_p50_ms: f64,
    page_max_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// POSTs `count` bodies with `concurrency` requests in flight, returning each request's latency.
async fn create_all(
    client: &reqwest::Client,
    url: String,
    bodies: Vec<serde_json::Value>,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<String>)> {
    let queue = Arc::new(tokio::sync::Mutex::new(bodies.into_iter().enumerate().collect::<Vec<_>>()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, queue) = (client.clone(), url.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let Some((i, body)) = queue.lock().await.pop() else { break };
                let started = Instant::now();
                let reply = client.post(&url).json(&body).send().await?;
                let status = reply.status();
                let created: serde_json::Value = reply.json().await?;
                anyhow::ensure!(status.as_u16() == 201, "create failed: {status} {created}");
                let id = created["id"].as_str().unwrap_or_default().to_string();
                out.push((i, started.elapsed(), id));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _, _)| *i);
    Ok((all.iter().map(|(_, d, _)| *d).collect(), all.into_iter().map(|(_, _, id)| id).collect()))
}

async fn page_all(client: &reqwest::Client, base: &str, collection: &str) -> anyhow::Result<(usize, Vec<Duration>)> {
    let mut next = Some(format!("/{collection}?size=1000"));
    let (mut rows, mut times) = (0, Vec::new());
    while let Some(path) = next {
        let started = Instant::now();
        let page: serde_json::Value = client.get(format!("{base}{path}")).send().await?.json().await?;
        times.push(started.elapsed());
        rows += page["data"].as_array().map(Vec::len).unwrap_or(0);
        next = page["next"].as_str().map(String::from);
    }
    Ok((rows, times))
}

async fn run(backend: &'static str, node: &Node, count: usize, concurrency: usize) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let base = node.admin_url();
    let services: Vec<_> = (0..count).map(|i| json!({"name": format!("svc-{i}"), "host": "upstream.test"})).collect();
    let started = Instant::now();
    let (mut latencies, ids) = create_all(&client, format!("{base}/services"), services, concurrency).await?;
    let routes: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"name": format!("route-{i}"), "paths": [format!("/r{i}")], "service": {"id": id}}))
        .collect();
    let services_elapsed = started.elapsed();
    let (route_latencies, _) = create_all(&client, format!("{base}/routes"), routes, concurrency).await?;
    let elapsed = started.elapsed();
    eprintln!(
        "{backend}: services {:.0}/s, routes {:.0}/s",
        count as f64 / services_elapsed.as_secs_f64(),
        count as f64 / (elapsed - services_elapsed).as_secs_f64()
    );
    latencies.extend(route_latencies);
    latencies.sort();
    let mut pages = Vec::new();
    for collection in ["services", "routes"] {
        let (rows, times) = page_all(&client, &base, collection).await?;
        anyhow::ensure!(rows == count, "{collection}: paged {rows} rows, expected {count}");
        pages.extend(times);
    }
    pages.sort();
    Ok(Figures {
        backend,
        creates: latencies.len(),
        creates_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        page_p50_ms: percentile(&pages, 0.50),
        page_max_ms: pages.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let count: usize = std::env::var("BENCH_ENTITIES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let mut results = Vec::new();

    let quiet = vec![("GATEHOUSE_LOG_LEVEL".to_string(), "warn".to_string())];
    let sqlite = Node::start(&binary, NodeOptions { env: quiet.clone(), args: vec![], ..Default::default() }).await?;
    results.push(run("SQLite (embedded)", &sqlite, count, concurrency).await?);
    drop(sqlite);

    let cluster = PgCluster::start_durable()?;
    let database = cluster.create_database("bench")?;
    let mut env = cluster.node_env(&database);
    env.extend(quiet);
    env.push(("GATEHOUSE_PG_POOL_SIZE".into(), concurrency.to_string()));
    let pg =
        Node::start(&binary, NodeOptions { env, args: vec!["--run-migrations".into()], ..Default::default() }).await?;
    results.push(run("PostgreSQL", &pg, count, concurrency).await?);

    println!("Admin API: {count} services + {count} routes created over HTTP ({concurrency} in flight), then paged 1000 at a time");
    println!();
    println!("| backend | creates | creates/s | p50 per create | p99 per create | 1000-entity page p50 | page max |");
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.1} ms | {:.1} ms |",
            r.backend, r.creates, r.creates_per_sec, r.p50_ms, r.p99_ms, r.page_p50_ms, r.page_max_ms
        );
    }
    Ok(())
}
