//! Certificates and SNIs from Ingress TLS sections and Service client certificates (KIC's `ingressrules.go`
//! `SecretNameToSNIs` and `translate_certs.go`), and CA certificates (`translate_cacerts.go`).

use super::der::{check_ca_cert, check_key_pair, trim_ascii};
use super::meta::{annotations, labels, name_of, ns_of, obj_ref, tags_for, Ctx};
use super::ObjectRef;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Secrets (`namespace/name`) to the SNIs they serve; a host can be claimed by one secret only (first wins).
#[derive(Debug, Default)]
pub(crate) struct SecretSnis {
    entries: BTreeMap<String, SniEntry>,
    seen_hosts: HashSet<String>,
}

#[derive(Debug, Default)]
struct SniEntry {
    hosts: Vec<String>,
    parents: Vec<ObjectRef>,
    parent_set: HashSet<ObjectRef>,
}

impl SecretSnis {
    /// `addFromIngressV1TLS`.
    pub(crate) fn add_from_ingress_tls(&mut self, ing: &Ingress) {
        let parent = obj_ref::<Ingress>(&ing.metadata);
        for tls in ing.spec.as_ref().and_then(|s| s.tls.as_ref()).into_iter().flatten() {
            let hosts = tls.hosts.as_deref().unwrap_or(&[]);
            let secret = tls.secret_name.as_deref().unwrap_or("");
            if hosts.is_empty() || secret.is_empty() {
                continue;
            }
            let key = format!("{}/{secret}", ns_of(&ing.metadata));
            self.add_hosts(&key, hosts);
            self.add_parent(&key, parent.clone());
        }
    }

    fn add_hosts(&mut self, key: &str, hosts: &[String]) {
        let entry = self.entries.entry(key.to_string()).or_default();
        for host in hosts {
            if self.seen_hosts.insert(host.clone()) {
                entry.hosts.push(host.clone());
            }
        }
    }

    /// Makes sure the secret becomes a certificate (client certificates) and records who asked for it.
    pub(crate) fn add_parent(&mut self, key: &str, parent: ObjectRef) {
        let entry = self.entries.entry(key.to_string()).or_default();
        if entry.parent_set.insert(parent.clone()) {
            entry.parents.push(parent);
        }
    }
}

/// A Kong certificate.
#[derive(Debug, Clone)]
pub(crate) struct KCert {
    pub id: String,
    pub cert: String,
    pub key: String,
    pub tags: Vec<String>,
    pub snis: Vec<String>,
}

/// A Kong CA certificate.
#[derive(Debug, Clone)]
pub(crate) struct KCaCert {
    pub id: String,
    pub cert: String,
    pub tags: Vec<String>,
}

fn secret_data<'s>(secret: &'s Secret, key: &str) -> Option<&'s [u8]> {
    secret.data.as_ref()?.get(key).map(|b| b.0.as_slice())
}

fn secret_ref(secret: &Secret) -> ObjectRef {
    obj_ref::<Secret>(&secret.metadata)
}

/// `getCertFromSecret`: `tls.crt` and `tls.key`, trimmed, forming a valid key pair.
fn cert_from_secret(secret: &Secret) -> Result<(String, String), String> {
    let (Some(cert), Some(key)) = (secret_data(secret, "tls.crt"), secret_data(secret, "tls.key")) else {
        return Err(format!(
            "no keypair could be found in secret '{}/{}'",
            ns_of(&secret.metadata),
            name_of(&secret.metadata)
        ));
    };
    let (cert, key) = (trim_ascii(cert), trim_ascii(key));
    check_key_pair(cert, key).map_err(|e| {
        format!("parsing TLS key-pair in secret '{}/{}': {e}", ns_of(&secret.metadata), name_of(&secret.metadata))
    })?;
    Ok((String::from_utf8_lossy(cert).into_owned(), String::from_utf8_lossy(key).into_owned()))
}

struct CertWrapper {
    identifier: String,
    cert: KCert,
    created: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    snis: Vec<String>,
}

/// `getCerts` + `mergeCerts`: one certificate per distinct cert+key pair (the oldest secret's UID wins), SNIs
/// sorted. Also returns the map from every secret UID to the id of the certificate it was merged into.
pub(crate) fn get_certs(ctx: &Ctx, snis: &SecretSnis) -> (Vec<KCert>, HashMap<String, String>) {
    let mut wrappers = Vec::new();
    for (key, entry) in &snis.entries {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        let Some(secret) = ctx.secret(ns, name) else {
            ctx.fail_all(&entry.parents, &format!("Failed to fetch the secret ({key})"));
            continue;
        };
        let (cert, tls_key) = match cert_from_secret(secret) {
            Ok(pair) => pair,
            Err(_) => {
                let mut causes = entry.parents.clone();
                causes.push(secret_ref(secret));
                ctx.fail_all(&causes, "failed to construct certificate from secret");
                continue;
            }
        };
        wrappers.push(CertWrapper {
            identifier: format!("{cert}{tls_key}"),
            cert: KCert {
                id: secret.metadata.uid.clone().unwrap_or_default(),
                cert,
                key: tls_key,
                tags: tags_for(&secret_ref(secret), annotations(&secret.metadata)),
                snis: Vec::new(),
            },
            created: secret.metadata.creation_timestamp.clone(),
            snis: entry.hosts.clone(),
        });
    }

    let mut snis_seen: HashSet<String> = HashSet::new();
    let mut merged: Vec<CertWrapper> = Vec::new();
    let mut by_identifier: HashMap<String, usize> = HashMap::new();
    let mut id_sets: Vec<Vec<String>> = Vec::new();
    for cw in wrappers {
        let idx = match by_identifier.get(&cw.identifier) {
            Some(&i) => {
                let current = &mut merged[i];
                let older = match (&current.created, &cw.created) {
                    (Some(a), Some(b)) => a > b,
                    (Some(_), None) => true,
                    _ => false,
                };
                if older || (current.created == cw.created && current.cert.id > cw.cert.id) {
                    current.cert.id = cw.cert.id.clone();
                    current.created = cw.created.clone();
                }
                i
            }
            None => {
                by_identifier.insert(cw.identifier.clone(), merged.len());
                merged.push(CertWrapper {
                    identifier: cw.identifier.clone(),
                    cert: cw.cert.clone(),
                    created: cw.created.clone(),
                    snis: Vec::new(),
                });
                id_sets.push(Vec::new());
                merged.len() - 1
            }
        };
        for sni in &cw.snis {
            if snis_seen.insert(sni.clone()) {
                merged[idx].cert.snis.push(sni.clone());
            }
        }
        id_sets[idx].push(cw.cert.id.clone());
    }

    let mut ids = HashMap::new();
    for (cw, set) in merged.iter().zip(&id_sets) {
        for id in set {
            ids.insert(id.clone(), cw.cert.id.clone());
        }
    }
    let certs = merged
        .into_iter()
        .map(|mut cw| {
            cw.cert.snis.sort();
            cw.cert
        })
        .collect();
    (certs, ids)
}

/// `getCACerts`: Secrets labelled `konghq.com/ca-cert: "true"` holding `id` and `cert` (or `ca.crt`).
pub(crate) fn get_ca_certs(ctx: &Ctx) -> Vec<KCaCert> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut winners: BTreeMap<String, &Secret> = BTreeMap::new();
    for secret in &ctx.objects.secrets {
        if labels(&secret.metadata).get("konghq.com/ca-cert").map(String::as_str) != Some("true") {
            continue;
        }
        let Some(id) = secret_data(secret, "id") else {
            ctx.fail(&secret_ref(secret), "invalid secret CA certificate: missing 'id' field in data");
            continue;
        };
        let id = String::from_utf8_lossy(id).into_owned();
        let Some(existing) = winners.get(&id).copied() else {
            winners.insert(id, secret);
            continue;
        };
        let key = |s: &Secret| {
            (s.metadata.creation_timestamp.clone(), ns_of(&s.metadata).to_string(), name_of(&s.metadata).to_string())
        };
        let (winner, loser) = if key(existing) <= key(secret) { (existing, secret) } else { (secret, existing) };
        winners.insert(id, winner);
        ctx.fail(&secret_ref(loser), "invalid secret CA certificate: duplicate 'id' field in multiple objects");
    }

    let mut out = Vec::new();
    for (id, secret) in winners {
        let (ns, name) = (ns_of(&secret.metadata), name_of(&secret.metadata));
        let Some(cert) = secret_data(secret, "cert").or_else(|| secret_data(secret, "ca.crt")) else {
            let mut causes = plugins_referring_ca(ctx, &id);
            causes.push(secret_ref(secret));
            ctx.fail_all(
                &causes,
                &format!("invalid secret CA certificate {ns}/{name}, neither \"cert\" nor \"ca.crt\" key exist"),
            );
            continue;
        };
        match check_ca_cert(cert, now) {
            Ok(pem) => {
                out.push(KCaCert { id, cert: pem, tags: tags_for(&secret_ref(secret), annotations(&secret.metadata)) })
            }
            Err(e) => {
                let mut causes = plugins_referring_ca(ctx, &id);
                causes.push(secret_ref(secret));
                ctx.fail_all(&causes, &format!("invalid secret CA certificate: {e}"));
            }
        }
    }
    out
}

/// Plugins whose `config.ca_certificates` names the CA certificate id.
fn plugins_referring_ca(ctx: &Ctx, id: &str) -> Vec<ObjectRef> {
    let refers = |config: &Option<serde_json::Value>| {
        config
            .as_ref()
            .and_then(|c| c.get("ca_certificates"))
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(id)))
    };
    let mut refs: Vec<ObjectRef> =
        ctx.kong_plugins.values().filter(|p| refers(&p.config)).map(|p| p.meta.r.clone()).collect();
    refs.extend(ctx.cluster_plugins.values().filter(|p| refers(&p.config)).map(|p| p.meta.r.clone()));
    refs.sort();
    refs
}
