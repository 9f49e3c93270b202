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
///   system roots are added, so `verify` without any CA is an error ([`TlsError::NoTrustAnchors`]).
/// * `client_cert` is the service's `client_certificate`, presented when the upstream asks for one.
/// * `alpn` lists the protocols to offer, e.g. `[ALPN_H2]` for `grpcs`, empty for plain HTTP/1.1.
pub fn client_config(
    verify: bool,
    ca_pems: &[String],
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
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?
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
