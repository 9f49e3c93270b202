//! `gatehouse start`: opens the store, binds the listeners, serves until SIGTERM/SIGINT, then drains.

use crate::config::{Config, LogLevel};
use crate::{database, listeners};
use anyhow::Context as _;
use gatehouse_admin::{AdminOptions, AdminState, Counters, NodeInfo};
use gatehouse_store::dao::Dao;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Sets up logging at the configured `log_level` (`RUST_LOG` overrides it for debugging).
pub fn init_logging(config: &Config) {
    let level = match config.log_level {
        LogLevel::Debug => "debug",
        LogLevel::Info | LogLevel::Notice => "info",
        LogLevel::Warn => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},sqlx=warn")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).try_init();
}

/// The Admin API's view of this node's load balancers.
struct NodeHealth {
    proxy: Arc<gatehouse_proxy::Proxy>,
}

impl gatehouse_admin::health::HealthApi for NodeHealth {
    fn upstream_health(&self, upstream_id: &str, balancer_health: bool) -> Option<serde_json::Value> {
        let id = uuid::Uuid::parse_str(upstream_id).ok()?;
        let snapshot = self.proxy.current();
        let balancer = snapshot.balancers.by_id.get(&id)?;
        Some(if balancer_health { balancer.balancer_health() } else { balancer.health_report() })
    }

    fn set_target_health(&self, upstream_id: &str, target: &str, address: Option<&str>, healthy: bool) -> bool {
        let Ok(id) = uuid::Uuid::parse_str(upstream_id) else { return false };
        let address = match address.map(str::parse::<std::net::SocketAddr>) {
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => return false,
            None => None,
        };
        let snapshot = self.proxy.current();
        snapshot.balancers.by_id.get(&id).is_some_and(|b| b.set_health(target, address, healthy))
    }
}

/// Proxy settings from the configuration.
fn proxy_options(config: &Config) -> anyhow::Result<gatehouse_proxy::ProxyOptions> {
    let trusted_ips = config
        .trusted_ips
        .iter()
        .filter_map(|entry| {
            let (ip, bits) = entry.split_once('/').unwrap_or((entry, ""));
            let ip: std::net::IpAddr = ip.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            Some((ip, bits.parse().unwrap_or(max)))
        })
        .collect();
    let buffers = &config.large_client_header_buffers;
    let real_ip = gatehouse_proxy::RealIp {
        source: gatehouse_proxy::RealIpSource::parse(&config.real_ip_header).map_err(anyhow::Error::msg)?,
        recursive: config.real_ip_recursive,
    };
    Ok(gatehouse_proxy::ProxyOptions {
        trusted_ips,
        real_ip,
        response_headers: gatehouse_proxy::ResponseHeaders {
            via: config.headers.enabled("via"),
            server: config.headers.enabled("server"),
            upstream_latency: config.headers.enabled("x-kong-upstream-latency"),
            proxy_latency: config.headers.enabled("x-kong-proxy-latency"),
            response_latency: config.headers.enabled("x-kong-response-latency"),
            upstream_status: config.headers.enabled("x-kong-upstream-status"),
        },
        request_id_downstream: config.headers.enabled("x-kong-request-id"),
        request_id_upstream: config.headers_upstream.enabled("x-kong-request-id"),
        version: env!("CARGO_PKG_VERSION").to_string(),
        header_timeout: config.client_header_timeout,
        body_timeout: config.client_body_timeout,
        cpu_affinity: config.worker_cpu_affinity.clone(),
        tls_policy: config.tls_policy.clone(),
        max_header_bytes: usize::try_from(u64::from(buffers.count) * buffers.size).unwrap_or(usize::MAX),
        max_request_line_bytes: usize::try_from(buffers.size).unwrap_or(usize::MAX),
        max_body_bytes: config.client_max_body_size,
        keepalive_pool_size: config.upstream_keepalive_pool_size as usize,
        keepalive_idle_timeout: Duration::from_secs(config.upstream_keepalive_idle_timeout),
        keepalive_max_requests: config.upstream_keepalive_max_requests,
        trusted_certificates: crate::trust::load(&config.lua_ssl_trusted_certificate)?,
        trusted_verify_depth: u8::try_from(config.lua_ssl_verify_depth).unwrap_or(u8::MAX),
        dns: dns_settings(config)?,
        // The configuration only accepts Kong's four values.
        error_default_type: gatehouse_proxy::ErrorType::from_setting(&config.error_default_type)
            .unwrap_or(gatehouse_proxy::ErrorType::Plain),
        error_templates: error_templates(&config.error_templates),
    })
}

/// The `dns_*` settings; `dns_resolver` entries are `ip` or `ip:port` (IPv6 in brackets with a port).
fn dns_settings(config: &Config) -> anyhow::Result<gatehouse_proxy::dns::DnsSettings> {
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let nameservers = config
        .dns_resolver
        .iter()
        .map(|entry| {
            let parsed = entry.parse::<std::net::SocketAddr>().ok().or_else(|| {
                let ip: std::net::IpAddr = entry.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
                Some(std::net::SocketAddr::new(ip, 53))
            });
            parsed.ok_or_else(|| anyhow::anyhow!("dns_resolver: invalid entry '{entry}' (expected ip[:port])"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(gatehouse_proxy::dns::DnsSettings {
        nameservers,
        hosts_file: config.dns_hostsfile.as_deref().map(std::path::PathBuf::from),
        valid_ttl: config.dns_valid_ttl.map(seconds),
        stale_ttl: seconds(config.dns_stale_ttl),
        not_found_ttl: seconds(config.dns_not_found_ttl),
        error_ttl: seconds(config.dns_error_ttl),
        cache_size: config.dns_cache_size as usize,
        // The configuration only accepts the five words.
        order: config.dns_order.iter().filter_map(|word| gatehouse_proxy::dns::RecordKind::parse(word)).collect(),
    })
}

/// Reads the `error_template_*` files once. Like Kong, a file that cannot be read is logged and the
/// built-in template is used instead.
fn error_templates(paths: &crate::config::ErrorTemplatePaths) -> gatehouse_proxy::ErrorTemplates {
    let read = |setting: &str, path: &Option<String>| {
        let path = path.as_deref()?;
        match std::fs::read_to_string(path) {
            Ok(template) => Some(template),
            Err(error) => {
                tracing::error!(setting, path, %error, "failed reading the custom error template; using the default");
                None
            }
        }
    };
    gatehouse_proxy::ErrorTemplates {
        html: read("error_template_html", &paths.html),
        json: read("error_template_json", &paths.json),
        xml: read("error_template_xml", &paths.xml),
        plain: read("error_template_plain", &paths.plain),
    }
}

/// The bundled plugins the `plugins` property enables.
fn enabled_plugins(config: &Config) -> Vec<String> {
    let bundled: Vec<&str> = gatehouse_model::plugins::BUNDLED.iter().map(|p| p.name).collect();
    config.plugins.resolve(&bundled)
}

/// Runs a node in the foreground until a shutdown signal, finishing in-flight requests before returning.
pub async fn start(config: Config, run_migrations: bool) -> anyhow::Result<()> {
    let node_id = config.node_id.unwrap_or_else(uuid::Uuid::new_v4);
    let store = database::open_as(&config, node_id).await?;
    database::ensure_schema(&store, &config, run_migrations).await?;
    let store = database::with_read_replica(store, &config).await?;
    let proxy = gatehouse_proxy::Proxy::new(proxy_options(&config)?)?;
    let default_certificate = listeners::default_certificate(&config.ssl_cert, &config.ssl_cert_key)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let hostname = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let identity = (hostname.clone(), env!("CARGO_PKG_VERSION").to_string());
    let follower = crate::follower::Follower::start(
        store.clone(),
        proxy.clone(),
        Some(default_certificate),
        stop_rx.clone(),
        identity,
        (
            gatehouse_plugins::EntityCache::new(
                Arc::new(crate::plugin_state::StoreSource(store.clone())),
                crate::plugin_state::cache_settings(&config),
            ),
            enabled_plugins(&config),
        ),
    )
    .await?;
    let hook_follower = follower.clone();
    let on_write: gatehouse_admin::WriteHook = Arc::new(move |_path: String| {
        let follower = hook_follower.clone();
        Box::pin(async move { follower.sync().await })
    });
    let state = Arc::new(AdminState {
        // The Admin API reads the primary, so a client reads its own writes even when a replica lags.
        dao: Dao::new(store.primary(), enabled_plugins(&config)),
        info: NodeInfo {
            node_id: node_id.to_string(),
            hostname,
            version: env!("CARGO_PKG_VERSION").to_string(),
            configuration: config.to_sanitized_json(),
        },
        options: AdminOptions {
            max_body_bytes: usize::try_from(config.nginx_admin_client_max_body_size).unwrap_or(usize::MAX),
            latency_header: config.headers.enabled("x-kong-admin-latency"),
            server_header: config.headers.enabled("server"),
            node_timeout: Duration::from_secs_f64((config.db_update_frequency * 3.0).max(30.0)),
            body_timeout: config.client_body_timeout,
        },
        counters: Arc::new(Counters::default()),
        on_write: Some(on_write),
        health: Some(Arc::new(NodeHealth { proxy: proxy.clone() })),
        snapshot_digest: Some({
            let follower = follower.clone();
            Arc::new(move || {
                let follower = follower.clone();
                Box::pin(async move { follower.digest().await })
            })
        }),
    });
    let mut servers = Vec::new();
    let body_limit = axum::extract::DefaultBodyLimit::max(state.options.max_body_bytes);
    let admin = gatehouse_admin::router(state.clone()).layer(body_limit);
    let status = gatehouse_admin::status_router(state.clone());
    let policy = &config.tls_policy;
    let admin_tls = listeners::TlsSettings::new(&config.admin_ssl_cert, &config.admin_ssl_cert_key, policy)?;
    let status_tls = listeners::TlsSettings::new(&config.status_ssl_cert, &config.status_ssl_cert_key, policy)?;
    for (kind, list, router, tls) in
        [("admin", &config.admin_listen, admin, &admin_tls), ("status", &config.status_listen, status, &status_tls)]
    {
        let timeout = config.client_header_timeout;
        for listener in list {
            let server =
                listeners::serve_api(kind, listener, router.clone(), &state, (tls, timeout), stop_rx.clone()).await?;
            servers.push(server);
        }
    }
    for listener in &config.proxy_listen {
        let address = listener.authority();
        let addr = tokio::net::lookup_host(&address)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("cannot resolve proxy listener {address}"))?;
        let cores = || std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = config.worker_processes.unwrap_or_else(cores);
        let tls = match listener.ssl {
            true => Some(proxy.tls_acceptor(listener.http2).context("TLS configuration for the proxy")?),
            false => None,
        };
        let threads = proxy
            .serve_workers(addr, workers, (tls, listener.proxy_protocol), stop_rx.clone())
            .with_context(|| format!("cannot bind proxy listener {address}"))?;
        let scheme = if listener.ssl { "https" } else { "http" };
        tracing::info!("proxy listener started on {scheme}://{addr} ({workers} workers)");
        servers.push(tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        }));
    }
    let poll_every = Duration::from_secs_f64(config.db_update_frequency.max(0.01));
    servers.push(tokio::spawn(follower.clone().run(poll_every, stop_rx.clone())));
    tracing::info!(%node_id, "gatehouse node started");
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `gatehouse health`: asks the node's status listener whether it is ready.
pub async fn health(config: &Config) -> anyhow::Result<ExitCode> {
    let Some(listener) = config.status_listen.iter().chain(config.admin_listen.iter()).find(|l| !l.ssl) else {
        anyhow::bail!("no plain-HTTP status or admin listener configured to ask");
    };
    let address = listener.authority().replace("0.0.0.0", "127.0.0.1");
    let path = if config.status_listen.iter().any(|l| l.text == listener.text) { "/status/ready" } else { "/status" };
    let result = async {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), result).await {
        Ok(Ok(response)) if response.starts_with("HTTP/1.1 200") => {
            println!("gatehouse......running");
            println!();
            println!("Gatehouse is healthy at {address}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(response)) => {
            let status = response.lines().next().unwrap_or_default().to_string();
            eprintln!("Gatehouse at {address} is not ready: {status}");
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprintln!("Gatehouse is not running at {address}");
            Ok(ExitCode::FAILURE)
        }
    }
}
