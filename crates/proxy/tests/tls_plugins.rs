//! The certificate phase during real TLS handshakes on the proxy listener: a global plugin sees the
//! ClientHello and picks the server certificate (a configured entity, or a key it holds itself); when it
//! picks nothing, the usual SNI selection applies.

mod plugin_common;

use gatehouse_plugins::runtime::{DynPlugin, Phases, Plugin};
use gatehouse_plugins::{ClientHelloInfo, Registry, ServerCertificate};
use gatehouse_proxy::tls::{self, CertStore};
use gatehouse_proxy::{Proxy, ProxyOptions, Snapshot};
use plugin_common::{listen, map, publish_with_plugins};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The SNI and ALPN offer of one ClientHello.
type Hello = (Option<String>, Vec<Vec<u8>>);

/// What the plugin saw, in handshake order.
static SEEN: Mutex<Vec<Hello>> = Mutex::new(Vec::new());

const PICKED_ENTITY: &str = "00000000-0000-4000-8000-0000000000c2";

struct Picker {
    own: Arc<rustls::sign::CertifiedKey>,
}

impl Plugin for Picker {
    fn phases(&self) -> Phases {
        Phases { certificate: true, ..Phases::default() }
    }

    fn certificate(&self, hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate> {
        let alpn = hello.alpn.iter().map(|p| p.to_vec()).collect();
        SEEN.lock().unwrap().push((hello.sni.map(str::to_string), alpn));
        match hello.sni? {
            "entity.test" => Some(ServerCertificate::Entity(PICKED_ENTITY.parse().ok()?)),
            "own.test" => Some(ServerCertificate::Key(self.own.clone())),
            "unknown.test" => Some(ServerCertificate::Entity(uuid::Uuid::nil())),
            _ => None,
        }
    }
}

fn picker(config: &Value) -> Result<Arc<dyn DynPlugin>, String> {
    let text = |field: &str| config.get(field).and_then(Value::as_str).ok_or(format!("{field} missing"));
    let own = tls::certified_key_from_pem(text("cert")?, text("key")?).map_err(|e| e.to_string())?;
    Ok(Arc::new(Picker { own }))
}

/// A self-signed certificate for `name`: PEM (cert, key) and the DER the client will see.
fn issue(name: &str) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// The leaf certificate the proxy served for `sni`, through a real HTTPS request (the 404 answer proves
/// the connection went on to the proxy).
async fn served(port: u16, sni: &str) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .resolve(sni, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap();
    let reply = client.get(format!("https://{sni}:{port}/nowhere")).send().await.unwrap();
    assert_eq!(reply.status(), 404);
    let info = reply.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a server certificate").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_picks_the_server_certificate_during_the_handshake() {
    let (sni_cert, sni_key, sni_der) = issue("a.test");
    let (picked_cert, picked_key, picked_der) = issue("picked.test");
    let (own_cert, own_key, own_der) = issue("own.test");
    let (default_cert, default_key, default_der) = issue("localhost");

    let proxy = Proxy::new(ProxyOptions::default()).unwrap();
    let certificates = [
        map(json!({"id": "00000000-0000-4000-8000-0000000000c1", "cert": sni_cert, "key": sni_key})),
        map(json!({"id": PICKED_ENTITY, "cert": picked_cert, "key": picked_key})),
    ];
    let snis = [map(json!({"id": "00000000-0000-4000-8000-0000000000d1", "name": "a.test",
                           "certificate": {"id": "00000000-0000-4000-8000-0000000000c1"}}))];
    let default = tls::default_certificate(Some(&default_cert), Some(&default_key)).unwrap();
    proxy.certificates().store(CertStore::build(&certificates, &snis, Some(default)));

    let mut registry = Registry::default();
    registry.register("picker", 10, picker);
    let plugin = map(json!({"id": "00000000-0000-4000-8000-0000000000e1", "name": "picker", "enabled": true,
                            "config": {"cert": own_cert, "key": own_key}}));
    publish_with_plugins(&proxy, Snapshot::build(&[], &[], 1), &registry, &[plugin]);
    let port = listen(&proxy, true).await;

    assert_eq!(served(port, "entity.test").await, picked_der, "a configured certificate, by id");
    assert_eq!(served(port, "own.test").await, own_der, "the plugin's own key");
    assert_eq!(served(port, "a.test").await, sni_der, "no pick: selection by SNI");
    assert_eq!(served(port, "other.test").await, default_der, "no pick, no SNI match: the default");
    assert_eq!(served(port, "unknown.test").await, default_der, "an unknown id falls back to SNI selection");

    let seen = SEEN.lock().unwrap().clone();
    let names: Vec<Option<&str>> = seen.iter().map(|(sni, _)| sni.as_deref()).collect();
    assert_eq!(
        names,
        [Some("entity.test"), Some("own.test"), Some("a.test"), Some("other.test"), Some("unknown.test")],
        "the phase runs once per handshake, with the ClientHello's SNI"
    );
    assert!(seen[0].1.contains(&b"h2".to_vec()), "the ClientHello's ALPN offer: {:?}", seen[0].1);

    // A new snapshot without the plugin: the next handshake selects by SNI alone.
    proxy.publish(Snapshot::build(&[], &[], 2));
    assert_eq!(served(port, "entity.test").await, default_der);
    assert_eq!(SEEN.lock().unwrap().len(), 5);
}
