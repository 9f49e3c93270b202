//! Admin and status listeners (plain or TLS), and the certificates TLS listeners start with.

use crate::config::Listener;
use anyhow::Context as _;
use gatehouse_admin::AdminState;
use gatehouse_proxy::tls::{self, CertStore, SwappableResolver};
use gatehouse_proxy::Io;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::sign::CertifiedKey;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a client may take to finish a TLS handshake on an API listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open API connections may finish their requests after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Reads a kong.conf certificate or key value: inline PEM, or the path of a PEM file.
fn read_pem(value: &str) -> anyhow::Result<String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).with_context(|| format!("cannot read {value}"))
}

/// The certificate served when no SNI matches: the first configured `*ssl_cert`/`*ssl_cert_key` pair, or a
/// generated self-signed one, as Kong does.
pub fn default_certificate(certs: &[String], keys: &[String]) -> anyhow::Result<Arc<CertifiedKey>> {
    let cert = certs.first().map(|c| read_pem(c)).transpose()?;
    let key = keys.first().map(|k| read_pem(k)).transpose()?;
    tls::default_certificate(cert.as_deref(), key.as_deref()).context("default TLS certificate")
}

/// The certificate an API listener (admin, status) serves, and the protocols and ciphers it allows (nginx's
/// `ssl_protocols` and `ssl_ciphers` are http-wide in Kong's template, so they hold for every listener).
pub struct TlsSettings {
    resolver: Arc<SwappableResolver>,
    policy: tls::TlsPolicy,
}

impl TlsSettings {
    pub fn new(certs: &[String], keys: &[String], policy: &tls::TlsPolicy) -> anyhow::Result<TlsSettings> {
        let certificate = default_certificate(certs, keys)?;
        let resolver = Arc::new(SwappableResolver::new(CertStore::empty(Some(certificate))));
        Ok(TlsSettings { resolver, policy: policy.clone() })
    }

    fn acceptor(&self, http2: bool) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let config = tls::server_config(self.resolver.clone(), http2, &self.policy).context("TLS configuration")?;
        Ok(tokio_rustls::TlsAcceptor::from(config))
    }
}

/// Binds one Admin API or status listener and serves it until `stop`.
///
/// Served with hyper's connection builder rather than `axum::serve`, for what Kong's admin listener gets
/// from nginx: `client_header_timeout` on request heads, capitalised header names on HTTP/1.1
/// (`Content-Type`, `X-Kong-Admin-Latency`), and TLS handshakes on each connection's own task, so a slow
/// handshake never holds up the accept loop.
pub async fn serve_api(
    kind: &str,
    listener: &Listener,
    router: axum::Router,
    state: &Arc<AdminState>,
    (tls, header_timeout): (&TlsSettings, Duration),
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let address = listener.authority();
    let socket = TcpListener::bind(&address).await.with_context(|| format!("cannot bind {kind} listener {address}"))?;
    let local = socket.local_addr()?;
    let acceptor = if listener.ssl { Some(tls.acceptor(listener.http2)?) } else { None };
    let scheme = if listener.ssl { "https" } else { "http" };
    tracing::info!("{kind} listener started on {scheme}://{local}");
    let counters = state.counters.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).title_case_headers(true).header_read_timeout(header_timeout);
    let kind = kind.to_string();
    Ok(tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                (stream, _) = gatehouse_proxy::accept(&socket, &kind) => {
                    counters.connections_accepted.fetch_add(1, Ordering::Relaxed);
                    let connection = (builder.clone(), router.clone(), acceptor.clone(), graceful.watcher());
                    tokio::spawn(serve_connection(stream, connection));
                }
                _ = async { let _ = stop.wait_for(|v| *v).await; } => break,
            }
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("closing API connections still open after {SHUTDOWN_GRACE:?}");
        }
    }))
}

/// What serving one API connection takes.
type ApiConnection = (auto::Builder<TokioExecutor>, axum::Router, Option<tokio_rustls::TlsAcceptor>, Watcher);

/// Serves one accepted API connection, after its TLS handshake on `ssl` listeners.
async fn serve_connection(stream: tokio::net::TcpStream, (builder, router, acceptor, watcher): ApiConnection) {
    let io = match acceptor {
        None => Io::Plain(stream),
        Some(acceptor) => match tls::accept(&acceptor, stream, HANDSHAKE_TIMEOUT).await {
            Ok((stream, _, _)) => Io::Tls(Box::new(stream)),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
        },
    };
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        tower_service::Service::call(&mut router.clone(), request)
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(error = %e, "API connection ended with an error");
    }
}
