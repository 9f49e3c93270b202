//! TLS for the proxy: certificate selection by SNI for the `https`/`grpcs` listeners, the listener-side
//! handshake, and the client configuration used for `https`/`grpcs` upstreams.
//!
//! Behaviour follows Kong 3.9 (`kong/runloop/certificate.lua`): the certificate served is the one of the
//! `snis` entity whose name equals the client's SNI, else the one matching the leftmost wildcard
//! (`*.example.com`), else the rightmost wildcard (`www.example.*`), else the `*` SNI, else the node's
//! default certificate (`ssl_cert`/`ssl_cert_key`, or a generated self-signed `localhost` certificate).
//!
//! Everything is parsed once when a [`CertStore`] is built, so a handshake only does hash lookups; the store
//! sits behind a [`SwappableResolver`] so a configuration change reaches new handshakes without touching
//! the listeners.

mod client;
mod policy;
mod server;
mod store;

pub use client::{client_config, trusting};
pub use policy::TlsPolicy;
pub use server::{accept, server_config};
pub use store::{CertStore, SwappableResolver};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// ALPN identifier of HTTP/2, offered to clients only when the listener has `http2` enabled.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN identifier of HTTP/1.1, always offered.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a certificate could not be loaded, a configuration could not be built or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM certificate (chain) could not be decoded; Kong says "could not parse PEM certificate".
    #[error("could not parse PEM certificate: {0}")]
    CertificatePem(String),
    /// The PEM text held no certificate at all.
    #[error("could not parse PEM certificate: no certificate found")]
    NoCertificate,
    /// A PEM private key could not be decoded; Kong says "could not parse PEM private key".
    #[error("could not parse PEM private key: {0}")]
    KeyPem(String),
    /// The key decoded but the crypto provider cannot sign with it (e.g. RSA under 2048 bits, P-521).
    #[error("unsupported private key: {0}")]
    UnsupportedKey(#[source] rustls::Error),
    /// The private key is not the one of the certificate's public key.
    #[error("private key does not match the certificate: {0}")]
    KeyMismatch(#[source] rustls::Error),
    /// Only one of `ssl_cert` / `ssl_cert_key` was configured.
    #[error("ssl_cert and ssl_cert_key must be configured together")]
    IncompleteDefault,
    /// The self-signed default certificate could not be generated.
    #[error("could not generate the default certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A CA certificate was rejected by the trust store.
    #[error("invalid CA certificate: {0}")]
    CaCertificate(#[source] rustls::Error),
    /// Verification was requested but no CA certificate was given to verify against.
    #[error("tls_verify is on but no CA certificate is available")]
    NoTrustAnchors,
    /// The certificate verifier could not be built from the given CAs.
    #[error("could not build the certificate verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// rustls refused the configuration (protocol versions and provider do not fit).
    #[error("invalid TLS configuration: {0}")]
    Config(#[source] rustls::Error),
    /// The client did not finish its handshake in time (slow or idle connections must not hold a task).
    #[error("TLS handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// The handshake failed (no certificate for the name, no common protocol, bad record, peer closed...).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
}

/// The single crypto provider (ring) used everywhere, so no process-wide default has to be installed and
/// feature unification elsewhere in the workspace cannot switch the backend under us.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// Decodes every certificate of a PEM text (leaf first, then intermediates, as Kong stores chains).
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::CertificatePem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(chain)
}

/// Parses a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1) into a key rustls can
/// serve or present, checking that the key belongs to the certificate so a mismatch is caught when the
/// entity is loaded rather than at every handshake.
pub fn certified_key_from_pem(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = parse_certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::KeyPem(e.to_string()))?;
    certified_key_from_der(chain, key)
}

fn certified_key_from_der(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key).map_err(TlsError::UnsupportedKey)?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(e) => Err(TlsError::KeyMismatch(e)),
    }
}

/// The certificate served when no SNI entity matches (or the client sent no SNI): the configured
/// `ssl_cert`/`ssl_cert_key` PEM texts when given, else a freshly generated self-signed certificate shaped
/// like Kong's `kong-default` one (CN `localhost`, O `Kong`, OU `IT Department`, 20 years, not a CA,
/// serverAuth+clientAuth). The generated key is ECDSA P-256 because ring cannot generate RSA keys.
pub fn default_certificate(cert_pem: Option<&str>, key_pem: Option<&str>) -> Result<Arc<CertifiedKey>, TlsError> {
    match (cert_pem, key_pem) {
        (Some(cert), Some(key)) => certified_key_from_pem(cert, key),
        (None, None) => generate_default(),
        _ => Err(TlsError::IncompleteDefault),
    }
}

fn generate_default() -> Result<Arc<CertifiedKey>, TlsError> {
    use rcgen::{DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let mut params = rcgen::CertificateParams::default();
    let name = &mut params.distinguished_name;
    name.push(DnType::CountryName, "US");
    name.push(DnType::StateOrProvinceName, "California");
    name.push(DnType::LocalityName, "San Francisco");
    name.push(DnType::OrganizationName, "Kong");
    name.push(DnType::OrganizationalUnitName, "IT Department");
    name.push(DnType::CommonName, "localhost");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(20 * 365);
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    certified_key_from_der(vec![cert.der().clone()], key_der)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn tls_generated_default_is_kong_like() {
        let key = default_certificate(None, None).unwrap();
        let der = key.end_entity_cert().unwrap().as_ref().to_vec();
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"localhost") && has(b"Kong") && has(b"IT Department"));
    }

    #[test]
    fn tls_configured_default_is_used() {
        let (cert, key) = issue(&["default.test"]);
        let loaded = default_certificate(Some(&cert), Some(&key)).unwrap();
        assert_eq!(loaded.cert, parse_certificates(&cert).unwrap());
        assert!(matches!(default_certificate(Some(&cert), None), Err(TlsError::IncompleteDefault)));
    }

    #[test]
    fn tls_pem_errors_are_typed() {
        let (cert, _) = issue(&["a.test"]);
        let (_, other_key) = issue(&["b.test"]);
        assert!(matches!(certified_key_from_pem(&cert, &other_key), Err(TlsError::KeyMismatch(_))));
        assert!(matches!(certified_key_from_pem("garbage", &other_key), Err(TlsError::NoCertificate)));
        assert!(matches!(certified_key_from_pem(&cert, "garbage"), Err(TlsError::KeyPem(_))));
    }
}
