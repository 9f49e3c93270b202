//! Real TLS handshakes over loopback: which certificate the proxy listener serves for a given SNI, live
//! store swaps, ALPN, and the upstream client's verification modes.

use gatehouse_proxy::tls::{
    self, accept, client_config, server_config, CertStore, SwappableResolver, TlsError, TlsPolicy, ALPN_H2, ALPN_HTTP11,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A 2048-bit RSA key for the RSA half of the dual certificate: ring (rcgen's backend here) can sign with
/// RSA keys but cannot generate them. The certificate itself is still issued at test time.
const RSA_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDHwgAgf4q0esgB
rxI3w1De/9Nzc7AHQ8Uct7Z3Jlt8yWB0udyv8CJlOWhEpYVNKNmwPvakJFhP3OhW
llAbHljw+GQ6uNjVtljsrd2u1Dfwn6GUw+K7ZXhk8BikBLCjYfQqAmRzSp1eYWsO
uSoBabW4KKwHOzhHlCHkdjZHwtgp1aKspjTvt+IK+6U6mHS/IpjEI7RzTBCaMFZH
kXEvYFSHiq1KVS+B9OjEqNXm7Zo1pKaT2wDAHb08iu7BxLOqe93/dO4/GcXHIYrm
0Hzxd1DfsGYQSFwFpkz0GZBg+Nki3fOaq59EJTsUztMNY952I/Mk5vWa57jVS7nF
Dv2ArHQNAgMBAAECggEABHnmY01NZgqc7dY0R9sGw9B6bJivcbZw0LHYcV+ko3Dc
thDkPkXEm8DAiiYYhjKNOIqVSDrMKMEikXh1LEh/rJxYFch1zv+89r+zlh8kRuri
SSnEwIuRugzivlx4BEvCb1fr6ChPAQVjCECPXm6vDf4JbdyUddKS+GCVA2CzEG8y
Yozpy5mHZQf3/bRxcFuEb5CD8hihRMq50xiWUGrvwJzHx73BlZG0CVymVGCVf/0k
IwhBG0/j/LqQqNv3w8sGENqQKzaoy5plsSLm9366UskJV/RPTE0BDn55dTAA1+BR
L6lbYuz7CKqBhvv9QlVPdNjSbmJ9P/hZ0cAzfQTO0wKBgQD+7+8ECfLmSSxdwsEQ
0lXhWmjX1QEK0wn6Cc2ESbOXj/h4HpxFe5sLckw+iU1FUaAf72QO+XFHQghDjRA5
Rd8c4DTQrzGucvzF9rfgO2p5rrg9Wei8LmmvzIzjpdLq83xz8f8uGfLHvFTpfCGf
EroW/Pu8yG5YZRhWvu7ptHgLHwKBgQDIly4QUMdBUuDEXwacZgi0i53Mf0FZLUCq
x/eQJfEdqAnHWWSKfGPL0rw1tqx1i34vVREFLtceDc9HjZwNLl3P8m1pgkHF93VS
twICqT/e0os0QFX7yP/2DwUUWuzNfknP7H2mvzNjjG5IHrxos4i+Civkfht42IOz
+6hqHy0HUwKBgBANzfBkK/6idv/EhuHnTO8vAVEuIa2r0oIDYgTFm2Cc+VmfG9oo
SYA0B2ccwFfwJvQ74AItZRvGpbyTQoVIyB8KY2kMz0UcCpzwx22AcFkPTpzWb5iC
F7exWuHvDFQtVxX6FEaz7Zz0WCiH35oj1MIj1jpyKLi6TQkRZvwimDijAoGBAKnW
55fE7ZEv3UQnuW8/LWvBMzDtJqWdHT385m5U0dzsZKs301s2i0EPA3DvZQJ5w7PL
8QdUa6v0wWayTkkS0ze46k8FjS9ToTER50/dgkjmOBtbxfHUdHUgropXml076r90
W8eN6LMHOnEyJRD5wnQ2JIfpBtXBbXI9SJHiJ7wlAoGBAIpL50amiYxy+Yis90/L
BFoxhmJpWXq/vlqH7OFA8fs1ocwRbTNc1JXUxcR3zU7SUiiAq5ZLvy7iDpa1fBV6
Gm24Gvzp4hsvTIRrwHTw1ctYLAG0iQmYZLSTZiNspkXTyzgypU4UGn9rWYcXdrxL
WvkHthBnfjpFo08Of0y3xPvB
-----END PRIVATE KEY-----";

/// A certificate issued at test time, as PEM (for entities) and DER (to compare with what was served).
struct Issued {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn issue(names: &[&str], key: KeyPair) -> Issued {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names).unwrap().self_signed(&key).unwrap();
    Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
}

fn ecdsa(names: &[&str]) -> Issued {
    issue(names, KeyPair::generate().unwrap())
}

fn rsa(names: &[&str]) -> Issued {
    issue(names, KeyPair::from_pem(RSA_KEY).unwrap())
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn certificate_entity(id: &str, main: &Issued, alt: Option<&Issued>) -> Map<String, Value> {
    object(json!({
        "id": id,
        "cert": main.cert_pem,
        "key": main.key_pem,
        "cert_alt": alt.map(|a| a.cert_pem.clone()),
        "key_alt": alt.map(|a| a.key_pem.clone()),
        "tags": null,
    }))
}

fn sni_entity(name: &str, certificate: &str) -> Map<String, Value> {
    object(json!({"id": format!("sni-{name}"), "name": name, "certificate": {"id": certificate}}))
}

/// The certificates of the SNI tests: a default, an exact `a.test`, a wildcard `*.wild.test` and an
/// RSA (main) + ECDSA (alt) pair for `dual.test`.
struct Fixture {
    default: Issued,
    exact: Issued,
    wild: Issued,
    dual_rsa: Issued,
    dual_ecdsa: Issued,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            default: ecdsa(&["localhost"]),
            exact: ecdsa(&["a.test"]),
            wild: ecdsa(&["*.wild.test"]),
            dual_rsa: rsa(&["dual.test"]),
            dual_ecdsa: ecdsa(&["dual.test"]),
        }
    }

    fn store(&self) -> CertStore {
        let default = tls::default_certificate(Some(&self.default.cert_pem), Some(&self.default.key_pem)).unwrap();
        let certificates = [
            certificate_entity("exact", &self.exact, None),
            certificate_entity("wild", &self.wild, None),
            certificate_entity("dual", &self.dual_rsa, Some(&self.dual_ecdsa)),
        ];
        let snis = [sni_entity("a.test", "exact"), sni_entity("*.wild.test", "wild"), sni_entity("dual.test", "dual")];
        CertStore::build(&certificates, &snis, Some(default))
    }
}

/// What the listener saw of one connection: the SNI and h2 flag from `accept`, and whether the client
/// presented a certificate; or the handshake error.
type Seen = Result<(Option<String>, bool, bool), String>;

struct Server {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
}

/// A listener on 127.0.0.1:0 that completes handshakes with [`accept`], writes a greeting and closes.
async fn serve(config: Arc<rustls::ServerConfig>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match accept(&acceptor, stream, Duration::from_secs(5)).await {
                    Ok((mut tls, sni, h2)) => {
                        let client_cert = tls.get_ref().1.peer_certificates().is_some();
                        let _ = tx.send(Ok((sni, h2, client_cert)));
                        let _ = tls.write_all(b"hello").await;
                        let _ = tls.shutdown().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    Server { addr, seen }
}

async fn serve_store(store: CertStore, http2: bool) -> (Server, Arc<SwappableResolver>) {
    let resolver = Arc::new(SwappableResolver::new(store));
    let server = serve(server_config(resolver.clone(), http2, &TlsPolicy::default()).unwrap()).await;
    (server, resolver)
}

/// Trusts anything but remembers the certificate presented, and offers only `schemes`.
#[derive(Debug)]
struct Recorder {
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
    schemes: Vec<SignatureScheme>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
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
        self.schemes.clone()
    }
}

/// The result of a client handshake: the certificate served and the ALPN protocol agreed.
struct Handshake {
    cert: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
}

/// Connects with a fresh client (no session resumption), sending `sni` (none when `None`), offering `alpn`
/// and the signature `schemes` (all of ring's when `None`), and reads until the server closes.
async fn handshake(
    addr: SocketAddr,
    sni: Option<&str>,
    alpn: &[&[u8]],
    schemes: Option<&[SignatureScheme]>,
) -> std::io::Result<Handshake> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let seen = Arc::new(Mutex::new(None));
    let recorder = Recorder {
        seen: seen.clone(),
        schemes: schemes.map(<[_]>::to_vec).unwrap_or_else(|| algorithms.supported_schemes()),
        algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(recorder))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.enable_sni = sni.is_some();
    let name = ServerName::try_from(sni.unwrap_or("no-sni.invalid").to_string()).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut greeting = Vec::new();
    tls.read_to_end(&mut greeting).await?;
    assert_eq!(greeting, b"hello");
    let cert = seen.lock().unwrap().clone().expect("the server presented a certificate");
    Ok(Handshake { cert, alpn })
}

async fn served(addr: SocketAddr, sni: Option<&str>) -> CertificateDer<'static> {
    handshake(addr, sni, &[ALPN_HTTP11], None).await.unwrap().cert
}

#[tokio::test]
async fn serves_the_certificate_kong_would_pick() {
    let f = Fixture::new();
    let (mut server, _resolver) = serve_store(f.store(), true).await;
    let addr = server.addr;

    assert_eq!(served(addr, Some("a.test")).await, f.exact.der, "exact name");
    assert_eq!(server.seen.recv().await.unwrap().unwrap().0.as_deref(), Some("a.test"));
    assert_eq!(served(addr, Some("x.wild.test")).await, f.wild.der, "leftmost wildcard");
    assert_eq!(served(addr, Some("y.b.wild.test")).await, f.default.der, "a wildcard covers one label only");
    assert_eq!(served(addr, Some("unknown.test")).await, f.default.der, "unknown name");
    assert_eq!(served(addr, Some("wild.test")).await, f.default.der, "the wildcard needs a label");
    assert_eq!(served(addr, None).await, f.default.der, "no SNI");
    assert_eq!(served(addr, Some("A.TeSt")).await, f.exact.der, "names are case-insensitive");
    assert_eq!(served(addr, Some("X.WILD.TEST")).await, f.wild.der, "wildcards are case-insensitive");
}

#[tokio::test]
async fn reports_sni_lowercased_and_none_without_sni() {
    let f = Fixture::new();
    let (mut server, _resolver) = serve_store(f.store(), false).await;
    served(server.addr, Some("A.Test")).await;
    assert_eq!(server.seen.recv().await.unwrap().unwrap(), (Some("a.test".into()), false, false));
    served(server.addr, None).await;
    assert_eq!(server.seen.recv().await.unwrap().unwrap(), (None, false, false));
}

#[tokio::test]
async fn dual_certificate_follows_the_client_signature_schemes() {
    let f = Fixture::new();
    let (server, _resolver) = serve_store(f.store(), true).await;
    let rsa_only = [SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PKCS1_SHA256];
    let ecdsa_only = [SignatureScheme::ECDSA_NISTP256_SHA256];

    let got = handshake(server.addr, Some("dual.test"), &[], Some(&rsa_only)).await.unwrap();
    assert_eq!(got.cert, f.dual_rsa.der, "RSA-only client gets the RSA certificate");
    let got = handshake(server.addr, Some("dual.test"), &[], Some(&ecdsa_only)).await.unwrap();
    assert_eq!(got.cert, f.dual_ecdsa.der, "ECDSA-only client gets the ECDSA certificate");
    // rustls lists ECDSA schemes before RSA ones, and the client's order of preference decides
    let got = handshake(server.addr, Some("dual.test"), &[], None).await.unwrap();
    assert_eq!(got.cert, f.dual_ecdsa.der);
}

#[tokio::test]
async fn swapping_the_store_changes_the_certificate_without_a_restart() {
    let f = Fixture::new();
    let (server, resolver) = serve_store(f.store(), true).await;
    assert_eq!(served(server.addr, Some("a.test")).await, f.exact.der);

    // `a.test` now points at the wildcard's certificate, and the default changes
    let replacement = ecdsa(&["replacement"]);
    let default = tls::default_certificate(Some(&replacement.cert_pem), Some(&replacement.key_pem)).unwrap();
    resolver.store(CertStore::build(
        &[certificate_entity("wild", &f.wild, None)],
        &[sni_entity("A.TEST", "wild")],
        Some(default),
    ));
    assert_eq!(served(server.addr, Some("a.test")).await, f.wild.der);
    assert_eq!(served(server.addr, Some("x.wild.test")).await, replacement.der);
    assert_eq!(served(server.addr, None).await, replacement.der);
    assert!(resolver.current().certificate("wild").is_some());
    assert!(resolver.current().certificate("exact").is_none());
}

#[tokio::test]
async fn alpn_negotiates_h2_only_when_enabled_and_offered() {
    let f = Fixture::new();
    let (mut h2_server, _r1) = serve_store(f.store(), true).await;
    let got = handshake(h2_server.addr, Some("a.test"), &[ALPN_H2, ALPN_HTTP11], None).await.unwrap();
    assert_eq!(got.alpn.as_deref(), Some(ALPN_H2));
    assert!(h2_server.seen.recv().await.unwrap().unwrap().1, "accept reports h2");
    let got = handshake(h2_server.addr, Some("a.test"), &[ALPN_HTTP11], None).await.unwrap();
    assert_eq!(got.alpn.as_deref(), Some(ALPN_HTTP11));
    assert!(!h2_server.seen.recv().await.unwrap().unwrap().1);
    let got = handshake(h2_server.addr, Some("a.test"), &[], None).await.unwrap();
    assert_eq!(got.alpn, None);
    assert!(!h2_server.seen.recv().await.unwrap().unwrap().1);

    let (mut h1_server, _r2) = serve_store(f.store(), false).await;
    let got = handshake(h1_server.addr, Some("a.test"), &[ALPN_H2, ALPN_HTTP11], None).await.unwrap();
    assert_eq!(got.alpn.as_deref(), Some(ALPN_HTTP11));
    assert!(!h1_server.seen.recv().await.unwrap().unwrap().1);
    assert!(handshake(h1_server.addr, Some("a.test"), &[ALPN_H2], None).await.is_err(), "no common protocol");
}

#[tokio::test]
async fn sni_without_a_loaded_certificate_fails_the_handshake() {
    let f = Fixture::new();
    let default = tls::default_certificate(None, None).unwrap();
    let certificates = [certificate_entity("broken", &f.exact, None)].map(|mut c| {
        c.insert("cert".into(), json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
        c
    });
    let store = CertStore::build(&certificates, &[sni_entity("a.test", "broken")], Some(default));
    let (mut server, _resolver) = serve_store(store, true).await;
    assert!(handshake(server.addr, Some("a.test"), &[], None).await.is_err());
    assert!(server.seen.recv().await.unwrap().is_err());
    assert!(handshake(server.addr, Some("b.test"), &[], None).await.is_ok(), "other names get the default");
}

#[tokio::test]
async fn a_silent_client_hits_the_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let resolver = Arc::new(SwappableResolver::new(CertStore::empty(tls::default_certificate(None, None).ok())));
    let acceptor = TlsAcceptor::from(server_config(resolver, true, &TlsPolicy::default()).unwrap());
    let result = accept(&acceptor, stream, Duration::from_millis(100)).await;
    assert!(matches!(result, Err(TlsError::HandshakeTimeout(_))));
}

/// A CA and a certificate it issued for `names`.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// PEMs of the intermediate CAs between `issuer` and the root, nearest first (sent with the leaf).
    chain: String,
}

impl Pki {
    fn new() -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse test CA");
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Pki { ca_pem, issuer: Issuer::new(params, key), chain: String::new() }
    }

    /// An intermediate CA issued by this one: its certificates carry it in their chain.
    fn intermediate(&self) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse test intermediate");
        let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        Pki { ca_pem: self.ca_pem.clone(), issuer: Issuer::new(params, key), chain: pem + &self.chain }
    }

    fn issue(&self, names: &[&str]) -> Arc<rustls::sign::CertifiedKey> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &self.issuer).unwrap();
        tls::certified_key_from_pem(&(cert.pem() + &self.chain), &key.serialize_pem()).unwrap()
    }
}

/// Connects to an upstream the way the proxy would, with a configuration from [`client_config`].
async fn upstream(addr: SocketAddr, config: Arc<rustls::ClientConfig>, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut greeting = Vec::new();
    tls.read_to_end(&mut greeting).await?;
    Ok(alpn)
}

#[tokio::test]
async fn upstream_verification_follows_tls_verify_and_ca_certificates() {
    let pki = Pki::new();
    let (server, _resolver) = serve_store(CertStore::empty(Some(pki.issue(&["upstream.test"]))), true).await;
    let addr = server.addr;
    let trusted = std::slice::from_ref(&pki.ca_pem);
    let untrusted = [Pki::new().ca_pem];

    let verified = client_config(true, trusted, None, None, &[]).unwrap();
    assert!(upstream(addr, verified.clone(), "upstream.test").await.is_ok(), "signed by the given CA");
    assert!(upstream(addr, verified, "other.test").await.is_err(), "the host name is checked");
    let wrong_ca = client_config(true, &untrusted, None, None, &[]).unwrap();
    assert!(upstream(addr, wrong_ca, "upstream.test").await.is_err(), "untrusted server certificate");
    let unverified = client_config(false, &[], None, None, &[]).unwrap();
    assert!(upstream(addr, unverified, "anything.test").await.is_ok(), "tls_verify off accepts any certificate");
    assert!(matches!(client_config(true, &[], None, None, &[]), Err(TlsError::NoTrustAnchors)));
    assert!(matches!(client_config(true, &["junk".to_string()], None, None, &[]), Err(TlsError::NoCertificate)));

    let grpcs = client_config(true, trusted, None, None, &[ALPN_H2]).unwrap();
    assert_eq!(upstream(addr, grpcs, "upstream.test").await.unwrap().as_deref(), Some(ALPN_H2));
}

#[tokio::test]
async fn tls_verify_depth_limits_the_intermediates_as_nginx_does() {
    let root = Pki::new();
    let one = root.intermediate();
    let two = one.intermediate();
    let trusted = std::slice::from_ref(&root.ca_pem);
    let (short, _r1) = serve_store(CertStore::empty(Some(one.issue(&["up.test"]))), false).await;
    let (long, _r2) = serve_store(CertStore::empty(Some(two.issue(&["up.test"]))), false).await;

    let default_depth = client_config(true, trusted, None, None, &[]).unwrap();
    assert!(upstream(short.addr, default_depth.clone(), "up.test").await.is_ok(), "nginx's default allows one");
    assert!(upstream(long.addr, default_depth, "up.test").await.is_err(), "two intermediates exceed depth 1");
    let depth_two = client_config(true, trusted, Some(2), None, &[]).unwrap();
    assert!(upstream(long.addr, depth_two, "up.test").await.is_ok());
    let depth_zero = client_config(true, trusted, Some(0), None, &[]).unwrap();
    assert!(upstream(short.addr, depth_zero.clone(), "up.test").await.is_err());
    let (direct, _r3) = serve_store(CertStore::empty(Some(root.issue(&["up.test"]))), false).await;
    assert!(upstream(direct.addr, depth_zero, "up.test").await.is_ok(), "a leaf issued by the anchor itself");
}

#[tokio::test]
async fn upstream_presents_the_client_certificate_when_asked() {
    let pki = Pki::new();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls::parse_certificates(&pki.ca_pem).unwrap().remove(0)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let resolver = Arc::new(SwappableResolver::new(CertStore::empty(Some(pki.issue(&["mtls.test"])))));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_cert_resolver(resolver);
    let mut server = serve(Arc::new(config)).await;

    let with_cert = client_config(false, &[], None, Some(pki.issue(&["client.test"])), &[]).unwrap();
    assert!(upstream(server.addr, with_cert, "mtls.test").await.is_ok());
    assert!(server.seen.recv().await.unwrap().unwrap().2, "the upstream saw the client certificate");

    let without = client_config(false, &[], None, None, &[]).unwrap();
    assert!(upstream(server.addr, without, "mtls.test").await.is_err());
    assert!(server.seen.recv().await.unwrap().is_err(), "the upstream refused the anonymous client");
}
