//! What the benchmark binaries share: an nginx (upstream and reference proxy), wrk runs, and process
//! memory readings.

use anyhow::{bail, Context as _};
use gatehouse_testkit::TempDir;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An nginx process, stopped on drop.
pub struct Nginx {
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
pub fn start_nginx(upstream_port: u16, proxy_port: u16, routes: usize) -> anyhow::Result<Nginx> {
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

/// Waits until something listens on `port`.
pub async fn wait_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("port {port} never opened")
}

/// Requests/s and p99 in ms from one wrk run.
pub fn wrk(url: &str, seconds: u32, connections: u32) -> anyhow::Result<(f64, f64)> {
    run_wrk(&[], url, seconds, connections)
}

fn run_wrk(extra: &[&str], url: &str, seconds: u32, connections: u32) -> anyhow::Result<(f64, f64)> {
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"])
        .args(extra)
        .arg(url)
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

/// Resident memory of a process in MB.
pub fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Like `wrk`, with a Lua script that builds each request (to spread load over routes and credentials).
pub fn wrk_script(url: &str, script: &str, seconds: u32, connections: u32) -> anyhow::Result<(f64, f64)> {
    let dir = TempDir::new("wrk")?;
    let path = dir.path.join("requests.lua");
    std::fs::write(&path, script)?;
    run_wrk(&["-s", &path.to_string_lossy()], url, seconds, connections)
}
