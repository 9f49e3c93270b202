//! Proxy benchmark: Gatehouse against nginx on the same machine, the same small upstream (an nginx server
//! block answering `200 ok`) and the same wrk settings, with 1 route and with 10,000 routes. Reports
//! requests/s and p99 for both, the ratio, and the node's RSS idle and with 10,000 routes.
//!
//! Run with `bench/proxy` (needs `nginx` and `wrk`; the script installs them with apt when missing).

use anyhow::{bail, Context as _};
use gatehouse_testkit::{free_port, Node, NodeOptions, TempDir};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Nginx {
    child: Child,
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One nginx with the shared upstream server block and a reverse proxy with `routes` prefix locations.
fn start_nginx(upstream_port: u16, proxy_port: u16, routes: usize) -> anyhow::Result<Nginx> {
    let dir = TempDir::new("nginx")?;
    let mut locations = String::new();
    for i in 0..routes {
        locations += &format!("        location /r{i} {{ proxy_pass http://backend; }}\n");
    }
    let conf = format!(
        r#"worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 512; }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {{
        listen 127.0.0.1:{upstream_port};
        location / {{ return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
{locations}    }}
}}
"#,
        dir = dir.path.display()
    );
    let conf_path = dir.path.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = Command::new("nginx")
        .args(["-c", &conf_path.to_string_lossy(), "-p", &dir.path.to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx (install it with apt-get install nginx)")?;
    Ok(Nginx { child, _dir: dir })
}

async fn wait_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("port {port} never opened")
}

/// Requests/s and p99 in ms from one wrk run.
fn wrk(url: &str, seconds: u32, connections: u32) -> anyhow::Result<(f64, f64)> {
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", url])
        .output()
        .context("running wrk (install it with apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_ms(v.trim()))
        .with_context(|| format!("no 99% latency in wrk output:\n{text}"))?;
    if text.contains("Non-2xx") {
        bail!("wrk saw errors:\n{text}");
    }
    Ok((rps, p99))
}

fn parse_ms(v: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn create_routes(node: &Node, upstream_port: u16, routes: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let admin = node.admin_url();
    let reply = client
        .post(format!("{admin}/services"))
        .json(&json!({"name": "bench", "url": format!("http://127.0.0.1:{upstream_port}")}))
        .send()
        .await?;
    anyhow::ensure!(reply.status() == 201, "service create failed");
    let chunks: Vec<Vec<usize>> =
        (0..routes).collect::<Vec<_>>().chunks(routes.div_ceil(16).max(1)).map(|c| c.to_vec()).collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let (client, admin) = (client.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let body = json!({"paths": [format!("/r{i}")], "service": {"name": "bench"}});
                let reply = client.post(format!("{admin}/routes")).json(&body).send().await?;
                anyhow::ensure!(reply.status() == 201, "route create failed: {}", reply.status());
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let seconds: u32 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let connections: u32 = std::env::var("BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let mut rows = Vec::new();
    let mut memory = Vec::new();
    for routes in [1usize, 10_000] {
        let (upstream_port, nginx_port) = (free_port(), free_port());
        let nginx = start_nginx(upstream_port, nginx_port, routes)?;
        wait_port(nginx_port).await?;
        let options = NodeOptions {
            env: vec![("GATEHOUSE_LOG_LEVEL".into(), "warn".into())],
            args: vec![],
            ..Default::default()
        };
        let node = Node::start(&binary, options).await?;
        let pid = node.pid().context("node pid")?;
        if routes == 1 {
            memory.push(("idle, no routes", rss_mb(pid)));
        }
        create_routes(&node, upstream_port, routes).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let target = format!("/r{}", routes / 2);
        // Warm both up, then measure side by side.
        let _ = wrk(&format!("http://127.0.0.1:{nginx_port}{target}"), 2, connections)?;
        let _ = wrk(&format!("{}{target}", node.proxy_url()), 2, connections)?;
        let nginx_result = wrk(&format!("http://127.0.0.1:{nginx_port}{target}"), seconds, connections)?;
        let ours = wrk(&format!("{}{target}", node.proxy_url()), seconds, connections)?;
        memory.push((if routes == 1 { "1 route, after load" } else { "10,000 routes, after load" }, rss_mb(pid)));
        rows.push((routes, nginx_result, ours));
        drop(node);
        drop(nginx);
    }
    println!("Proxy vs nginx: wrk -t2 -c{connections} -d{seconds}s, same upstream (nginx `return 200 ok`), both with 2 workers");
    println!();
    println!("| routes | nginx req/s | gatehouse req/s | ratio | nginx p99 | gatehouse p99 |");
    println!("|---|---|---|---|---|---|");
    for (routes, (n_rps, n_p99), (g_rps, g_p99)) in &rows {
        println!("| {routes} | {n_rps:.0} | {g_rps:.0} | {:.2}x | {n_p99:.2} ms | {g_p99:.2} ms |", g_rps / n_rps);
    }
    println!();
    println!("| gatehouse node RSS | MB |");
    println!("|---|---|");
    for (what, mb) in memory {
        println!("| {what} | {mb:.1} |");
    }
    Ok(())
}
