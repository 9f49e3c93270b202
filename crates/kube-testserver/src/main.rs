//! `kube-testserver --listen 127.0.0.1:0 --kubeconfig-out FILE`: serves a small Kubernetes API.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kube_testserver::ServerOptions;

#[derive(Parser, Debug)]
#[command(name = "kube-testserver", about = "A small Kubernetes API server for tests and local development")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", env = "KUBE_TESTSERVER_LISTEN")]
    listen: String,
    /// Write a kubeconfig for the server (with the real port) to this file before serving.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Change events kept for watches resuming from a resourceVersion; older ones get 410 Gone.
    #[arg(long, default_value_t = 1000)]
    history_limit: usize,
    /// Milliseconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 5000)]
    bookmark_interval_ms: u64,
    /// Seconds a watch without timeoutSeconds lasts.
    #[arg(long, default_value_t = 1800)]
    watch_timeout_secs: u64,
    /// Do not create the default, kube-system, kube-public and kube-node-lease namespaces.
    #[arg(long)]
    no_default_namespaces: bool,
    /// Milliseconds a deleted namespace stays Terminating before it and its objects are removed.
    #[arg(long, default_value_t = 250)]
    namespace_deletion_delay_ms: u64,
    /// YAML/JSON manifests (multi-document) whose objects are created at startup, in order.
    #[arg(long = "load", value_name = "FILE")]
    load: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use anyhow::Context as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let options = ServerOptions {
        history_limit: args.history_limit.max(1),
        bookmark_interval: Duration::from_millis(args.bookmark_interval_ms.max(10)),
        default_watch_timeout: Duration::from_secs(args.watch_timeout_secs),
        default_namespaces: !args.no_default_namespaces,
        namespace_deletion_delay: Duration::from_millis(args.namespace_deletion_delay_ms),
    };
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let (handle, serving) = kube_testserver::server(listener, options)?;
    for path in &args.load {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let n = handle.apply_manifest(&text).with_context(|| format!("loading {}", path.display()))?;
        tracing::info!("loaded {n} objects from {}", path.display());
    }
    if let Some(path) = &args.kubeconfig_out {
        handle.write_kubeconfig(path).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", handle.url());
    std::io::stdout().flush()?;
    tokio::select! {
        res = serving => res.context("serving")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
