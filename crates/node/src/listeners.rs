//! Admin and status listeners (plain or TLS), and the certificates TLS listeners start with.

use crate::config::Listener;
use anyhow::Context as _;
use gatehouse_admin::{AdminState, Counters};
use gatehouse_proxy::tls::{self, CertStore, SwappableResolver};
use gatehouse_proxy::Io;
use rustls::sign::CertifiedKey;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a client may take to finish a TLS handshake on an API listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The certificate an API listener (admin, status) serves.
pub struct TlsSettings {
    resolver: Arc<SwappableResolver>,
}

impl TlsSettings {
    pub fn new(certs: &[String], keys: &[String]) -> anyhow::Result<TlsSettings> {
        let certificate = default_certificate(certs, keys)?;
        Ok(TlsSettings { resolver: Arc::new(SwappableResolver::new(CertStore::empty(Some(certificate)))) })
    }

    fn acceptor(&self, http2: bool) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let config = tls::server_config(self.resolver.clone(), http2).context("TLS configuration")?;
        Ok(tokio_rustls::TlsAcceptor::from(config))
    }
}

/// Binds one Admin API or status listener and serves it until `stop`.
pub async fn serve_api(
    kind: &str,
    listener: &Listener,
    router: axum::Router,
    state: &Arc<AdminState>,
    tls: &TlsSettings,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let address = listener.authority();
    let socket = TcpListener::bind(&address).await.with_context(|| format!("cannot bind {kind} listener {address}"))?;
    let local = socket.local_addr()?;
    let acceptor = if listener.ssl { Some(tls.acceptor(listener.http2)?) } else { None };
    let scheme = if listener.ssl { "https" } else { "http" };
    tracing::info!("{kind} listener started on {scheme}://{local}");
    let counters = state.counters.clone();
    let server = axum::serve(CountingListener { inner: socket, counters, acceptor }, router.into_make_service())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|v| *v).await;
        });
    Ok(tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "listener failed");
        }
    }))
}

/// A TCP listener that counts accepted connections for `/status` and, on `ssl` listeners, completes the
/// TLS handshake before handing the connection to the server.
struct CountingListener {
    inner: TcpListener,
    counters: Arc<Counters>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl axum::serve::Listener for CountingListener {
    type Io = Io;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    self.counters.connections_accepted.fetch_add(1, Ordering::Relaxed);
                    match &self.acceptor {
                        None => return (Io::Plain(io), addr),
                        Some(acceptor) => match tls::accept(acceptor, io, HANDSHAKE_TIMEOUT).await {
                            Ok((stream, _, _)) => return (Io::Tls(Box::new(stream)), addr),
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        },
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
