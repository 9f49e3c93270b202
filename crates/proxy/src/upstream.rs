//! Upstream connections: keep-alive pools per connect timeout (a service's `connect_timeout` has to reach
//! the connector, which only sees the URI), and bodies that fail when the peer goes quiet for longer than
//! the service's `read_timeout` / `write_timeout` (Kong's timeouts are between two reads or two writes, not
//! for the whole exchange).

use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::lazy_timer::StallTimer;
use crate::write_timeout::WriteTimeoutConnector;

/// The error of bodies passing through the proxy.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a body stopped.
#[derive(Debug, thiserror::Error)]
#[error("no data for {0:?}")]
pub struct Idle(pub Duration);

impl From<Duration> for Idle {
    fn from(timeout: Duration) -> Self {
        Idle(timeout)
    }
}

/// Why a client's request body stopped: nothing came for `client_body_timeout`. Told apart from [`Idle`]
/// because it is the client's doing (408, and no mark against the upstream's health).
#[derive(Debug, thiserror::Error)]
#[error("the client sent no body data for {0:?}")]
pub struct ClientIdle(pub Duration);

impl From<Duration> for ClientIdle {
    fn from(timeout: Duration) -> Self {
        ClientIdle(timeout)
    }
}

/// A body that fails with `E` ([`Idle`], or [`ClientIdle`] for a client's body) when its source produces
/// nothing for `timeout`. The error's type is a parameter rather than a flag: the body stays as small as
/// the timer, and response bodies are moved and boxed on every request.
///
/// The timer is only set when the source has nothing ready (the clock starts then, within microseconds
/// of the last frame), so a body that arrives whole, the common case, never touches the timer wheel.
pub struct IdleTimeout<B, E = Idle> {
    inner: B,
    stall: StallTimer,
    error: std::marker::PhantomData<fn() -> E>,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleTimeout { inner, stall: StallTimer::new(timeout), error: std::marker::PhantomData }
    }
}

impl<B> IdleTimeout<B, ClientIdle> {
    /// For a client's request body, under `client_body_timeout`.
    pub fn client(inner: B, timeout: Duration) -> Self {
        IdleTimeout { inner, stall: StallTimer::new(timeout), error: std::marker::PhantomData }
    }
}

impl<B, E> Body for IdleTimeout<B, E>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    E: From<Duration> + std::error::Error + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stall.progress();
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                ready!(this.stall.poll_expired(cx));
                Poll::Ready(Some(Err(Box::new(E::from(this.stall.timeout())))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body sent upstream: the client's body streamed (cut off after `client_body_timeout` of silence),
/// or read whole first when the route buffers requests.
pub type RequestBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Plain TCP for `http`/`grpc` services, TLS for `https`/`grpcs`.
pub(crate) type Connector = WriteTimeoutConnector<hyper_rustls::HttpsConnector<HttpConnector<NamedTargetResolver>>>;

/// Separates an upstream URI's host into the TLS server name and where to connect:
/// `{name}{NAMED_VIA}{address}`. Kong sends the upstream `Host` (`proxy_ssl_name $upstream_host`) as SNI
/// and verifies the certificate against it, while it connects to the balancer's chosen address; the
/// connection pool's only input is the URI, so both travel in it, and the pool keys connections by both.
const NAMED_VIA: &str = ".gh-via.";

/// The URI authority that connects to `address` (an IP or a DNS name, with `port`) while presenting `name`
/// as the TLS server name.
pub(crate) fn named_authority(name: &str, address: &str, port: u16) -> String {
    let address = crate::balancer::unbracketed(address);
    // IPv6 colons cannot appear in a host name: they travel as dashes.
    format!("{name}{NAMED_VIA}{}:{port}", address.replace(':', "-"))
}

/// The TLS server name of an upstream URI's host (its name part when it is a [`named_authority`]).
fn server_name(uri: &hyper::Uri) -> Result<rustls::pki_types::ServerName<'static>, BoxError> {
    let host = uri.host().ok_or("upstream URI without a host")?;
    let name = host.split_once(NAMED_VIA).map_or(host, |(name, _)| name);
    let name = crate::balancer::unbracketed(name);
    Ok(rustls::pki_types::ServerName::try_from(name.to_owned())?)
}

/// The connector's name resolution: the address part of a [`named_authority`] (an IP is used as is), or
/// the proxy's [`Dns`](crate::dns::Dns) for host names (gRPC services, which keep the name in the URI).
#[derive(Clone)]
pub(crate) struct NamedTargetResolver {
    dns: Arc<crate::dns::Dns>,
}

type Addresses = std::vec::IntoIter<std::net::SocketAddr>;

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for NamedTargetResolver {
    type Response = Addresses;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addresses, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let host = name.as_str();
        let address = host.split_once(NAMED_VIA).map_or(host, |(_, address)| address);
        let literal = address.parse::<std::net::IpAddr>().or_else(|_| address.replace('-', ":").parse());
        if let (true, Ok(ip)) = (host.contains(NAMED_VIA), literal) {
            let found = vec![std::net::SocketAddr::new(ip, 0)].into_iter();
            return Box::pin(std::future::ready(Ok(found)));
        }
        let (dns, address) = (self.dns.clone(), address.to_owned());
        Box::pin(async move {
            // hyper's connector puts the URI's port on every address, so an SRV entry's port is not used.
            let (found, _) = dns.addresses(&address, 0).await.map_err(std::io::Error::other)?;
            Ok(found.into_iter().map(|a| a.addr).collect::<Vec<_>>().into_iter())
        })
    }
}
pub(crate) type BodyClient = hyper_util::client::legacy::Client<Connector, RequestBody>;
pub(crate) type EmptyClient = hyper_util::client::legacy::Client<Connector, http_body_util::Empty<Bytes>>;

/// Two pools sharing one connect timeout: one for requests with bodies, one for bodiless requests (which
/// can be retried, since they carry nothing that could be lost).
pub(crate) struct Clients {
    pub body: BodyClient,
    pub empty: EmptyClient,
    /// HTTP/2 with prior knowledge, for gRPC services.
    pub h2: BodyClient,
}

/// Keep-alive settings shared by every pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
}

/// Pools by connect and write timeout. Lookups are lock-free; new timeout values add their pools once.
pub(crate) struct ClientPools {
    settings: PoolSettings,
    dns: Arc<crate::dns::Dns>,
    /// TLS settings for `https`/`grpcs` upstreams.
    tls: Arc<rustls::ClientConfig>,
    /// Keyed by connect and write timeout and a TLS profile (0 = Kong's default: no verification, no
    /// client certificate).
    by_timeout: ArcSwap<HashMap<(Duration, Duration, u64), Arc<Clients>>>,
}

impl ClientPools {
    pub fn new(settings: PoolSettings, tls: Arc<rustls::ClientConfig>, dns: Arc<crate::dns::Dns>) -> Self {
        ClientPools { settings, dns, tls, by_timeout: ArcSwap::from_pointee(HashMap::new()) }
    }

    /// The pools whose connector gives up after `connect_timeout` and whose writes give up after
    /// `write_timeout` without progress, with Kong's default upstream TLS.
    pub fn get(&self, timeouts: (Duration, Duration)) -> Arc<Clients> {
        self.get_with(timeouts, 0, || Ok(self.tls.clone()))
            .unwrap_or_else(|_| Arc::new(self.build(timeouts, self.tls.clone())))
    }

    /// The pools for a TLS profile (`tls_key` identifies it; `config` builds it the first time).
    pub fn get_with(
        &self,
        (connect_timeout, write_timeout): (Duration, Duration),
        tls_key: u64,
        config: impl FnOnce() -> Result<Arc<rustls::ClientConfig>, crate::tls::TlsError>,
    ) -> Result<Arc<Clients>, crate::tls::TlsError> {
        let key = (connect_timeout, write_timeout, tls_key);
        if let Some(clients) = self.by_timeout.load().get(&key) {
            return Ok(clients.clone());
        }
        let created = Arc::new(self.build((connect_timeout, write_timeout), config()?));
        self.by_timeout.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.entry(key).or_insert_with(|| created.clone());
            next
        });
        Ok(self.by_timeout.load().get(&key).cloned().unwrap_or(created))
    }

    fn build(
        &self,
        (connect_timeout, write_timeout): (Duration, Duration),
        tls_config: Arc<rustls::ClientConfig>,
    ) -> Clients {
        let mut tcp = HttpConnector::new_with_resolver(NamedTargetResolver { dns: self.dns.clone() });
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.enforce_http(false);
        // ALPN is set by the connector for each pool.
        let tls = |h2: bool| -> Connector {
            let config = rustls::ClientConfig::clone(&tls_config);
            let builder = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .with_server_name_resolver(server_name);
            let https = match h2 {
                true => builder.enable_http2().wrap_connector(tcp.clone()),
                false => builder.enable_http1().wrap_connector(tcp.clone()),
            };
            WriteTimeoutConnector::new(https, write_timeout)
        };
        let builder = || {
            let mut b = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(self.settings.idle_timeout)
                .pool_max_idle_per_host(self.settings.max_idle_per_host)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new());
            b
        };
        let mut h2 = builder();
        h2.http2_only(true);
        Clients { body: builder().build(tls(false)), empty: builder().build(tls(false)), h2: h2.build(tls(true)) }
    }
}
