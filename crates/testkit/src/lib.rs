//! Test harness shared by the crates' integration tests: throwaway PostgreSQL clusters (initdb + pg_ctl on a
//! free port), gateway node processes, and polling with a deadline. Nothing here mocks a Gatehouse
//! component; tests talk to real processes over loopback.

mod dns;
mod echo;
mod node;
mod postgres;

pub use dns::DnsServer;
pub use echo::EchoServer;
pub use node::{race_service_creates, Node, NodeOptions};
pub use postgres::PgCluster;

use std::future::Future;
use std::time::{Duration, Instant};

/// A fresh self-signed certificate for `hosts` and its PKCS#8 key, both PEM.
pub fn self_signed_pem(hosts: &[&str]) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A port that was free a moment ago on 127.0.0.1, and that this process has not handed out before: the
/// probe socket closes at once, so the kernel may offer the same port again before a node binds it (a node
/// once got one port for both its Admin API and its proxy, and failed to start).
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<std::collections::BTreeSet<u16>> = Mutex::new(std::collections::BTreeSet::new());
    let probe = || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok();
    let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..64 {
        match probe() {
            Some(port) if given.insert(port) => return port,
            Some(_) => continue,
            None => return 0,
        }
    }
    probe().unwrap_or(0)
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A scratch directory removed on drop.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
        let path = std::env::temp_dir().join(format!("gatehouse-{label}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Path of a workspace binary (`gatehouse`, `gatehouse-ingress`, `kube-testserver`) for tests of other
/// crates, which cargo does not build it for: the one next to the running test's target directory, built
/// with `cargo build` first when it is missing or older than the sources.
pub fn workspace_binary(package: &str, binary: &str) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> -> target/<profile>/<binary>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).context("test executable location")?;
    let path = profile_dir.join(binary);
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(["build", "--quiet", "-p", package, "--bin", binary]);
    if release {
        command.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        command.env("CARGO_TARGET_DIR", target);
    }
    let status = command.status().context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build -p {package} failed");
    anyhow::ensure!(path.exists(), "{} was not built", path.display());
    Ok(path)
}
