//! kong.conf's TLS settings hold on the proxy's and the Admin API's `ssl` listeners: a named
//! `ssl_cipher_suite` decides the protocols (`modern` is TLS 1.3 only), and with `custom`, `ssl_protocols`
//! and `ssl_ciphers` (OpenSSL names) do; sessions resume unless `ssl_session_tickets` and
//! `ssl_session_cache_size` both turn resumption off.

use gatehouse_testkit::{Node, NodeOptions};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CipherSuite, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Accepts any certificate: these tests are about protocols and ciphers, not trust.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client offering only `version` (and, for TLS 1.2, only `suites` when given), remembering sessions.
fn client(version: &'static rustls::SupportedProtocolVersion, suites: &[CipherSuite]) -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites.retain(|s| suites.contains(&s.suite()));
    }
    let provider = Arc::new(provider);
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// One handshake with `port`: the version and suite agreed and whether the session was resumed, or why
/// it failed.
async fn connect(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
) -> Result<(ProtocolVersion, CipherSuite, bool), String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("gatehouse.test").map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let mut tls = connector.connect(name, stream).await.map_err(|e| e.to_string())?;
    // TLS 1.3 tickets come after the handshake: a request and its answer let the client take them in.
    let request = b"GET / HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: close\r\n\r\n";
    tls.write_all(request).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let (_, connection) = tls.get_ref();
    let resumed = connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    match (connection.protocol_version(), connection.negotiated_cipher_suite()) {
        (Some(version), Some(suite)) => Ok((version, suite.suite(), resumed)),
        _ => Err("no version or suite negotiated".into()),
    }
}

/// A fresh client's handshake offering only `version` (and `suites`): the version and suite agreed.
async fn handshake(
    port: u16,
    version: &'static rustls::SupportedProtocolVersion,
    suites: &[CipherSuite],
) -> Result<(ProtocolVersion, CipherSuite), String> {
    connect(port, &client(version, suites)).await.map(|(version, suite, _)| (version, suite))
}

async fn node_with(settings: &[(&str, &str)]) -> Node {
    let env = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Node::start(binary(), NodeOptions { tls: true, env, ..Default::default() }).await.expect("node")
}

#[tokio::test]
async fn the_default_suite_is_intermediate_tls12_and_tls13() {
    let node = node_with(&[]).await;
    for port in [node.tls_proxy_port, node.tls_admin_port] {
        let (version, _) = handshake(port, &rustls::version::TLS12, &[]).await.expect("TLS 1.2");
        assert_eq!(version, ProtocolVersion::TLSv1_2);
        let (version, _) = handshake(port, &rustls::version::TLS13, &[]).await.expect("TLS 1.3");
        assert_eq!(version, ProtocolVersion::TLSv1_3);
    }
}

#[tokio::test]
async fn modern_refuses_tls12_whatever_ssl_protocols_says() {
    let node = node_with(&[("KONG_SSL_CIPHER_SUITE", "modern"), ("KONG_SSL_PROTOCOLS", "TLSv1.2")]).await;
    for port in [node.tls_proxy_port, node.tls_admin_port] {
        assert!(handshake(port, &rustls::version::TLS12, &[]).await.is_err(), "TLS 1.2 on port {port}");
        let (version, _) = handshake(port, &rustls::version::TLS13, &[]).await.expect("TLS 1.3");
        assert_eq!(version, ProtocolVersion::TLSv1_3);
    }
}

#[tokio::test]
async fn custom_takes_ssl_protocols_and_openssl_cipher_names() {
    let chosen = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384;
    let other = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    let node = node_with(&[
        ("KONG_SSL_CIPHER_SUITE", "custom"),
        ("KONG_SSL_PROTOCOLS", "TLSv1.2"),
        ("KONG_SSL_CIPHERS", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"),
    ])
    .await;
    let port = node.tls_proxy_port;
    assert!(handshake(port, &rustls::version::TLS13, &[]).await.is_err(), "TLS 1.3 is not in ssl_protocols");
    assert!(handshake(port, &rustls::version::TLS12, &[other]).await.is_err(), "a suite not in ssl_ciphers");
    let agreed = handshake(port, &rustls::version::TLS12, &[other, chosen]).await.expect("a listed suite");
    assert_eq!(agreed, (ProtocolVersion::TLSv1_2, chosen));
}

#[tokio::test]
async fn sessions_resume_unless_tickets_and_the_cache_are_off() {
    let node = node_with(&[]).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client(version, &[]);
        let (_, _, first) = connect(node.tls_proxy_port, &config).await.expect("first");
        let (_, _, second) = connect(node.tls_proxy_port, &config).await.expect("second");
        assert!(!first && second, "{version:?}: resumed only the second time");
    }
    let off = node_with(&[("KONG_SSL_SESSION_TICKETS", "off"), ("KONG_SSL_SESSION_CACHE_SIZE", "0")]).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client(version, &[]);
        connect(off.tls_proxy_port, &config).await.expect("first");
        let (_, _, resumed) = connect(off.tls_proxy_port, &config).await.expect("second");
        assert!(!resumed, "{version:?}: no tickets and no cache, nothing to resume");
    }
}
