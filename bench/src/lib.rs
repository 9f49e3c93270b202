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
    /// SIGTERM first: the master stops its workers on the way out, which SIGKILL would leave running.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// The master process and its workers, for CPU readings.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // Fields after the command name: state, then the parent's pid.
            let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent.and_then(|p| p.parse::<u32>().ok()) == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }
}

/// One nginx with the shared upstream server block and a reverse proxy with `routes` prefix locations.
pub fn start_nginx(upstream_port: u16, proxy_port: u16, routes: usize) -> anyhow::Result<Nginx> {
    launch(Some(upstream_port), upstream_port, proxy_port, routes, "")
}

/// An nginx that is only the reverse proxy (to an upstream served elsewhere), so its CPU time is the
/// proxy's alone.
pub fn start_nginx_proxy(upstream_port: u16, proxy_port: u16, routes: usize) -> anyhow::Result<Nginx> {
    launch(None, upstream_port, proxy_port, routes, "")
}

/// The headers Kong's nginx template sets on the way up (`nginx_kong.lua`: `X-Forwarded-*`, `X-Real-IP`,
/// `X-Kong-Request-Id`) and those Kong adds on the way down (latencies, `Via`, the request id): the
/// header work every Kong-compatible proxy does, which a plain nginx proxy skips. (`proxy_set_header` in
/// a server block replaces the http block's list, so `Connection ""` for upstream keep-alive is repeated.)
const KONG_HEADERS: &str = r#"
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Forwarded-Port $server_port;
    proxy_set_header X-Forwarded-Path $uri;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Kong-Request-Id $request_id;
    proxy_set_header Via "1.1 kong/3.9.0";
    add_header X-Kong-Upstream-Latency 0;
    add_header X-Kong-Proxy-Latency 0;
    add_header Via "1.1 kong/3.9.0";
    add_header X-Kong-Request-Id $request_id;
"#;

/// [`start_nginx_proxy`] setting Kong's proxy headers ([`KONG_HEADERS`]): nginx doing the header work
/// Gatehouse does.
pub fn start_nginx_proxy_with_kong_headers(
    upstream_port: u16,
    proxy_port: u16,
    routes: usize,
) -> anyhow::Result<Nginx> {
    launch(None, upstream_port, proxy_port, routes, KONG_HEADERS)
}

fn launch(
    serve_upstream: Option<u16>,
    upstream_port: u16,
    proxy_port: u16,
    routes: usize,
    proxy_directives: &str,
) -> anyhow::Result<Nginx> {
    let dir = TempDir::new("nginx")?;
    let mut locations = String::new();
    for i in 0..routes {
        locations += &format!("        location /r{i} {{ proxy_pass http://backend; }}\n");
    }
    let upstream_server = match serve_upstream {
        Some(port) => {
            format!("server {{\n        listen 127.0.0.1:{port};\n        location / {{ return 200 \"ok\"; }}\n    }}")
        }
        None => String::new(),
    };
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
    {upstream_server}
    server {{
        listen 127.0.0.1:{proxy_port};{proxy_directives}
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
    run_wrk(&[], url, seconds, connections).map(|run| (run.rps, run.p99_ms))
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub rps: f64,
    pub p99_ms: f64,
    /// Requests completed in the run.
    pub requests: f64,
}

/// Like `wrk`, with the number of requests completed.
pub fn wrk_counted(url: &str, seconds: u32, connections: u32) -> anyhow::Result<WrkRun> {
    run_wrk(&[], url, seconds, connections)
}

fn run_wrk(extra: &[&str], url: &str, seconds: u32, connections: u32) -> anyhow::Result<WrkRun> {
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
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in").map(|(n, _)| n.trim().to_string()))
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("no request count in wrk output:\n{text}"))?;
    Ok(WrkRun { rps, p99_ms: p99, requests })
}

/// CPU time (user, kernel) in seconds that the processes `pids` (all their threads) have used so far.
pub fn cpu_seconds(pids: &[u32]) -> (f64, f64) {
    let ticks = clock_ticks();
    let (mut user, mut kernel) = (0u64, 0u64);
    for pid in pids {
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // utime and stime are fields 14 and 15; after the command name they are the 12th and 13th.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            user += field(11);
            kernel += field(12);
        }
    }
    (user as f64 / ticks, kernel as f64 / ticks)
}

/// CPU time (user, kernel) in seconds of this process's children that have ended and been waited for
/// (wrk runs, for instance).
pub fn children_cpu_seconds() -> (f64, f64) {
    let ticks = clock_ticks();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // cutime and cstime are fields 16 and 17; after the command name they are the 14th and 15th.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(13) as f64 / ticks, field(14) as f64 / ticks)
}

/// The kernel's clock ticks per second for `/proc` times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
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
    run_wrk(&["-s", &path.to_string_lossy()], url, seconds, connections).map(|run| (run.rps, run.p99_ms))
}
