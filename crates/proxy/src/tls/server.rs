//! The listener side: server configuration and the timed handshake.

use super::{provider, SwappableResolver, TlsError, TlsPolicy, ALPN_H2, ALPN_HTTP11};
use rustls::ServerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The configuration of a TLS listener: the protocols and ciphers `policy` allows (`ssl_cipher_suite`),
/// certificates chosen per handshake by `resolver`, no client certificates, and ALPN `h2` (only when the
/// listener has `http2`, preferred over HTTP/1.1 like nginx) plus `http/1.1`. A client offering only
/// protocols we do not speak is refused, as nginx does.
///
/// Fails only if rustls rejects the policy's protocol versions and suites, which `TlsPolicy` rules out.
pub fn server_config(
    resolver: Arc<SwappableResolver>,
    http2: bool,
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(policy.provider(&provider())))
        .with_protocol_versions(&policy.versions())
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.ignore_client_order = policy.prefer_server_ciphers;
    if policy.session_tickets {
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
    }
    config.session_storage = match policy.session_cache {
        0 => Arc::new(rustls::server::NoServerSessionStorage {}),
        entries => rustls::server::ServerSessionMemoryCache::new(entries),
    };
    config.alpn_protocols =
        if http2 { vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()] } else { vec![ALPN_HTTP11.to_vec()] };
    Ok(Arc::new(config))
}

/// Completes the server handshake on an accepted connection within `handshake_timeout` (so idle or slow
/// clients cannot hold a task forever) and reports the client's SNI (lower-cased, for routing on `snis`)
/// and whether HTTP/2 was negotiated through ALPN (to pick the HTTP/2 server for the connection).
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    handshake_timeout: Duration,
) -> Result<(TlsStream<TcpStream>, Option<String>, bool), TlsError> {
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Err(_) => return Err(TlsError::HandshakeTimeout(handshake_timeout)),
        Ok(Err(e)) => return Err(TlsError::Handshake(e)),
        Ok(Ok(tls)) => tls,
    };
    let (_, connection) = tls.get_ref();
    let sni = connection.server_name().map(str::to_ascii_lowercase);
    let h2 = connection.alpn_protocol() == Some(ALPN_H2);
    Ok((tls, sni, h2))
}
