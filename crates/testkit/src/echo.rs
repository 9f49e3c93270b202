//! A real upstream for proxy tests: answers every request with a JSON description of what it received
//! (method, path with query, headers, body length, TLS server name), so tests can assert what the proxy
//! forwarded. gRPC requests (`content-type: application/grpc`) get their body back followed by
//! `grpc-status: 0` trailers. `?respond_bytes=N` answers with N bytes instead; `?close=1` answers with
//! `Connection: close`; `?respond_header=name:value` adds a response header. The description names the
//! connection's client address (`peer`), so tests can count upstream connections. It speaks HTTP/1.1
//! and h2c, or TLS with ALPN when started with `start_tls`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;

/// A running echo upstream; it stops when dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    /// For TLS echo servers: the PEM of the CA that issued their `localhost` certificate.
    pub ca_pem: Option<String>,
    /// For [`EchoServer::start_mtls`]: a client certificate and key (PEM) it accepts.
    pub client_pem: Option<(String, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoServer {
    pub async fn start() -> anyhow::Result<EchoServer> {
        Self::start_with(None, "127.0.0.1:0".parse()?).await
    }

    /// A plain echo upstream listening on `addr` (e.g. another loopback address with a known port).
    pub async fn start_at(addr: SocketAddr) -> anyhow::Result<EchoServer> {
        Self::start_with(None, addr).await
    }

    /// An echo upstream behind TLS with a `localhost` certificate issued by a fresh test CA (ALPN h2 and
    /// http/1.1); the CA's PEM is in `ca_pem`.
    pub async fn start_tls() -> anyhow::Result<EchoServer> {
        Self::start_tls_chain(0).await
    }

    /// Like [`EchoServer::start_tls`], with `intermediates` CA certificates between the `localhost`
    /// certificate and the root in `ca_pem` (the server sends them with its certificate).
    pub async fn start_tls_chain(intermediates: usize) -> anyhow::Result<EchoServer> {
        Self::start_tls_with(intermediates, false).await
    }

    /// Like [`EchoServer::start_tls`], but the handshake requires a client certificate issued by the same
    /// CA; one is in `client_pem`.
    pub async fn start_mtls() -> anyhow::Result<EchoServer> {
        Self::start_tls_with(0, true).await
    }

    async fn start_tls_with(intermediates: usize, client_auth: bool) -> anyhow::Result<EchoServer> {
        let ca_params = || -> anyhow::Result<rcgen::CertificateParams> {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse test CA");
            Ok(params)
        };
        let ca_key = rcgen::KeyPair::generate()?;
        let root = ca_params()?;
        let root_certificate = root.self_signed(&ca_key)?;
        let (ca_pem, ca_der) = (root_certificate.pem(), root_certificate.der().clone());
        let mut issuer = rcgen::Issuer::new(root, ca_key);
        let mut chain = Vec::new();
        for _ in 0..intermediates {
            let key = rcgen::KeyPair::generate()?;
            let params = ca_params()?;
            chain.insert(0, params.signed_by(&key, &issuer)?.der().clone());
            issuer = rcgen::Issuer::new(params, key);
        }
        let key = rcgen::KeyPair::generate()?;
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &issuer)?;
        chain.insert(0, cert.der().clone());
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder =
            rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let mut client_pem = None;
        let builder = if client_auth {
            let client_key = rcgen::KeyPair::generate()?;
            let client =
                rcgen::CertificateParams::new(vec!["client.test".to_string()])?.signed_by(&client_key, &issuer)?;
            client_pem = Some((client.pem(), client_key.serialize_pem()));
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca_der)?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config =
            builder.with_single_cert(chain, rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let mut server = Self::start_with(Some(acceptor), "127.0.0.1:0".parse()?).await?;
        server.ca_pem = Some(ca_pem);
        server.client_pem = client_pem;
        Ok(server)
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>, addr: SocketAddr) -> anyhow::Result<EchoServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else { continue };
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = |sni: Option<std::sync::Arc<str>>| {
                        hyper::service::service_fn(move |request| {
                            let sni = sni.clone();
                            let connection = Connection { server: addr, peer, sni };
                            async move { Ok::<_, std::convert::Infallible>(respond(request, &connection).await) }
                        })
                    };
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service(None)).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let sni = stream.get_ref().1.server_name().map(std::sync::Arc::from);
                                let _ = builder.serve_connection(TokioIo::new(stream), service(sni)).await;
                            }
                        }
                    }
                });
            }
        });
        Ok(EchoServer { addr, ca_pem: None, client_pem: None, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

type EchoBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// What the echo server knows of the connection a request came on.
struct Connection {
    server: SocketAddr,
    peer: SocketAddr,
    /// The server name a TLS client sent.
    sni: Option<std::sync::Arc<str>>,
}

async fn respond(request: hyper::Request<hyper::body::Incoming>, connection: &Connection) -> hyper::Response<EchoBody> {
    let (parts, body) = request.into_parts();
    let param = |name: &str| parts.uri.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix(name)));
    // `?stall_ms=N`: the body is left unread for N ms (an upstream that stops taking an upload).
    if let Some(ms) = param("stall_ms=").and_then(|n| n.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let wanted = param("respond_bytes=");
    if let Some(size) = wanted.and_then(|n| n.parse::<usize>().ok()) {
        return large(size);
    }
    let grpc = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
        let frames: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> =
            vec![Ok(hyper::body::Frame::data(body)), Ok(hyper::body::Frame::trailers(trailers))];
        let stream = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        let mut response = hyper::Response::new(BodyExt::boxed(stream));
        response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/grpc"));
        return response;
    }
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.to_str().unwrap_or_default())))
        .collect();
    let description = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_length": body.len(),
        "sni": connection.sni.as_deref(),
        "server": connection.server.to_string(),
        "peer": connection.peer.to_string(),
        "body": (body.len() <= 65_536).then(|| String::from_utf8_lossy(&body).into_owned()),
    });
    let mut response = hyper::Response::new(BodyExt::boxed(Full::new(Bytes::from(description.to_string()))));
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    if parts.uri.query().is_some_and(|q| q.split('&').any(|p| p == "close=1")) {
        response.headers_mut().insert("connection", hyper::header::HeaderValue::from_static("close"));
    }
    // `?respond_header=name:value`, repeatable: headers the response carries.
    let extra =
        parts.uri.query().into_iter().flat_map(|q| q.split('&')).filter_map(|p| p.strip_prefix("respond_header="));
    for (name, value) in extra.filter_map(|pair| pair.split_once(':')) {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(value))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// `?respond_bytes=N`: N bytes of `x`, streamed in 64 KiB chunks (for response-streaming tests).
fn large(size: usize) -> hyper::Response<EchoBody> {
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..size.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(size - i * CHUNK);
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(vec![b'x'; len])))
    });
    let stream = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    hyper::Response::new(BodyExt::boxed(stream))
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
