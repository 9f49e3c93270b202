//! Certificates and SNIs, parsed once, and Kong's SNI-to-certificate selection.

use super::certified_key_from_pem;
use crate::Snapshot;
use arc_swap::ArcSwap;
use gatehouse_plugins::{ClientHelloInfo, ServerCertificate};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The SNI name Kong looks up last, before falling back to the default certificate (`DEFAULT_SNI`).
const CATCH_ALL_SNI: &str = "*";

/// A certificate entity: `cert`/`key` and, when configured, `cert_alt`/`key_alt` (typically one RSA and one
/// ECDSA certificate for the same names, so each client gets one it can verify).
#[derive(Clone)]
struct CertPair {
    main: Arc<CertifiedKey>,
    alt: Option<Arc<CertifiedKey>>,
}

impl CertPair {
    /// Picks the certificate for the client's first signature scheme that one of the two keys can sign with,
    /// i.e. in the client's order of preference, as OpenSSL does with both certificates set on a connection.
    fn pick(&self, schemes: &[SignatureScheme]) -> Arc<CertifiedKey> {
        if let Some(alt) = &self.alt {
            for scheme in schemes {
                let one = std::slice::from_ref(scheme);
                if self.main.key.choose_scheme(one).is_some() {
                    break;
                }
                if alt.key.choose_scheme(one).is_some() {
                    return alt.clone();
                }
            }
        }
        self.main.clone()
    }
}

/// All TLS certificates of one configuration, indexed for handshakes.
///
/// Built from the `certificates` and `snis` entities as the Admin API stores them; a certificate that cannot
/// be parsed is logged and left out. An SNI whose certificate is missing stays in the index and makes
/// handshakes for that name fail, as Kong does ("no SSL certificate configured for sni") instead of silently
/// serving another certificate.
pub struct CertStore {
    /// Certificate entities by `id` (also used for services' `client_certificate`).
    certificates: HashMap<String, CertPair>,
    /// Lower-cased SNI name -> its certificate (`None` when that certificate is not loaded).
    snis: HashMap<String, Option<CertPair>>,
    /// Served when nothing matches or the client sent no SNI.
    default: Option<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("certificates", &self.certificates.len())
            .field("snis", &self.snis.len())
            .field("default", &self.default.is_some())
            .finish()
    }
}

fn text<'a>(entity: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    entity.get(field).and_then(Value::as_str)
}

fn load_pair(entity: &Map<String, Value>) -> Result<CertPair, String> {
    let (Some(cert), Some(key)) = (text(entity, "cert"), text(entity, "key")) else {
        return Err("cert and key are required".into());
    };
    let main = certified_key_from_pem(cert, key).map_err(|e| e.to_string())?;
    let alt = match (text(entity, "cert_alt"), text(entity, "key_alt")) {
        (Some(cert), Some(key)) => Some(certified_key_from_pem(cert, key).map_err(|e| format!("alternate: {e}"))?),
        _ => None,
    };
    Ok(CertPair { main, alt })
}

impl CertStore {
    /// A store without certificate entities, serving only `default` (or nothing: handshakes then fail).
    pub fn empty(default: Option<Arc<CertifiedKey>>) -> CertStore {
        CertStore { certificates: HashMap::new(), snis: HashMap::new(), default }
    }

    /// Parses every certificate once and indexes the SNIs, so handshakes never touch PEM text.
    ///
    /// `certificates` are `{id, cert, key, cert_alt, key_alt, ...}`, `snis` are `{id, name, certificate: {id}}`.
    /// Entities that cannot be used are logged and skipped rather than failing the whole configuration.
    pub fn build(
        certificates: &[Map<String, Value>],
        snis: &[Map<String, Value>],
        default: Option<Arc<CertifiedKey>>,
    ) -> CertStore {
        let mut store = CertStore::empty(default);
        for entity in certificates {
            let Some(id) = text(entity, "id") else {
                tracing::warn!("skipping certificate without an id");
                continue;
            };
            match load_pair(entity) {
                Ok(pair) => {
                    store.certificates.insert(id.to_owned(), pair);
                }
                Err(error) => tracing::warn!(certificate = id, %error, "skipping certificate that could not be loaded"),
            }
        }
        for sni in snis {
            let Some(name) = text(sni, "name") else {
                tracing::warn!(sni = ?sni.get("id"), "skipping SNI without a name");
                continue;
            };
            let certificate_id = match sni.get("certificate") {
                Some(Value::Object(reference)) => text(reference, "id"),
                Some(Value::String(id)) => Some(id.as_str()),
                _ => None,
            };
            let pair = certificate_id.and_then(|id| store.certificates.get(id)).cloned();
            if pair.is_none() {
                tracing::warn!(sni = name, certificate = ?certificate_id, "SNI refers to a certificate that is not loaded; handshakes for it will fail");
            }
            store.snis.insert(name.to_ascii_lowercase(), pair);
        }
        store
    }

    /// The certificate entity `id` for a client accepting `schemes` (its `cert_alt` when preferred).
    fn entity(&self, id: &str, schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.certificates.get(id).map(|pair| pair.pick(schemes))
    }

    /// The main certificate of the certificate entity `id` (for a service's `client_certificate`).
    pub fn certificate(&self, id: &str) -> Option<Arc<CertifiedKey>> {
        self.certificates.get(id).map(|pair| pair.main.clone())
    }

    /// The certificate to serve for `server_name` (the client's SNI) to a client accepting `schemes`:
    /// exact name, then `*.rest` (first label replaced), then `prefix.*` (last label replaced), then the `*`
    /// SNI, then the default. `None` means the handshake must fail (matched SNI without a usable
    /// certificate, or no default configured).
    pub fn select(&self, server_name: Option<&str>, schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let Some(name) = server_name else {
            tracing::debug!("no SNI provided by client, serving default SSL certificate");
            return self.default.clone();
        };
        match self.find(&name.to_ascii_lowercase()) {
            Some(Some(pair)) => Some(pair.pick(schemes)),
            Some(None) => {
                tracing::error!(sni = name, "no SSL certificate configured for sni");
                None
            }
            None => self.default.clone(),
        }
    }

    fn find(&self, name: &str) -> Option<&Option<CertPair>> {
        if self.snis.is_empty() {
            return None;
        }
        if let Some(found) = self.snis.get(name) {
            return Some(found);
        }
        let (prefix, suffix) = wildcard_candidates(name);
        [prefix, suffix].into_iter().flatten().find_map(|n| self.snis.get(&n)).or_else(|| self.snis.get(CATCH_ALL_SNI))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.select(client_hello.server_name(), client_hello.signature_schemes())
    }
}

/// Kong's `produce_wild_snis`: the leftmost wildcard replaces the first label when at least three labels
/// exist (`a.b.example.com` -> `*.b.example.com`, never `*.com`), the rightmost wildcard replaces the last
/// label when at least two exist (`www.example.com` -> `www.example.*`). A name that already holds a `*`
/// yields no candidates (the exact lookup covers it).
fn wildcard_candidates(name: &str) -> (Option<String>, Option<String>) {
    if name.contains('*') {
        return (None, None);
    }
    // `([^.]+)(\.[^.]+\.\S+)` -> `*$2`
    let prefix = name.split_once('.').and_then(|(first, rest)| {
        let (second, tail) = rest.split_once('.')?;
        let tail_starts = tail.starts_with(|c: char| !c.is_whitespace());
        (!first.is_empty() && !second.is_empty() && tail_starts).then(|| format!("*.{rest}"))
    });
    // `([^.]+\.)([^.]+)$` -> `$1*`
    let suffix = name.rsplit_once('.').and_then(|(head, last)| {
        let before = head.rsplit('.').next().unwrap_or_default();
        (!last.is_empty() && !before.is_empty()).then(|| format!("{head}.*"))
    });
    (prefix, suffix)
}

/// The resolver given to listeners: it reads the current [`CertStore`] on each handshake (lock-free), so a
/// new configuration is served from the next handshake on without restarting or rebinding listeners. On the
/// proxy's listeners it first runs the global plugins' certificate phase of the current snapshot, which may
/// pick the certificate (Kong's `ssl_certificate_by_lua`).
pub struct SwappableResolver {
    current: ArcSwap<CertStore>,
    /// Where the certificate phase's plugins come from; `None` for listeners without plugins (Admin API).
    snapshots: Option<Arc<ArcSwap<Snapshot>>>,
}

impl SwappableResolver {
    /// Starts serving `store`.
    pub fn new(store: CertStore) -> SwappableResolver {
        SwappableResolver { current: ArcSwap::from_pointee(store), snapshots: None }
    }

    /// Starts serving `store`, letting the global plugins of the snapshot current at each handshake choose.
    pub fn with_plugins(store: CertStore, snapshots: Arc<ArcSwap<Snapshot>>) -> SwappableResolver {
        SwappableResolver { current: ArcSwap::from_pointee(store), snapshots: Some(snapshots) }
    }

    /// Replaces the store for every handshake that starts from now on; handshakes in progress keep theirs.
    pub fn store(&self, store: CertStore) {
        self.current.store(Arc::new(store));
    }

    /// The store currently served (e.g. to look up a `client_certificate` by id).
    pub fn current(&self) -> Arc<CertStore> {
        self.current.load_full()
    }

    /// The certificate phase: what the plugins pick for this ClientHello, if anything usable.
    fn plugin_choice(&self, store: &CertStore, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let snapshot = self.snapshots.as_ref()?.load();
        if !snapshot.plugins.has_certificate() {
            return None;
        }
        // The offered protocols on the stack: no allocation per handshake.
        let mut alpn: [&[u8]; MAX_ALPN] = [&[]; MAX_ALPN];
        let mut offered = 0;
        for (slot, protocol) in alpn.iter_mut().zip(hello.alpn().into_iter().flatten()) {
            *slot = protocol;
            offered += 1;
        }
        let info = ClientHelloInfo { sni: hello.server_name(), alpn: &alpn[..offered] };
        match snapshot.plugins.certificate(&info)? {
            ServerCertificate::Entity(id) => {
                let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let found = store.entity(id.hyphenated().encode_lower(&mut text), hello.signature_schemes());
                if found.is_none() {
                    tracing::warn!(certificate = %id, "a plugin picked a certificate that is not loaded; selecting by SNI");
                }
                found
            }
            ServerCertificate::Key(key) => match key.downcast::<CertifiedKey>() {
                Ok(key) => Some(key),
                Err(_) => {
                    tracing::warn!("a plugin picked a certificate that is not a rustls CertifiedKey; selecting by SNI");
                    None
                }
            },
        }
    }
}

/// ALPN protocols passed to the certificate phase (clients offer two or three).
const MAX_ALPN: usize = 8;

impl fmt::Debug for SwappableResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwappableResolver").field("current", &*self.current.load()).finish()
    }
}

impl ResolvesServerCert for SwappableResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let store = self.current.load();
        if let Some(picked) = self.plugin_choice(&store, &client_hello) {
            return Some(picked);
        }
        store.resolve(client_hello)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issue(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// A store with one certificate per SNI name; each certificate's id is the name it was issued for.
    fn store(names: &[&str], default: bool) -> CertStore {
        let mut certificates = Vec::new();
        let mut snis = Vec::new();
        for name in names {
            let (cert, key) = issue(name);
            certificates.push(object(json!({"id": name, "cert": cert, "key": key})));
            snis.push(object(json!({"id": format!("sni-{name}"), "name": name, "certificate": {"id": name}})));
        }
        let default = default.then(|| super::super::default_certificate(None, None).unwrap());
        CertStore::build(&certificates, &snis, default)
    }

    fn served(store: &CertStore, sni: Option<&str>) -> Option<String> {
        let key = store.select(sni, &[SignatureScheme::ECDSA_NISTP256_SHA256])?;
        let found = store.certificates.iter().find(|(_, pair)| Arc::ptr_eq(&pair.main, &key));
        Some(found.map(|(id, _)| id.clone()).unwrap_or_else(|| "default".into()))
    }

    #[test]
    fn wildcard_candidates_follow_kong() {
        let both = |n: &str| wildcard_candidates(n);
        assert_eq!(both("a.b.example.com"), (Some("*.b.example.com".into()), Some("a.b.example.*".into())));
        assert_eq!(both("www.example.com"), (Some("*.example.com".into()), Some("www.example.*".into())));
        assert_eq!(both("example.com"), (None, Some("example.*".into())));
        assert_eq!(both("localhost"), (None, None));
        assert_eq!(both("*.example.com"), (None, None));
        assert_eq!(both("a.b.c."), (Some("*.b.c.".into()), None));
    }

    #[test]
    fn selection_order_is_exact_prefix_suffix_catch_all_default() {
        let s = store(&["a.example.com", "*.example.com", "a.example.*", "*"], true);
        assert_eq!(served(&s, Some("a.example.com")).as_deref(), Some("a.example.com"));
        assert_eq!(served(&s, Some("b.example.com")).as_deref(), Some("*.example.com"));
        assert_eq!(served(&s, Some("a.example.org")).as_deref(), Some("a.example.*"));
        assert_eq!(served(&s, Some("other.test")).as_deref(), Some("*"));
        assert_eq!(served(&s, None).as_deref(), Some("default"));

        let s = store(&["*.example.com", "www.example.*"], true);
        assert_eq!(served(&s, Some("www.example.com")).as_deref(), Some("*.example.com"));
        // a leftmost wildcard stands for exactly one label
        assert_eq!(served(&s, Some("a.b.example.com")).as_deref(), Some("default"));
        assert_eq!(served(&s, Some("example.com")).as_deref(), Some("default"));
        assert_eq!(served(&s, Some("WWW.Example.NET")).as_deref(), Some("www.example.*"));
    }

    #[test]
    fn unusable_certificates_are_skipped_and_their_snis_fail() {
        let (cert, key) = issue("ok.test");
        let certificates = vec![
            object(json!({"id": "bad", "cert": "not a pem", "key": key})),
            object(json!({"id": "ok", "cert": cert, "key": key})),
        ];
        let snis = vec![
            object(json!({"id": "1", "name": "bad.test", "certificate": {"id": "bad"}})),
            object(json!({"id": "2", "name": "OK.test", "certificate": {"id": "ok"}})),
        ];
        let s = CertStore::build(&certificates, &snis, super::super::default_certificate(None, None).ok());
        assert!(s.certificate("bad").is_none());
        assert!(s.select(Some("bad.test"), &[SignatureScheme::ECDSA_NISTP256_SHA256]).is_none());
        let ok = s.select(Some("ok.TEST"), &[SignatureScheme::ECDSA_NISTP256_SHA256]).unwrap();
        assert!(Arc::ptr_eq(&ok, &s.certificate("ok").unwrap()));
        assert!(CertStore::empty(None).select(Some("ok.test"), &[]).is_none());
    }
}
