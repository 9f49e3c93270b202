//! The data plane: HTTP/1.1 and h2c listeners that route each request with the snapshot's router and
//! stream it to the service's upstream, setting headers and producing errors as Kong does.
//!
//! The proxy reads configuration only from an `Arc<Snapshot>` behind an `ArcSwap`: a request loads the
//! current snapshot once (no lock) and uses it to the end, while a new snapshot can be published at any time.

pub mod balancer;
mod client_io;
mod dispatch;
pub mod dns;
mod error_page;
mod errors;
mod forward;
mod h1_codec;
mod h1_pool;
mod h1_response;
mod h1_server;
mod header_case;
mod headers;
mod kong_headers;
mod lazy_timer;
mod phases;
mod proxy_protocol;
mod raw_fields;
mod read_ahead;
mod real_ip;
mod reply;
mod request_body;
pub mod snapshot;
pub mod tls;
pub mod upstream;
mod workers;
mod write_timeout;

pub use error_page::{ErrorTemplates, ErrorType};
pub use kong_headers::ResponseHeaders;
pub use real_ip::{RealIp, RealIpSource};
pub use snapshot::{Balancers, ServiceSpec, Services, Snapshot};
pub use workers::CpuAffinity;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The hasher of maps looked up on every request. Their keys come from configuration (ids, upstream
/// names and addresses), never from clients, so a fast hash is safe where SipHash cost ~2% of a request's
/// instructions.
pub type FastHash = foldhash::fast::RandomState;

/// How long open client connections may keep streaming after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A client connection, plain or TLS (also used by the node's Admin API listeners).
pub enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The next connection on `listener`, with Nagle's algorithm off. Accept errors (out of file
/// descriptors, say) are logged and retried after a pause rather than ending the listener.
pub async fn accept(listener: &TcpListener, kind: &str) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                return (stream, remote);
            }
            Err(e) => {
                tracing::warn!(error = %e, "{kind} accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Who is at the other end of a client connection, and the proxy serving its requests.
struct Client {
    proxy: Arc<Proxy>,
    remote: SocketAddr,
    /// The source address of the connection's PROXY protocol header.
    proxied_from: Option<IpAddr>,
    local_port: u16,
    scheme: &'static str,
    sni: Option<Arc<str>>,
}

impl Client {
    /// Serves the connection with hyper (HTTP/1.1 with upgrades, or h2) until it ends; the watcher lets a
    /// graceful shutdown finish its requests.
    async fn serve_with_hyper<I>(
        self,
        io: I,
        builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
        watcher: hyper_util::server::graceful::Watcher,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Client { proxy, remote, proxied_from, local_port, scheme, sni } = self;
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (proxy, sni) = (proxy.clone(), sni.clone());
            async move {
                let request = request.map(request_body::RequestBody::Streaming);
                Ok::<_, std::convert::Infallible>(
                    forward::handle(&proxy, request, (remote, proxied_from), local_port, scheme, sni.as_deref())
                        .await
                        .into_response(),
                )
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(connection.into_owned()).await {
            tracing::debug!(error = %e, "client connection ended with an error");
        }
    }
}

/// Proxy behaviour taken from the node configuration.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// `trusted_ips` as (network, prefix length): only these peers may set `X-Forwarded-*` and name the
    /// client's address (`real_ip`).
    pub trusted_ips: Vec<(IpAddr, u8)>,
    /// Where a trusted peer's client address is read (`real_ip_header`, `real_ip_recursive`).
    pub real_ip: RealIp,
    /// Which of Kong's own response headers are sent (`headers`).
    pub response_headers: ResponseHeaders,
    /// Send `X-Kong-Request-Id` to the client.
    pub request_id_downstream: bool,
    /// Send `X-Kong-Request-Id` to the upstream (`headers_upstream`).
    pub request_id_upstream: bool,
    /// Version string for `Via`/`Server`.
    pub version: String,
    /// Time allowed to receive a request's headers (slow clients are cut off).
    pub header_timeout: Duration,
    /// Longest pause allowed while a client sends a request body (`client_body_timeout`): 408 after it.
    pub body_timeout: Duration,
    /// Largest request head accepted (request line plus headers), like nginx's `large_client_header_buffers`.
    pub max_header_bytes: usize,
    /// Longest request line accepted: one of `large_client_header_buffers`' buffers, as in nginx; longer
    /// gets 414.
    pub max_request_line_bytes: usize,
    /// Largest request body accepted (`client_max_body_size`; 0 = no limit); larger bodies get 413.
    pub max_body_bytes: u64,
    /// Idle upstream connections kept per host.
    pub keepalive_pool_size: usize,
    /// How long an idle upstream connection is kept.
    pub keepalive_idle_timeout: Duration,
    /// Requests sent on one upstream connection before it is closed (`upstream_keepalive_max_requests`;
    /// 0 = no limit).
    pub keepalive_max_requests: u64,
    /// CA certificates the node's own TLS clients trust (`lua_ssl_trusted_certificate`): active `https`
    /// health checks verify targets against them.
    pub trusted_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// `lua_ssl_verify_depth`: intermediates allowed in chains verified against `trusted_certificates`.
    pub trusted_verify_depth: u8,
    /// How upstream host names are resolved (`dns_*`).
    pub dns: dns::DnsSettings,
    /// `error_default_type`: the format of error pages for requests without `Accept` or `Content-Type`.
    pub error_default_type: ErrorType,
    /// `error_template_*`: custom error bodies; unset ones use Kong's templates.
    pub error_templates: ErrorTemplates,
    /// Which CPUs the proxy workers run on (`worker_cpu_affinity`).
    pub cpu_affinity: CpuAffinity,
    /// Protocols and ciphers of TLS listeners (`ssl_cipher_suite` and friends).
    pub tls_policy: tls::TlsPolicy,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            trusted_ips: Vec::new(),
            real_ip: RealIp::default(),
            response_headers: ResponseHeaders::default(),
            request_id_downstream: true,
            request_id_upstream: true,
            version: "0.1.0".into(),
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            max_header_bytes: 4 * 8192 + 8192,
            max_request_line_bytes: 8192,
            max_body_bytes: 0,
            keepalive_pool_size: 512,
            keepalive_idle_timeout: Duration::from_secs(60),
            keepalive_max_requests: 10_000,
            trusted_certificates: Vec::new(),
            trusted_verify_depth: 1,
            dns: dns::DnsSettings::default(),
            error_default_type: ErrorType::Plain,
            error_templates: ErrorTemplates::default(),
            cpu_affinity: CpuAffinity::default(),
            tls_policy: tls::TlsPolicy::default(),
        }
    }
}

/// One proxy instance, shared by all listeners of a node.
pub struct Proxy {
    /// Shared by the per-core workers of one listener set.
    snapshot: Arc<ArcSwap<Snapshot>>,
    options: ProxyOptions,
    /// Keep-alive pools to upstreams, one pair per connect timeout in use.
    pools: upstream::ClientPools,
    /// Client TLS settings for upstreams, shared by every worker's pools.
    upstream_tls: Arc<rustls::ClientConfig>,
    /// TLS settings of active `https` health checks.
    probe_tls: balancer::ProbeTls,
    /// Resolves upstream host names for this worker's requests.
    dns: Arc<dns::Dns>,
    /// Server certificates by SNI, shared by all workers and swapped when certificates change.
    certificates: Arc<tls::SwappableResolver>,
    /// Kong's response headers, with their values rendered once.
    kong_headers: kong_headers::KongHeaders,
}

/// Why a proxy cannot be built from its options.
#[derive(Debug, thiserror::Error)]
pub enum ProxyInitError {
    #[error("upstream TLS configuration: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("DNS configuration: {0}")]
    Dns(#[from] dns::DnsError),
}

impl Proxy {
    pub fn new(options: ProxyOptions) -> Result<Arc<Proxy>, ProxyInitError> {
        let upstream_tls = tls::client_config(false, &[], None, None, &[])?;
        let dns = dns::Dns::new(options.dns.clone())?;
        let pools = upstream::ClientPools::new(
            upstream::PoolSettings {
                max_idle_per_host: options.keepalive_pool_size,
                idle_timeout: options.keepalive_idle_timeout,
            },
            upstream_tls.clone(),
            dns.clone(),
        );
        let kong_headers = kong_headers::KongHeaders::new(options.response_headers, &options.version);
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::empty()));
        let certificates =
            Arc::new(tls::SwappableResolver::with_plugins(tls::CertStore::empty(None), snapshot.clone()));
        let verified = match options.trusted_certificates.is_empty() {
            true => None,
            false => Some(tls::trusting(&options.trusted_certificates, options.trusted_verify_depth)?),
        };
        let probe_tls = balancer::ProbeTls { verified, unverified: upstream_tls.clone() };
        Ok(Arc::new(Proxy { snapshot, options, pools, certificates, upstream_tls, probe_tls, dns, kong_headers }))
    }

    /// A proxy with its own upstream pools that serves the same snapshots, for a worker thread.
    pub fn sibling(&self) -> Arc<Proxy> {
        // Its own resolver: lookups run on the worker's runtime.
        let dns = dns::Dns::new(self.options.dns.clone()).unwrap_or_else(|_| self.dns.clone());
        let pools = upstream::ClientPools::new(
            upstream::PoolSettings {
                max_idle_per_host: self.options.keepalive_pool_size,
                idle_timeout: self.options.keepalive_idle_timeout,
            },
            self.upstream_tls.clone(),
            dns.clone(),
        );
        Arc::new(Proxy {
            snapshot: self.snapshot.clone(),
            options: self.options.clone(),
            pools,
            certificates: self.certificates.clone(),
            upstream_tls: self.upstream_tls.clone(),
            probe_tls: self.probe_tls.clone(),
            dns,
            kong_headers: self.kong_headers.clone(),
        })
    }

    /// The resolver of this proxy instance (balancer targets are resolved with the node's first one).
    pub fn dns(&self) -> Arc<dns::Dns> {
        self.dns.clone()
    }

    /// TLS settings for the active `https` health checks of balancers built for this proxy.
    pub fn probe_tls(&self) -> balancer::ProbeTls {
        self.probe_tls.clone()
    }

    /// The certificate store TLS listeners select from; replace its contents with `store`.
    pub fn certificates(&self) -> &Arc<tls::SwappableResolver> {
        &self.certificates
    }

    /// An acceptor for TLS listeners (ALPN `h2` when `http2`).
    pub fn tls_acceptor(&self, http2: bool) -> Result<tokio_rustls::TlsAcceptor, tls::TlsError> {
        tls::server_config(self.certificates.clone(), http2, &self.options.tls_policy)
            .map(tokio_rustls::TlsAcceptor::from)
    }

    /// Makes `snapshot` the configuration for every request that starts from now on.
    pub fn publish(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The snapshot currently served.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Serves one listener until `stop` turns true, then lets open connections finish their requests.
    /// With `proxy_protocol`, every connection starts with a PROXY header; with `tls`, it then completes
    /// a TLS handshake (certificate chosen by SNI).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        (tls, proxy_protocol): (Option<tokio_rustls::TlsAcceptor>, bool),
        mut stop: watch::Receiver<bool>,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // Capitalised names, as the plain HTTP/1.1 front end writes them (`header_case`).
            .title_case_headers(true)
            .header_read_timeout(self.options.header_timeout)
            .max_buf_size(self.options.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(self.options.max_header_bytes as u32)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let scheme = if tls.is_some() { "https" } else { "http" };
        loop {
            tokio::select! {
                (mut stream, remote) = accept(&listener, "proxy") => {
                    let (proxy, builder, watcher, tls) = (self.clone(), builder.clone(), graceful.watcher(), tls.clone());
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        let timeout = proxy.options.header_timeout;
                        let proxied_from = match proxy_protocol {
                            false => None,
                            true => match proxy_protocol::read_header(&mut stream, timeout).await {
                                Ok(source) => source,
                                Err(e) => return tracing::debug!(error = %e, %remote, "closing the connection"),
                            },
                        };
                        let hand_over = h1_server::HandOver { builder, watcher };
                        let Some(acceptor) = tls else {
                            let client = Client { proxy, remote, proxied_from, local_port, scheme, sni: None };
                            return h1_server::serve(client, stream, hand_over, stop).await;
                        };
                        match tls::accept(&acceptor, stream, timeout).await {
                            // The certificate phase ran in the handshake (`tls::SwappableResolver`).
                            Ok((stream, sni, h2)) => {
                                let sni = sni.map(Arc::from);
                                let client = Client { proxy, remote, proxied_from, local_port, scheme, sni };
                                let stream = Box::new(stream);
                                if h2 {
                                    return client.serve_with_hyper(stream, hand_over.builder, hand_over.watcher).await;
                                }
                                h1_server::serve(client, stream, hand_over, stop).await;
                            }
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        }
                    });
                }
                _ = async { let _ = stop.wait_for(|v| *v).await; } => break,
            }
        }
        // Like nginx's worker_shutdown_timeout: long streams do not hold the node up forever.
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("closing connections still open after {SHUTDOWN_GRACE:?}");
        }
    }

    /// Handles one request (public for in-process use, e.g. tests).
    pub async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
        remote: SocketAddr,
        local_port: u16,
        scheme: &'static str,
        sni: Option<&str>,
    ) -> hyper::Response<forward::ProxyBody> {
        let request = request.map(request_body::RequestBody::Streaming);
        forward::handle(self, request, (remote, None), local_port, scheme, sni).await.into_response()
    }
}
