//! Watches the Kubernetes objects the translator reads, with kube-rs watchers (list + watch from the
//! listed resourceVersion, bookmarks, relist on 410 Gone, backoff on errors), into one in-memory cache.
//!
//! - Namespaced kinds are watched in every namespace, or once per `--watch-namespace`.
//! - Kong's CRDs that are not installed count as synced and empty; they are looked for again every 30 s.
//! - Secrets are watched, but only those labelled `konghq.com/credential` or `konghq.com/ca-cert`, or
//!   referenced by a watched object, are kept whole; of the others only the metadata is kept, so memory
//!   stays bounded in clusters with thousands of Secrets. A Secret that becomes referenced is read once.

use crate::objects::Objects;
use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A kind the controller watches.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// A CRD that may not be installed.
    pub optional: bool,
}

const fn kind(group: &'static str, version: &'static str, kind: &'static str, plural: &'static str) -> Kind {
    Kind { group, version, kind, plural, namespaced: true, optional: false }
}

/// Every kind the translator reads.
pub const KINDS: &[Kind] = &[
    kind("networking.k8s.io", "v1", "Ingress", "ingresses"),
    Kind { namespaced: false, ..kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses") },
    kind("", "v1", "Service", "services"),
    kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    kind("", "v1", "Secret", "secrets"),
    Kind { optional: true, ..kind("configuration.konghq.com", "v1", "KongPlugin", "kongplugins") },
    Kind {
        optional: true,
        namespaced: false,
        ..kind("configuration.konghq.com", "v1", "KongClusterPlugin", "kongclusterplugins")
    },
    Kind { optional: true, ..kind("configuration.konghq.com", "v1", "KongConsumer", "kongconsumers") },
    Kind { optional: true, ..kind("configuration.konghq.com", "v1", "KongIngress", "kongingresses") },
    Kind {
        optional: true,
        ..kind("configuration.konghq.com", "v1beta1", "KongUpstreamPolicy", "kongupstreampolicies")
    },
];

impl Kind {
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

type Key = (String, String);

/// Objects of one kind in one scope (all namespaces, or one).
struct Shard {
    objects: RwLock<BTreeMap<Key, Value>>,
    synced: AtomicBool,
}

/// The watched objects, kept current by one task per kind and scope.
pub struct Cache {
    shards: Vec<(Kind, Arc<Shard>)>,
    /// Bumped by every change; the controller translates again only when it moved.
    generation: AtomicU64,
    changed: tokio::sync::Notify,
    /// Secrets referenced by watched objects (namespace, name), kept whole.
    referenced: RwLock<HashSet<Key>>,
    client: kube::Client,
}

fn key_of(value: &Value) -> Key {
    let meta = &value["metadata"];
    let text = |f: &str| meta.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    (text("namespace"), text("name"))
}

/// Whether a Secret is kept whole regardless of references.
fn labelled(secret: &Value) -> bool {
    let labels = &secret["metadata"]["labels"];
    labels.get("konghq.com/credential").is_some() || labels.get("konghq.com/ca-cert").is_some()
}

/// A Secret reduced to what identifies it.
fn stub(secret: &Value) -> Value {
    let meta = &secret["metadata"];
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "labels": meta["labels"],
        },
        "type": secret["type"],
        "gatehouse/stub": true,
    })
}

impl Cache {
    /// Starts the watchers. Nothing is pushed until `synced()` is true.
    pub fn start(client: kube::Client, namespaces: &[String]) -> Arc<Cache> {
        let mut shards = Vec::new();
        for kind in KINDS {
            let scopes: Vec<Option<String>> = if kind.namespaced && !namespaces.is_empty() {
                namespaces.iter().cloned().map(Some).collect()
            } else {
                vec![None]
            };
            for scope in scopes {
                let shard = Arc::new(Shard { objects: RwLock::default(), synced: AtomicBool::new(false) });
                shards.push((*kind, shard.clone(), scope));
            }
        }
        let cache = Arc::new(Cache {
            shards: shards.iter().map(|(k, s, _)| (*k, s.clone())).collect(),
            generation: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            referenced: RwLock::default(),
            client: client.clone(),
        });
        for (kind, shard, scope) in shards {
            tokio::spawn(cache.clone().watch(kind, shard, scope));
        }
        cache
    }

    /// Whether every watcher has listed its objects at least once. Pushing before this could wipe the
    /// gateway's configuration from an empty cache.
    pub fn synced(&self) -> bool {
        self.shards.iter().all(|(_, s)| s.synced.load(Ordering::Acquire))
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Resolves on the next change.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// One consistent copy of everything, for the translator. Secret stubs are left out.
    pub fn objects(&self) -> Objects {
        let mut objects = Objects::default();
        for (_, shard) in &self.shards {
            let Ok(map) = shard.objects.read() else { continue };
            for value in map.values() {
                if value.get("gatehouse/stub").is_some() {
                    continue;
                }
                if let Err(error) = objects.add(value.clone()) {
                    let (namespace, name) = key_of(value);
                    tracing::warn!(%error, namespace, name, "object skipped: cannot be read");
                }
            }
        }
        objects
    }

    /// Declares which Secrets watched objects reference; newly referenced ones held as stubs are read whole.
    /// Returns whether any was read (the objects then changed).
    pub async fn set_referenced_secrets(self: &Arc<Self>, referenced: HashSet<Key>) -> bool {
        let mut read = false;
        for (namespace, name) in self.replace_referenced(referenced) {
            if !self.is_stub(&namespace, &name) {
                continue;
            }
            let resource = secret_kind().api_resource();
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &namespace, &resource);
            match api.get(&name).await {
                Ok(secret) => {
                    let value = with_type_meta(serde_json::to_value(secret).unwrap_or(Value::Null), &secret_kind());
                    self.store_secret((namespace, name), value);
                    self.bump();
                    read = true;
                }
                Err(error) => tracing::warn!(%error, namespace, name, "referenced Secret could not be read"),
            }
        }
        read
    }

    /// Records the referenced Secrets; returns those that were not referenced before.
    fn replace_referenced(&self, referenced: HashSet<Key>) -> Vec<Key> {
        let Ok(mut current) = self.referenced.write() else { return Vec::new() };
        let newly = referenced.difference(&current).cloned().collect();
        *current = referenced;
        newly
    }

    /// Whether the cache holds only the metadata of this Secret.
    fn is_stub(&self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        self.secret_shards().any(|shard| {
            shard.objects.read().is_ok_and(|m| m.get(&key).is_some_and(|v| v.get("gatehouse/stub").is_some()))
        })
    }

    /// Replaces a stub with the whole Secret, in the shard that holds it.
    fn store_secret(&self, key: Key, value: Value) {
        for shard in self.secret_shards() {
            if let Ok(mut map) = shard.objects.write() {
                if map.contains_key(&key) {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
    }

    /// How many Secrets the cache holds whole, and how many only as metadata.
    pub fn secret_counts(&self) -> (usize, usize) {
        let (mut whole, mut metadata) = (0, 0);
        for shard in self.secret_shards() {
            let Ok(map) = shard.objects.read() else { continue };
            let stubs = map.values().filter(|v| v.get("gatehouse/stub").is_some()).count();
            metadata += stubs;
            whole += map.len() - stubs;
        }
        (whole, metadata)
    }

    fn secret_shards(&self) -> impl Iterator<Item = &Arc<Shard>> {
        self.shards.iter().filter(|(k, _)| k.kind == "Secret").map(|(_, s)| s)
    }

    fn keep_whole(&self, secret: &Value) -> bool {
        labelled(secret) || self.referenced.read().is_ok_and(|r| r.contains(&key_of(secret)))
    }

    /// Prepares an object for the cache: type metadata filled in, unreferenced Secrets reduced.
    fn admit(&self, kind: &Kind, object: DynamicObject) -> Value {
        let value = with_type_meta(serde_json::to_value(object).unwrap_or(Value::Null), kind);
        if kind.kind == "Secret" && !self.keep_whole(&value) {
            return stub(&value);
        }
        value
    }

    async fn watch(self: Arc<Self>, kind: Kind, shard: Arc<Shard>, namespace: Option<String>) {
        let resource = kind.api_resource();
        let api: Api<DynamicObject> = match (&namespace, kind.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        };
        if kind.optional {
            // A CRD that is not installed: treat as synced and empty, and look again later.
            loop {
                match api.list(&ListParams::default().limit(1)).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        if !shard.synced.swap(true, Ordering::AcqRel) {
                            tracing::info!(kind = kind.kind, "CRD not installed; watching it once it is");
                            self.bump();
                        }
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, kind = kind.kind, "cannot list; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }
        let config = watcher::Config::default();
        let mut stream = Box::pin(watcher::watcher(api, config).default_backoff());
        let mut buffer: BTreeMap<Key, Value> = BTreeMap::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(object)) => {
                    let value = self.admit(&kind, object);
                    buffer.insert(key_of(&value), value);
                }
                Ok(Event::InitDone) => {
                    if let Ok(mut map) = shard.objects.write() {
                        *map = std::mem::take(&mut buffer);
                    }
                    shard.synced.store(true, Ordering::Release);
                    tracing::debug!(kind = kind.kind, "listed");
                    self.bump();
                }
                Ok(Event::Apply(object)) => {
                    let value = self.admit(&kind, object);
                    if let Ok(mut map) = shard.objects.write() {
                        map.insert(key_of(&value), value);
                    }
                    self.bump();
                }
                Ok(Event::Delete(object)) => {
                    let value = with_type_meta(serde_json::to_value(object).unwrap_or(Value::Null), &kind);
                    if let Ok(mut map) = shard.objects.write() {
                        map.remove(&key_of(&value));
                    }
                    self.bump();
                }
                Err(error) => tracing::warn!(%error, kind = kind.kind, "watch error; retrying with backoff"),
            }
        }
    }
}

fn secret_kind() -> Kind {
    kind("", "v1", "Secret", "secrets")
}

/// Watch and list items may omit `apiVersion`/`kind`; the translator needs them.
fn with_type_meta(mut value: Value, kind: &Kind) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.insert("apiVersion".into(), Value::from(kind.api_version()));
        object.insert("kind".into(), Value::from(kind.kind));
    }
    value
}
