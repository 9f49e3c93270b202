//! Throwaway PostgreSQL clusters. Tests never use the machine's own server: they start a cluster of their
//! own (so fault tests can stop it), or use `GATEHOUSE_TEST_PG_URL` when it is set.

use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A running PostgreSQL cluster owned by the test process (or an external one from the environment).
pub struct PgCluster {
    /// Whether the server flushes to disk (off for tests, on for benchmarks).
    durable: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    data_dir: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Finds the PostgreSQL server binaries: `pg_config --bindir`, then Debian's versioned directories.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .context("PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package")
}

/// Runs a PostgreSQL tool, as the unprivileged `postgres` user when we are root (initdb refuses root).
fn run_tool(bin: &Path, args: &[&str]) -> anyhow::Result<std::process::Output> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let output =
        command.args(args).stdin(Stdio::null()).output().with_context(|| format!("running {}", bin.display()))?;
    if !output.status.success() {
        bail!(
            "{} {:?} failed: {}{}",
            bin.display(),
            args,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

impl PgCluster {
    /// Starts a new cluster on a free port with its own data directory. Durability is off (no fsync):
    /// test data is thrown away anyway.
    pub fn start() -> anyhow::Result<PgCluster> {
        Self::start_with(false)
    }

    /// Starts a cluster with PostgreSQL's default durability (fsync, synchronous commit), for benchmarks.
    pub fn start_durable() -> anyhow::Result<PgCluster> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> anyhow::Result<PgCluster> {
        let bin_dir = find_bin_dir()?;
        let root = crate::TempDir::new("pg")?;
        let dir = root.path.clone();
        std::mem::forget(root);
        let data = dir.join("data");
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status()?;
            if !status.success() {
                bail!("cannot chown {} to postgres", dir.display());
            }
        }
        let data_str = data.to_string_lossy().to_string();
        run_tool(
            &bin_dir.join("initdb"),
            &["-D", &data_str, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
        )?;
        let port = crate::free_port();
        let cluster = PgCluster {
            durable,
            host: "127.0.0.1".into(),
            port,
            user: "postgres".into(),
            data_dir: Some(data),
            bin_dir: Some(bin_dir),
        };
        cluster.start_server()?;
        cluster.watch_parent();
        Ok(cluster)
    }

    /// The cluster every test in this process shares (one per test binary); databases keep tests apart.
    pub fn shared() -> anyhow::Result<&'static PgCluster> {
        static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
        let result = SHARED.get_or_init(|| match std::env::var("GATEHOUSE_TEST_PG_URL") {
            Ok(url) => PgCluster::external(&url).map_err(|e| format!("{e:#}")),
            Err(_) => PgCluster::start().map_err(|e| format!("{e:#}")),
        });
        result.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn external(url: &str) -> anyhow::Result<PgCluster> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .context("GATEHOUSE_TEST_PG_URL must be postgres://user@host:port")?;
        let (user, hostport) = rest.split_once('@').context("GATEHOUSE_TEST_PG_URL needs user@host")?;
        let hostport = hostport.split('/').next().unwrap_or(hostport);
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
        Ok(PgCluster {
            durable: true,
            host: host.into(),
            port: port.parse().context("bad port in GATEHOUSE_TEST_PG_URL")?,
            user: user.split(':').next().unwrap_or(user).into(),
            data_dir: None,
            bin_dir: None,
        })
    }

    fn start_server(&self) -> anyhow::Result<()> {
        let (Some(bin), Some(data)) = (&self.bin_dir, &self.data_dir) else { return Ok(()) };
        let data_str = data.to_string_lossy().to_string();
        let log = data.with_file_name("postgres.log").to_string_lossy().to_string();
        // Benchmarks (durable clusters) count statements with pg_stat_statements.
        let fast = if self.durable {
            " -c shared_preload_libraries=pg_stat_statements"
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200{fast}",
            self.port,
            data.parent().map(|p| p.to_string_lossy().to_string()).unwrap_or_default()
        );
        run_tool(&bin.join("pg_ctl"), &["-D", &data_str, "-l", &log, "-o", &options, "-w", "-t", "60", "start"])?;
        Ok(())
    }

    /// Starts a streaming read replica of this cluster (pg_basebackup, hot standby) on a free port. The
    /// primary needs full-page writes, so start it with `start_durable`.
    pub fn start_replica(&self) -> anyhow::Result<PgCluster> {
        let bin_dir = self.bin_dir.clone().context("cannot replicate an external cluster")?;
        let root = crate::TempDir::new("pg-replica")?;
        let dir = root.path.clone();
        std::mem::forget(root);
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status()?;
            anyhow::ensure!(status.success(), "cannot chown {} to postgres", dir.display());
        }
        let data = dir.join("data");
        let port = self.port.to_string();
        run_tool(
            &bin_dir.join("pg_basebackup"),
            &[
                "-h",
                &self.host,
                "-p",
                &port,
                "-U",
                &self.user,
                "-D",
                &data.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        let replica = PgCluster {
            durable: self.durable,
            host: "127.0.0.1".into(),
            port: crate::free_port(),
            user: self.user.clone(),
            data_dir: Some(data),
            bin_dir: Some(bin_dir),
        };
        replica.start_server()?;
        replica.watch_parent();
        Ok(replica)
    }

    /// Environment pointing a node's reads at this cluster as its read replica (`pg_ro_*`).
    pub fn replica_env(&self, database: &str) -> Vec<(String, String)> {
        vec![
            ("GATEHOUSE_PG_RO_HOST".into(), self.host.clone()),
            ("GATEHOUSE_PG_RO_PORT".into(), self.port.to_string()),
            ("GATEHOUSE_PG_RO_USER".into(), self.user.clone()),
            ("GATEHOUSE_PG_RO_DATABASE".into(), database.to_string()),
        ]
    }

    /// Stops the server (fast shutdown), for fault tests. `resume` starts it again on the same port.
    pub fn stop(&self) -> anyhow::Result<()> {
        let (Some(bin), Some(data)) = (&self.bin_dir, &self.data_dir) else { bail!("cannot stop an external cluster") };
        run_tool(&bin.join("pg_ctl"), &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"])?;
        Ok(())
    }

    /// Starts a stopped cluster again.
    pub fn resume(&self) -> anyhow::Result<()> {
        self.start_server()
    }

    /// Stops the cluster and deletes its files when the test process exits, even if it is killed, so no
    /// server outlives the tests.
    fn watch_parent(&self) {
        let (Some(bin), Some(data)) = (&self.bin_dir, &self.data_dir) else { return };
        let Some(dir) = data.parent() else { return };
        let pg_ctl = bin.join("pg_ctl");
        let as_user = if is_root() { "runuser -u postgres -- " } else { "" };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {as_user}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = data.display(),
            dir = dir.display(),
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// Creates a fresh database and returns its name.
    pub fn create_database(&self, prefix: &str) -> anyhow::Result<String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let psql = self
            .bin_dir
            .as_ref()
            .map(|b| b.join("psql"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("psql"));
        let output = Command::new(psql)
            .args([
                "-h",
                &self.host,
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!("CREATE DATABASE failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(name)
    }

    /// `GATEHOUSE_*` settings that point a node at `database`.
    pub fn node_env(&self, database: &str) -> Vec<(String, String)> {
        vec![
            ("GATEHOUSE_DATABASE".into(), "postgres".into()),
            ("GATEHOUSE_PG_HOST".into(), self.host.clone()),
            ("GATEHOUSE_PG_PORT".into(), self.port.to_string()),
            ("GATEHOUSE_PG_USER".into(), self.user.clone()),
            ("GATEHOUSE_PG_DATABASE".into(), database.to_string()),
        ]
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let (Some(bin), Some(data)) = (&self.bin_dir, &self.data_dir) {
            let _ = run_tool(&bin.join("pg_ctl"), &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"]);
            if let Some(dir) = data.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
