//! Sending a routed request to its upstream: straight to the service's host, or through the upstream's
//! load balancer (target choice, `Host` header, passive health reports, retries on other targets).

use crate::balancer::{Algorithm, Balancer, HashInput, Outcome, Pick};
use crate::errors::ProxyError;
use crate::h1_pool::{self, KeepAlive, SendError, UpstreamBody};
use crate::raw_fields::RawFields;
use crate::request_body::RequestBody;
use crate::upstream::{ClientIdle, Idle, IdleTimeout, RequestBody as UpstreamRequestBody};
use crate::{Proxy, ServiceSpec};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Body;
use hyper::header::{HeaderMap, HeaderValue, HOST};
use hyper::{Request, Response, Uri};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where one attempt goes.
pub(crate) struct Destination<'a> {
    pub service: &'a ServiceSpec,
    pub balancer: Option<&'a Balancer>,
    /// Path and query for the upstream request.
    pub path: &'a str,
    pub preserve_host: bool,
    /// The client's Host (or `:authority`), sent upstream when `preserve_host` is on.
    pub client_host: &'a str,
    /// Read the whole request body before sending it (the route's `request_buffering`).
    pub buffer_request: bool,
    /// The service's own upstream TLS settings, when it has any.
    pub tls: Option<&'a UpstreamTls>,
    /// The address the service's host name resolved to for this request, with the port an SRV entry
    /// gave or the service's (no balancer, not gRPC).
    pub resolved: Option<SocketAddr>,
    /// `X-Forwarded-*`, `X-Real-IP` and the request id, added as the request goes out.
    pub forwarded: crate::headers::Forwarded<'a>,
    /// When forwarding began: the clock of a bodiless request's first attempt (one reading less).
    pub started: Instant,
}

/// A service's upstream TLS profile (`tls_verify`, `ca_certificates`, `client_certificate`).
pub(crate) struct UpstreamTls {
    /// Identifies the profile's connection pools.
    pub key: u64,
    pub verify: bool,
    pub verify_depth: Option<u8>,
    pub ca_pems: Vec<String>,
    pub client_certificate: Option<std::sync::Arc<rustls::sign::CertifiedKey>>,
}

/// What a worker remembers of a service's TLS profile. The profile is rebuilt only when the service, the
/// CA certificates, the certificate store or the balancer it came from has been replaced; the entry holds
/// those objects, so no newer one can take over an address it compares.
struct RememberedProfile {
    service: Arc<ServiceSpec>,
    cas: Arc<HashMap<uuid::Uuid, String>>,
    store: Arc<crate::tls::CertStore>,
    balancer: Option<Arc<Balancer>>,
    profile: Option<Arc<UpstreamTls>>,
}

impl RememberedProfile {
    fn is_for(
        &self,
        service: &Arc<ServiceSpec>,
        cas: &Arc<HashMap<uuid::Uuid, String>>,
        store: &Arc<crate::tls::CertStore>,
        balancer: Option<&Arc<Balancer>>,
    ) -> bool {
        Arc::ptr_eq(&self.service, service)
            && Arc::ptr_eq(&self.cas, cas)
            && Arc::ptr_eq(&self.store, store)
            && match (&self.balancer, balancer) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Profiles remembered per worker, by service id, at most this many (then forgotten all at once).
const REMEMBERED_PROFILES: usize = 4096;

thread_local! {
    static PROFILES: RefCell<HashMap<uuid::Uuid, RememberedProfile, crate::FastHash>> = RefCell::new(HashMap::default());
}

impl UpstreamTls {
    /// The profile of `service`, or `None` for Kong's default (no verification, no client certificate).
    /// The client certificate is the service's, else its upstream's (Kong's `fallback_upstream_client_cert`).
    /// Built once per worker for each version of its inputs, not per request: it copies CA certificates and
    /// hashes them with the client certificate.
    pub fn of(
        service: &Arc<ServiceSpec>,
        balancer: Option<&Arc<Balancer>>,
        snapshot: &crate::Snapshot,
        proxy: &Proxy,
    ) -> Option<Arc<UpstreamTls>> {
        let fallback = || balancer.and_then(|b| b.client_certificate());
        if !(service.tls_verify || service.client_certificate.is_some() || fallback().is_some()) {
            return None;
        }
        let store = proxy.certificates().current();
        let cas = &snapshot.ca_certificates;
        PROFILES.with(|cell| {
            let mut remembered = cell.borrow_mut();
            if let Some(entry) = remembered.get(&service.id).filter(|e| e.is_for(service, cas, &store, balancer)) {
                return entry.profile.clone();
            }
            let profile = UpstreamTls::build(service, balancer.map(|b| &**b), cas, &store).map(Arc::new);
            if remembered.len() >= REMEMBERED_PROFILES {
                remembered.clear();
            }
            let entry = RememberedProfile {
                service: service.clone(),
                cas: cas.clone(),
                store,
                balancer: balancer.cloned(),
                profile: profile.clone(),
            };
            remembered.insert(service.id, entry);
            profile
        })
    }

    fn build(
        service: &ServiceSpec,
        balancer: Option<&Balancer>,
        cas: &HashMap<uuid::Uuid, String>,
        store: &crate::tls::CertStore,
    ) -> Option<UpstreamTls> {
        use std::hash::{Hash, Hasher};
        let client_certificate_id = match service.client_certificate {
            Some(id) => Some(id.to_string()),
            None => balancer.and_then(Balancer::client_certificate).map(String::from),
        };
        if !(service.tls_verify || client_certificate_id.is_some()) {
            return None;
        }
        let ca_pems: Vec<String> = service.ca_certificates.iter().filter_map(|id| cas.get(id).cloned()).collect();
        let client_certificate = client_certificate_id.as_deref().and_then(|id| store.certificate(id));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        // The certificate's bytes, not just its id: a rotated certificate keeps its id.
        let client_der = client_certificate.as_ref().and_then(|c| c.cert.first()).map(|c| c.as_ref().to_vec());
        (service.tls_verify, service.tls_verify_depth, &ca_pems, client_certificate_id, client_der).hash(&mut hasher);
        Some(UpstreamTls {
            key: hasher.finish() | 1,
            verify: service.tls_verify,
            verify_depth: service.tls_verify_depth,
            ca_pems,
            client_certificate,
        })
    }
}

/// Builds the balancer's hash input from the request (Kong's `get_value_to_hash` sources).
pub(crate) fn pick_first(
    balancer: &Balancer,
    headers: &HeaderMap,
    client_ip: std::net::IpAddr,
    path: &str,
    query: Option<&str>,
    consumer_id: Option<&str>,
) -> Result<Pick, ProxyError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cookie = |name: &str| {
        headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let query_arg = |name: &str| {
        query?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, "true"))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let input = HashInput {
        client_ip: Some(client_ip),
        consumer_id,
        header: Some(&header),
        cookie: Some(&cookie),
        path,
        query_arg: Some(&query_arg),
        ..HashInput::default()
    };
    balancer.pick(&input, &[]).ok_or(ProxyError::NoPeer)
}

/// A `Host` value: the name, with the port unless it is the scheme's default.
fn with_port(host: &str, port: u16, tls: bool) -> String {
    if (port == 80 && !tls) || (port == 443 && tls) {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

impl Destination<'_> {
    /// The upstream URI: the balancer's pick, the service host's resolved address, or (gRPC) the service
    /// host itself. For `https` services whose upstream `Host` differs from the address connected to, it
    /// carries that host as the TLS server name, as Kong's `proxy_ssl_name $upstream_host`. (gRPC over h2
    /// would send the URI as `:authority`, so `grpcs` keeps the address.)
    fn uri(&self, pick: Option<&Pick>, host: Option<&HeaderValue>) -> Result<Uri, ProxyError> {
        let service = self.service;
        let target = pick.map(|p| p.addr).or(self.resolved);
        let ssl_name = host
            .filter(|_| service.protocol == "https")
            .and_then(|h| h.to_str().ok())
            .map(|h| h.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map_or(h, |(name, _)| name))
            .filter(|name| !name.is_empty())
            .filter(|name| match target {
                Some(addr) => name.parse::<std::net::IpAddr>().ok() != Some(addr.ip()),
                None => !name.eq_ignore_ascii_case(&service.host),
            });
        let scheme = if matches!(service.protocol.as_str(), "https" | "grpcs") { "https" } else { "http" };
        let named =
            |address: &str, port: u16| crate::upstream::named_authority(ssl_name.unwrap_or_default(), address, port);
        let text = match (ssl_name.is_some(), target) {
            (true, Some(addr)) => format!("https://{}{}", named(&addr.ip().to_string(), addr.port()), self.path),
            (true, None) => format!("https://{}{}", named(&service.host, service.port), self.path),
            (false, Some(addr)) => format!("{scheme}://{addr}{}", self.path),
            (false, None) => format!("{}{}", service.base_uri, self.path),
        };
        text.parse().map_err(|_| ProxyError::BadRequest)
    }

    /// The upstream `Host`: the client's (`preserve_host`; h2 clients send it as `:authority`), the service's
    /// host, or for a balancer its `host_header` or the target's name.
    fn host(&self, pick: Option<&Pick>) -> Option<HeaderValue> {
        if self.preserve_host {
            return HeaderValue::from_str(self.client_host).ok();
        }
        let tls = matches!(self.service.protocol.as_str(), "https" | "grpcs");
        let text = match (self.balancer, pick) {
            (Some(b), Some(p)) => match b.host_header() {
                Some(h) => h.to_string(),
                // The address's port: an SRV entry's where it gave one (Kong's `balancer_data.port`).
                None => with_port(&p.target_host, p.addr.port(), tls),
            },
            // An SRV entry's own port shows in the Host, as in Kong.
            _ => match self.resolved {
                Some(addr) if addr.port() != self.service.port => with_port(&self.service.host, addr.port(), tls),
                _ => return self.service.host_value.clone(),
            },
        };
        HeaderValue::from_str(&text).ok()
    }

    /// The address a plain-`http` request connects to, when it is known without a name lookup.
    fn address(&self, pick: Option<&Pick>) -> Option<SocketAddr> {
        pick.map(|p| p.addr).or(self.resolved).or(self.service.address)
    }

    fn prepare(&self, request: &mut Request<impl Body>, pick: Option<&Pick>) -> Result<(), ProxyError> {
        let host = self.host(pick);
        *request.uri_mut() = self.uri(pick, host.as_ref())?;
        if let Some(host) = host {
            request.headers_mut().insert(HOST, host);
        }
        Ok(())
    }

    fn report(&self, pick: Option<&Pick>, outcome: Outcome, started: Instant) {
        if let (Some(b), Some(p)) = (self.balancer, pick) {
            if let Outcome::HttpStatus(_) = outcome {
                b.record_latency(p.addr, started.elapsed());
            }
            b.report(p.addr, outcome);
        }
    }

    /// Reports a failed attempt against the target (a timeout, or a TCP failure), unless the client's
    /// body stalled it.
    fn report_failure(
        &self,
        pick: Option<&Pick>,
        (error, timed_out): (&(dyn Error + 'static), bool),
        started: Instant,
    ) {
        if caused_by::<ClientIdle>(error) {
            return;
        }
        self.report(pick, if timed_out { Outcome::Timeout } else { Outcome::TcpFailure }, started);
    }

    /// Before a retry: with a balancer, moves `pick` on as Kong's algorithm does on a retry. Round-robin
    /// takes the next wheel position and consistent hashing keeps its point, so both may come back to
    /// the address that failed (a single-target upstream retries its target); least-connections skips
    /// the addresses that failed until all have, then starts over; latency skips them and gives up once
    /// every address has failed. Unhealthy addresses are always skipped.
    fn retry_target(&self, pick: &mut Option<Pick>, tried: &mut Vec<SocketAddr>) -> Result<(), ProxyError> {
        let Some(previous) = pick.take() else { return Ok(()) };
        tried.push(previous.addr);
        let b = self.balancer.ok_or(ProxyError::BadGateway)?;
        let any = HashInput::default();
        let next = match (b.algorithm(), previous.hash) {
            (_, Some(hash)) => b.pick_with_hash(hash, &[]),
            (Algorithm::LeastConnections, None) => b.pick(&any, tried).or_else(|| {
                tried.clear();
                b.pick(&any, &[])
            }),
            (Algorithm::Latency, None) if b.address_count() > 1 => b.pick(&any, tried),
            _ => b.pick(&any, &[]),
        };
        *pick = Some(next.ok_or(ProxyError::RetryNoPeer)?);
        Ok(())
    }
}

/// Whether the request goes through this worker's own keep-alive pool ([`send_pooled`]): plain-`http`
/// requests to an address. `https`, gRPC and upgrades go through hyper's pooled client
/// ([`send_with_client`]: TLS, h2, and tunnels, which hyper hands over as the upgraded connection).
pub(crate) fn is_pooled(request: &Request<RequestBody>, to: &Destination<'_>, first: Option<&Pick>) -> bool {
    to.service.protocol == "http"
        && !request.headers().contains_key(hyper::header::UPGRADE)
        && to.address(first).is_some()
}

/// The body of a request that has none (no future to await, unlike [`upstream_body`]).
pub(crate) fn empty_body() -> UpstreamRequestBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The request body as sent upstream (one that has not ended): whole when the route buffers requests (or
/// a plugin read it), else streamed under `client_body_timeout` and `client_max_body_size`.
async fn upstream_body(
    proxy: &Proxy,
    request: Request<RequestBody>,
    to: &Destination<'_>,
) -> Result<Request<UpstreamRequestBody>, ProxyError> {
    let (limit, body_timeout) = (proxy.options.max_body_bytes, proxy.options.body_timeout);
    Ok(if to.buffer_request || matches!(request.body(), RequestBody::Buffered(_)) {
        let (mut parts, body) = request.into_parts();
        let bytes = match body {
            RequestBody::Buffered(bytes) => bytes.unwrap_or_default(),
            streaming => read_limited(IdleTimeout::client(streaming, body_timeout), limit).await?,
        };
        parts.headers.remove(hyper::header::TRANSFER_ENCODING);
        parts.headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        Request::from_parts(parts, http_body_util::Full::new(bytes).map_err(|never| match never {}).boxed())
    } else if limit > 0 {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        request.map(|body| http_body_util::Limited::new(IdleTimeout::client(body, body_timeout), limit).boxed())
    } else {
        request.map(|body| IdleTimeout::client(body, body_timeout).boxed())
    })
}

/// How long an exchange may take to its response head: Kong's read_timeout runs between two reads, the
/// first being the head. A streamed upload may take as long as the client keeps sending (its pauses are
/// bounded by client_body_timeout), so the deadline only covers requests whose body is already in memory.
fn head_deadline(to: &Destination<'_>, bodiless: bool) -> Option<Duration> {
    let service = to.service;
    (to.buffer_request || bodiless).then(|| service.connect_timeout + service.read_timeout)
}

/// An upstream's answer and the target that gave it. A pooled connection's fields come as received, in
/// `fields`, with the response's header map left empty; hyper's client fills the map.
pub(crate) struct Answer {
    pub response: Response<UpstreamBody>,
    pub fields: Option<RawFields>,
    pub pick: Option<Pick>,
}

/// Through this worker's pool. A failed connect sent nothing, so the request is retried (up to the
/// service's `retries`) on the next target; nothing is retried once the upstream may have seen it.
/// Returns the response and the target that answered (its `Set-Cookie`, in-flight slot).
pub(crate) async fn send_pooled(
    proxy: &Proxy,
    request: Request<RequestBody>,
    to: &Destination<'_>,
    first: Option<Pick>,
) -> Result<Answer, ProxyError> {
    let service = to.service;
    let bodiless = request.body().is_end_stream();
    let mut request = match bodiless {
        true => request.map(|_| empty_body()),
        false => Box::pin(upstream_body(proxy, request, to)).await?,
    };
    let deadline = head_deadline(to, bodiless);
    let options = &proxy.options;
    let keep_alive = KeepAlive {
        pool_size: options.keepalive_pool_size,
        idle_timeout: options.keepalive_idle_timeout,
        max_requests: options.keepalive_max_requests,
    };
    let (mut pick, mut attempt, mut tried) = (first, 0, Vec::new());
    loop {
        let addr = to.address(pick.as_ref()).ok_or(ProxyError::BadGateway)?;
        match to.host(pick.as_ref()) {
            Some(host) => request.headers_mut().insert(HOST, host),
            None => request
                .headers_mut()
                .insert(HOST, HeaderValue::from_str(&addr.to_string()).map_err(|_| ProxyError::BadRequest)?),
        };
        let started = if attempt == 0 && bodiless { to.started } else { Instant::now() };
        let timing = h1_pool::Timing {
            started,
            connect_timeout: service.connect_timeout,
            deadline: deadline.and_then(|d| started.checked_add(d)),
        };
        let (error, unsent) = match h1_pool::send(addr, timing, keep_alive, to, request).await {
            Ok((response, fields)) => {
                to.report(pick.as_ref(), Outcome::HttpStatus(response.status().as_u16()), started);
                return Ok(Answer { response, fields: Some(fields), pick });
            }
            Err((SendError::Timeout, _)) => {
                to.report(pick.as_ref(), Outcome::Timeout, started);
                return Err(ProxyError::Timeout);
            }
            Err(failed) => failed,
        };
        let timed_out = matches!(error, SendError::ConnectTimeout(_)) || is_timeout(&error);
        to.report_failure(pick.as_ref(), (&error, timed_out), started);
        match unsent {
            Some(unsent) if error.before_sending() && !timed_out && attempt < service.retries => {
                attempt += 1;
                tracing::debug!(%error, attempt, "upstream connect failed; retrying");
                request = unsent;
                to.retry_target(&mut pick, &mut tried)?;
            }
            _ => return Err(classify(&error, timed_out)),
        }
    }
}

/// Through hyper's pooled client (`https` upstreams with their TLS profile, gRPC over h2, host names the
/// connector resolves). Bodiless requests are retried on connection failures up to the service's
/// `retries`, on the next target when there is a balancer, since no request bytes can have reached the
/// upstream.
pub(crate) async fn send_with_client(
    proxy: &Proxy,
    mut request: Request<RequestBody>,
    to: &Destination<'_>,
    first: Option<Pick>,
) -> Result<Answer, ProxyError> {
    let service = to.service;
    let clients = match to.tls {
        None => proxy.pools.get((service.connect_timeout, service.write_timeout)),
        Some(tls) => proxy
            .pools
            .get_with((service.connect_timeout, service.write_timeout), tls.key, || {
                crate::tls::client_config(
                    tls.verify,
                    &tls.ca_pems,
                    tls.verify_depth,
                    tls.client_certificate.clone(),
                    &[],
                )
            })
            .map_err(|e| {
                tracing::warn!(error = %e, service = %service.id, "upstream TLS settings cannot be used");
                ProxyError::BadGateway
            })?,
    };
    let mut pick = first;
    let grpc = service.is_grpc();
    let bodiless = request.body().is_end_stream();
    let deadline = head_deadline(to, bodiless).unwrap_or(Duration::MAX / 4);
    crate::headers::set_forwarded(request.headers_mut(), &to.forwarded);
    if bodiless && !grpc {
        let (parts, _) = request.into_parts();
        let (mut attempt, mut tried) = (0, Vec::new());
        loop {
            let mut retry = Request::from_parts(parts.clone(), Empty::<Bytes>::new());
            *retry.extensions_mut() = hyper::http::Extensions::new();
            to.prepare(&mut retry, pick.as_ref())?;
            let started = Instant::now();
            match tokio::time::timeout(deadline, clients.empty.request(retry)).await {
                Ok(Ok(response)) => {
                    to.report(pick.as_ref(), Outcome::HttpStatus(response.status().as_u16()), started);
                    return Ok(Answer { response: response.map(UpstreamBody::detached), fields: None, pick });
                }
                Ok(Err(e)) => {
                    let timed_out = is_timeout(&e);
                    to.report_failure(pick.as_ref(), (&e, timed_out), started);
                    if !(e.is_connect() && !timed_out && attempt < service.retries) {
                        return Err(classify(&e, timed_out));
                    }
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "upstream connect failed; retrying");
                    to.retry_target(&mut pick, &mut tried)?;
                }
                Err(_) => {
                    to.report(pick.as_ref(), Outcome::Timeout, started);
                    return Err(ProxyError::Timeout);
                }
            }
        }
    }
    let mut request = match bodiless {
        true => request.map(|_| empty_body()),
        false => upstream_body(proxy, request, to).await?,
    };
    to.prepare(&mut request, pick.as_ref())?;
    let started = Instant::now();
    let client = if grpc {
        *request.version_mut() = hyper::Version::HTTP_2;
        &clients.h2
    } else {
        &clients.body
    };
    match tokio::time::timeout(deadline, client.request(request)).await {
        Ok(Ok(response)) => {
            to.report(pick.as_ref(), Outcome::HttpStatus(response.status().as_u16()), started);
            Ok(Answer { response: response.map(UpstreamBody::detached), fields: None, pick })
        }
        Ok(Err(e)) => {
            let timed_out = is_timeout(&e);
            to.report_failure(pick.as_ref(), (&e, timed_out), started);
            Err(classify(&e, timed_out))
        }
        Err(_) => {
            to.report(pick.as_ref(), Outcome::Timeout, started);
            Err(ProxyError::Timeout)
        }
    }
}

/// Reads a whole request body, failing with 413 past `limit` (0 = none). Past the limit the rest is read
/// off for a moment before answering, so the client sees the 413 rather than a reset connection.
pub(crate) async fn read_limited(
    mut body: IdleTimeout<RequestBody, ClientIdle>,
    limit: u64,
) -> Result<Bytes, ProxyError> {
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| match e.is::<ClientIdle>() {
            true => ProxyError::RequestTimeout,
            false => ProxyError::BadRequest,
        })?;
        let Ok(data) = frame.into_data() else { continue };
        if limit > 0 && (collected.len() + data.len()) as u64 > limit {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), async { while let Some(Ok(_)) = body.frame().await {} })
                    .await;
            return Err(ProxyError::TooLarge);
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.freeze())
}

/// Whether a client error is a timeout somewhere in its chain (connect timeout, idle body).
fn is_timeout(error: &(dyn Error + 'static)) -> bool {
    chain(error).any(|e| {
        e.is::<Idle>() || e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

fn classify(error: &(dyn Error + 'static), timed_out: bool) -> ProxyError {
    tracing::info!(%error, "upstream request failed");
    if caused_by::<ClientIdle>(error) {
        ProxyError::RequestTimeout
    } else if timed_out {
        ProxyError::Timeout
    } else if caused_by::<http_body_util::LengthLimitError>(error) {
        ProxyError::TooLarge
    } else {
        ProxyError::BadGateway
    }
}

/// Whether `error`'s chain contains an `E`.
fn caused_by<E: Error + 'static>(error: &(dyn Error + 'static)) -> bool {
    chain(error).any(|e| e.is::<E>())
}

/// An error and its sources, outermost first.
fn chain<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |e| (*e).source())
}
