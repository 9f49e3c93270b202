//! The upstream side: client configurations for `https`/`grpcs` services.

use super::{parse_certificates, provider, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Builds the TLS client configuration for connecting to an upstream.
///
/// * `verify` is the service's `tls_verify`. Off (Kong's default for services) accepts any certificate and
///   host name, like `proxy_ssl_verify off`; the handshake signature is still checked, so the peer must own
///   the key of the certificate it presents. On, the chain and host name are verified against `ca_pems`.
/// * `ca_pems` are the PEM texts of the service's `ca_certificates` (each may hold several certificates); no
///   system roots are added, so `verify` without any CA is an error ([`TlsError::NoTrustAnchors`]). Kong
///   behaves the same: its proxy location has no default trust store, so such handshakes always fail.
/// * `verify_depth` is the service's `tls_verify_depth`: how many intermediate CA certificates the verified
///   chain may hold between the server's certificate and the trust anchor (OpenSSL's verify depth). Kong
///   leaves it to nginx when unset, whose `proxy_ssl_verify_depth` defaults to 1.
/// * `client_cert` is the service's `client_certificate`, presented when the upstream asks for one.
/// * `alpn` lists the protocols to offer, e.g. `[ALPN_H2]` for `grpcs`, empty for plain HTTP/1.1.
pub fn client_config(
    verify: bool,
    ca_pems: &[String],
    verify_depth: Option<u8>,
    client_cert: Option<Arc<CertifiedKey>>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        let mut roots = RootCertStore::empty();
        for pem in ca_pems {
            for certificate in parse_certificates(pem)? {
                roots.add(certificate).map_err(TlsError::CaCertificate)?;
            }
        }
        if roots.is_empty() {
            return Err(TlsError::NoTrustAnchors);
        }
        depth_limited(roots, verify_depth.unwrap_or(NGINX_VERIFY_DEPTH), &provider)?
    } else {
        Arc::new(AcceptAnyServerCert { algorithms: provider.signature_verification_algorithms })
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_cert {
        Some(key) => builder.with_client_cert_resolver(Arc::new(FixedClientCert(key))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration that verifies servers against `trusted` (host name included) with at most
/// `verify_depth` intermediates: the node's own TLS clients, e.g. active `https` health checks, which trust
/// `lua_ssl_trusted_certificate` as Kong's cosockets do.
pub fn trusting(trusted: &[CertificateDer<'static>], verify_depth: u8) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(trusted.iter().cloned());
    if roots.is_empty() {
        return Err(TlsError::NoTrustAnchors);
    }
    let provider = provider();
    let verifier = depth_limited(roots, verify_depth, &provider)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn depth_limited(
    roots: RootCertStore,
    max_intermediates: u8,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let roots = Arc::new(roots);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
    Ok(Arc::new(DepthLimitedVerifier {
        webpki,
        roots,
        max_intermediates: usize::from(max_intermediates),
        algorithms: provider.signature_verification_algorithms,
    }))
}

/// nginx's default `proxy_ssl_verify_depth`, which Kong keeps when a service has no `tls_verify_depth`.
const NGINX_VERIFY_DEPTH: u8 = 1;

/// `tls_verify = true`: rustls' WebPKI verification (chain, validity, host name), plus OpenSSL's verify
/// depth, which WebPKI has no setting for. The depth check builds the path again with a callback that
/// refuses longer paths, so a shorter path through other presented intermediates is still found.
#[derive(Debug)]
struct DepthLimitedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    max_intermediates: usize,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for DepthLimitedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        if intermediates.len() <= self.max_intermediates {
            return Ok(verified);
        }
        let too_deep = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(webpki::Error::MaximumPathDepthExceeded),
        )));
        let certificate = webpki::EndEntityCert::try_from(end_entity).map_err(|_| too_deep.clone())?;
        let max = self.max_intermediates;
        let within_depth = |path: &webpki::VerifiedPath<'_>| {
            if path.intermediate_certificates().count() <= max {
                Ok(())
            } else {
                Err(webpki::Error::MaximumPathDepthExceeded)
            }
        };
        certificate
            .verify_for_usage(
                self.algorithms.all,
                &self.roots.roots,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                Some(&within_depth),
            )
            .map(|_| verified)
            .map_err(|_| too_deep)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `tls_verify = false`: trusts whatever certificate the upstream presents, but still verifies the handshake
/// signature with it (as OpenSSL does with verification off).
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Presents the service's `client_certificate` whenever the upstream requests one.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
