//! Ingress controller benchmark: 1,000 Ingresses and 1,000 Services (with their EndpointSlices) in a
//! Kubernetes API (kube-testserver), a gateway node on PostgreSQL, and a `gatehouse-ingress` process.
//! Reports the time from controller start to the configuration being live on the gateway's proxy, the
//! translate time (in process, same objects), and the controller's CPU at steady state with no changes.
//!
//! Run with `bench/ingress`.

use anyhow::Context as _;
use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings};
use gatehouse_testkit::{free_port, Node, NodeOptions, PgCluster, TempDir};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COUNT: usize = 1000;

fn manifests(upstream_port: u16) -> String {
    let mut out = String::new();
    for i in 0..COUNT {
        out += &format!(
            r#"---
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: ns-{ns}, uid: 00000000-0000-4000-8000-{i:012}}}
spec: {{ports: [{{name: http, port: 80, protocol: TCP}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: svc-{i}-1, namespace: ns-{ns}, labels: {{kubernetes.io/service-name: svc-{i}}}}}
addressType: IPv4
ports: [{{name: http, port: {upstream_port}, protocol: TCP}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: ing-{i}, namespace: ns-{ns}, annotations: {{kubernetes.io/ingress.class: kong}}}}
spec:
  rules:
  - host: host-{i}.test
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: svc-{i}, port: {{number: 80}}}}}}}}
"#,
            ns = i % 20
        );
    }
    out
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the ")" split they are at 11 and 12.
    fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

async fn status(url: &str, host: &str) -> Option<u16> {
    let reply = reqwest::Client::new().get(url).header("host", host).send().await.ok()?;
    Some(reply.status().as_u16())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let gatehouse = PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN")?);
    let controller_bin = PathBuf::from(std::env::var("INGRESS_BIN").context("set INGRESS_BIN")?);
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream_port = upstream.local_addr()?.port();
    drop(upstream);
    let text = manifests(upstream_port);

    // Translate time, in process, on the same objects.
    let objects = Objects::from_yaml(&text).map_err(anyhow::Error::msg)?;
    let mut samples = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let t = translate(&objects, &Settings::default());
        samples.push(started.elapsed());
        anyhow::ensure!(t.config["services"].as_array().map(Vec::len) == Some(COUNT), "translation incomplete");
    }
    samples.sort();
    let translate_median = samples[samples.len() / 2];

    let kube = kube_testserver::TestServer::start().await?;
    let dir = TempDir::new("ingress-bench")?;
    let kubeconfig = dir.path.join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig)?;
    kube.apply_manifest(&text).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let cluster = PgCluster::start_durable()?;
    let db = cluster.create_database("ingress_bench")?;
    let options = NodeOptions {
        env: [cluster.node_env(&db), vec![("GATEHOUSE_LOG_LEVEL".into(), "warn".into())]].concat(),
        args: vec!["--run-migrations".into()],
        ..Default::default()
    };
    let node = Node::start(&gatehouse, options).await?;
    let health_port = free_port();
    // BENCH_CONTROLLER_LOG=FILE keeps the controller's info log, to see where time goes.
    let log = std::env::var("BENCH_CONTROLLER_LOG").ok();
    let started = Instant::now();
    let mut controller = Command::new(&controller_bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg(format!("--kong-admin-url={}", node.admin_url()))
        .arg(format!("--health-probe-bind-address=127.0.0.1:{health_port}"))
        .arg("--election-namespace=default")
        .arg(format!("--log-level={}", if log.is_some() { "info" } else { "warn" }))
        .stdout(match &log {
            Some(path) => Stdio::from(std::fs::File::create(path)?),
            None => Stdio::null(),
        })
        .stderr(Stdio::null())
        .spawn()?;
    let proxy = node.proxy_url();
    let probes = ["host-0.test", "host-500.test", &format!("host-{}.test", COUNT - 1)];
    loop {
        let mut live = true;
        for host in probes {
            // Any answer from the upstream side (it is closed, so 502) means the route exists; 404 means not yet.
            live &= status(&proxy, host).await.is_some_and(|s| s != 404);
        }
        if live {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "configuration never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_sync = started.elapsed();
    let (_, routes) = node.admin(reqwest::Method::GET, "/routes?size=1000", serde_json::Value::Null).await;
    let route_count = routes["data"].as_array().map(Vec::len).unwrap_or(0);

    // Steady state: let the pushes settle, then measure CPU over 20 s with nothing changing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = controller.id();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let (before, window) = (cpu_ticks(pid), Duration::from_secs(20));
    tokio::time::sleep(window).await;
    let idle_cpu = (cpu_ticks(pid) - before) as f64 / ticks_per_second / window.as_secs_f64() * 100.0;
    let _ = controller.kill();
    let _ = controller.wait();

    println!("Ingress controller: {COUNT} Ingresses, {COUNT} Services and EndpointSlices; gateway on PostgreSQL");
    println!();
    println!("| measured | value | target |");
    println!("|---|---|---|");
    println!("| controller start -> configuration live on the proxy | {:.2} s | < 10 s |", first_sync.as_secs_f64());
    println!("| routes on the gateway after the first sync | {route_count} (first page of 1000) | {COUNT} |");
    println!("| translate (median of 7, in process) | {:.1} ms | < 200 ms |", translate_median.as_secs_f64() * 1000.0);
    println!("| controller CPU, steady state with no changes | {idle_cpu:.2}% of a core | < 1% |");
    Ok(())
}
