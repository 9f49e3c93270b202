//! Gateway node processes for multi-node and CLI tests: each gets free ports and its own prefix, logs to a
//! file the test can read, and is killed when dropped.

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a node logs (at info level) once every listener is bound.
const STARTED: &str = "gatehouse node started";

/// How to start a node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Extra environment (`GATEHOUSE_*`), e.g. from `PgCluster::node_env`.
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments after `start` (e.g. `--run-migrations`).
    pub args: Vec<String>,
    /// Also listen with TLS: the proxy on `tls_proxy_port` (`http2 ssl`), the Admin API on `tls_admin_port`.
    pub tls: bool,
    /// The Admin API port, to bring a stopped node back where clients expect it (a free port otherwise).
    pub admin_port: Option<u16>,
}

/// A running `gatehouse start` process.
pub struct Node {
    child: Option<Child>,
    pub admin_port: u16,
    pub status_port: u16,
    pub proxy_port: u16,
    /// TLS ports when `NodeOptions::tls` was set (0 otherwise).
    pub tls_proxy_port: u16,
    pub tls_admin_port: u16,
    pub prefix: crate::TempDir,
    log: PathBuf,
    /// Whether the node logs at info level or finer, and so announces when every listener is bound.
    announces_start: bool,
}

impl Node {
    /// Spawns `binary start` without waiting for it to be ready.
    pub fn spawn(binary: &Path, options: NodeOptions) -> anyhow::Result<Node> {
        let prefix = crate::TempDir::new("node")?;
        let admin_port = options.admin_port.unwrap_or_else(crate::free_port);
        let status_port = crate::free_port();
        let proxy_port = crate::free_port();
        let (tls_proxy_port, tls_admin_port) =
            if options.tls { (crate::free_port(), crate::free_port()) } else { (0, 0) };
        let (mut proxy_listen, mut admin_listen) =
            (format!("127.0.0.1:{proxy_port}"), format!("127.0.0.1:{admin_port}"));
        if options.tls {
            proxy_listen += &format!(", 127.0.0.1:{tls_proxy_port} http2 ssl");
            admin_listen += &format!(", 127.0.0.1:{tls_admin_port} ssl");
        }
        let log = prefix.path.join("node.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .arg("start")
            .args(&options.args)
            .env("GATEHOUSE_PREFIX", &prefix.path)
            .env("GATEHOUSE_ADMIN_LISTEN", admin_listen)
            .env("GATEHOUSE_STATUS_LISTEN", format!("127.0.0.1:{status_port}"))
            .env("GATEHOUSE_PROXY_LISTEN", proxy_listen)
            .env("GATEHOUSE_LOG_LEVEL", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for (k, v) in &options.env {
            command.env(k, v);
        }
        // RUST_LOG replaces the node's level filter, so what it logs is then unknown.
        let quiet = ["warn", "error", "crit", "alert", "emerg"];
        let announces_start = std::env::var_os("RUST_LOG").is_none()
            && !options.env.iter().any(|(k, v)| {
                k == "RUST_LOG" || (k == "GATEHOUSE_LOG_LEVEL" && quiet.contains(&v.to_ascii_lowercase().as_str()))
            });
        let child = command.spawn().with_context(|| format!("spawning {}", binary.display()))?;
        Ok(Node {
            child: Some(child),
            admin_port,
            status_port,
            proxy_port,
            tls_proxy_port,
            tls_admin_port,
            prefix,
            log,
            announces_start,
        })
    }

    /// Spawns a node and waits until its Admin API answers. A port `free_port` chose can be taken by another
    /// process before the node binds it; the node then exits at once, and is started again on fresh ports.
    pub async fn start(binary: &Path, options: NodeOptions) -> anyhow::Result<Node> {
        let mut attempts = if options.admin_port.is_some() { 1 } else { 3 };
        loop {
            attempts -= 1;
            let mut node = Node::spawn(binary, options.clone())?;
            match node.wait_ready(Duration::from_secs(30)).await {
                Ok(()) => return Ok(node),
                Err(_) if attempts > 0 && node.exited() && node.log().contains("Address already in use") => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the process has exited.
    fn exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// The Admin API base URL.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The process id, for measurements such as RSS.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends one Admin API request with a JSON body; returns the status and the JSON reply (null if none).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let reply =
            reqwest::Client::new().request(method, format!("{}{path}", self.admin_url())).json(&body).send().await;
        match reply {
            Ok(reply) => {
                let status = reply.status().as_u16();
                (status, reply.json().await.unwrap_or(serde_json::Value::Null))
            }
            Err(e) => (0, serde_json::Value::String(e.to_string())),
        }
    }

    /// GETs `path` through the proxy; returns the status and the JSON reply (null if none, 0 if unreachable).
    pub async fn proxy_get(&self, path: &str) -> (u16, serde_json::Value) {
        match reqwest::get(format!("{}{path}", self.proxy_url())).await {
            Ok(reply) => {
                let status = reply.status().as_u16();
                (status, reply.json().await.unwrap_or(serde_json::Value::Null))
            }
            Err(e) => (0, serde_json::Value::String(e.to_string())),
        }
    }

    /// POSTs an entity and returns it; panics (failing the test) unless the answer is 201.
    pub async fn create(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, created) = self.admin(reqwest::Method::POST, path, body).await;
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    /// The proxy base URL.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the Admin API accepts connections, failing early if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        // Every listener, not just the Admin API: the proxy workers bind on their own threads.
        let ports: Vec<u16> = [self.admin_port, self.proxy_port, self.tls_proxy_port, self.tls_admin_port]
            .into_iter()
            .filter(|port| *port != 0)
            .collect();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!("node exited with {status} before it was ready; log:\n{}", self.log());
                }
            }
            let mut listening = true;
            for port in &ports {
                listening &= tokio::net::TcpStream::connect(("127.0.0.1", *port)).await.is_ok();
            }
            // A port another process holds also accepts connections, so a node that is about to exit because it
            // could not bind its last listener can look ready; it announces itself only once every one is bound.
            if listening && (!self.announces_start || self.log().contains(STARTED)) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!("node not ready after {timeout:?}; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit on its own and returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Ok(status.code());
                }
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!("node still running after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) -> anyhow::Result<()> {
        if let Some(child) = &self.child {
            let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
            anyhow::ensure!(status.success(), "kill -TERM failed");
        }
        Ok(())
    }
}

/// Sends the same service create to two nodes at once, `rounds` times with fresh names, and asserts that
/// each round yields exactly one 201 and one 409: the database, not the nodes, decides uniqueness.
pub async fn race_service_creates(a: &Node, b: &Node, rounds: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for round in 0..rounds {
        let body = format!(r#"{{"name":"race-{round}","host":"example.test"}}"#);
        let send = |node: &Node| {
            client
                .post(format!("{}/services", node.admin_url()))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        };
        let (ra, rb) = tokio::join!(send(a), send(b));
        let mut statuses = [ra?.status().as_u16(), rb?.status().as_u16()];
        statuses.sort_unstable();
        anyhow::ensure!(statuses == [201, 409], "round {round}: statuses {statuses:?}");
    }
    Ok(())
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
