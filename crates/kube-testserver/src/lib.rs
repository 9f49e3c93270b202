//! `kube-testserver`: a small, real HTTP server speaking enough of the Kubernetes API for kube-rs
//! controllers, kubectl and local development. Objects are JSON documents kept in memory; there is no
//! authentication, authorization, admission or schema validation.
//!
//! Served: discovery (`/api`, `/apis`, group versions, `/version`, an OpenAPI v3 index that makes kubectl
//! leave validation to the server, an empty OpenAPI v2 document for older kubectl), the built-in kinds
//! Namespace, Service, Endpoints, Secret, ConfigMap, Pod, Event, ServiceAccount (core/v1), EndpointSlice,
//! Ingress, IngressClass, Lease, Event (events.k8s.io/v1) and CustomResourceDefinition, plus every kind
//! defined by a CRD. Operations: create, get, list (selectors, `limit`/`continue`), update, merge / JSON /
//! strategic merge patches, server-side apply (as a merge patch), delete, delete-collection, `/status`,
//! watches (resourceVersion, bookmarks, streaming lists, `410 Gone`), `dryRun`, finalizers, Terminating
//! namespaces.
//!
//! In-process use:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = kube_testserver::TestServer::start().await?;
//! let kubeconfig_yaml = server.kubeconfig(); // for kube::config::Kubeconfig::from_yaml
//! server.set_unavailable(true); // every API request now gets 503
//! # Ok(()) }
//! ```
//!
//! As a process: `kube-testserver --listen 127.0.0.1:0 --kubeconfig-out FILE` prints
//! `listening on http://127.0.0.1:PORT` once the kubeconfig is written. Outages can then be simulated
//! through `POST /_testserver/availability?mode=available|unavailable|stall|refuse[&forMs=N]`;
//! `POST /_testserver/close-watches`, `POST /_testserver/compact` (forget the watch history) and
//! `POST /_testserver/apply` (a YAML manifest body) are also there.

mod discovery;
mod handlers;
mod kubeconfig;
mod list;
mod ops;
mod patch;
mod protobuf;
mod resources;
mod selectors;
mod server;
mod status;
mod store;
mod util;
mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize as _;
use serde_json::Value;
use tokio::net::TcpListener;

pub use kubeconfig::{kubeconfig_yaml, write_kubeconfig, CONTEXT};
pub use server::Availability;
pub use status::ApiError;

use ops::Target;
use server::Shared;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How many change events are kept for watches resuming from a resourceVersion; older ones get
    /// `410 Gone` (reason `Expired`).
    pub history_limit: usize,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// How long watches without `timeoutSeconds` last.
    pub default_watch_timeout: Duration,
    /// Create the `default`, `kube-system`, `kube-public` and `kube-node-lease` namespaces at startup.
    pub default_namespaces: bool,
    /// How long a deleted namespace stays `Terminating` before it and its objects are removed.
    pub namespace_deletion_delay: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            history_limit: 1000,
            bookmark_interval: Duration::from_secs(5),
            default_watch_timeout: Duration::from_secs(1800),
            default_namespaces: true,
            namespace_deletion_delay: Duration::from_millis(250),
        }
    }
}

/// Control over a running server: its address, simulated outages, direct object access.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.address
    }

    /// `http://127.0.0.1:PORT` (a wildcard listen address is reported as loopback).
    pub fn url(&self) -> String {
        let mut addr = self.shared.address;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// A kubeconfig (YAML) for this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        write_kubeconfig(path.as_ref(), &self.url())
    }

    pub fn availability(&self) -> Availability {
        self.shared.availability()
    }

    /// Switches simulated outages on and off; see [`Availability`].
    pub fn set_availability(&self, availability: Availability) {
        self.shared.set_availability(availability);
    }

    /// `true`: every API request gets `503 ServiceUnavailable` and open watches end; `false`: back to normal.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.set_availability(if unavailable { Availability::Unavailable } else { Availability::Available });
    }

    /// Ends every open watch (clients reconnect from their last resourceVersion).
    pub fn close_watches(&self) {
        self.shared.close_watches();
    }

    /// Drops every open connection.
    pub fn close_connections(&self) {
        self.shared.close_connections();
    }

    /// Forgets the event history: watches resuming from an older resourceVersion get `410 Gone`.
    pub fn compact_history(&self) {
        self.shared.store.lock().compact();
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().current_rv()
    }

    /// Creates or replaces the objects of a (multi-document) YAML or JSON manifest, bypassing simulated
    /// outages. Namespaced objects without a namespace go to `default`. Returns how many were applied.
    pub fn apply_manifest(&self, manifest: &str) -> Result<usize, ApiError> {
        apply_manifest(&self.shared, manifest)
    }

    /// Deletes an object as `DELETE` would (objects with finalizers become Terminating), bypassing
    /// simulated outages; returns it as stored afterwards.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let mut inner = self.shared.store.lock();
        let (ty, version) = inner
            .registry
            .find_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request(format!("no kind {kind:?} is served in {api_version:?}")))?;
        let target = Target { namespace: ty.namespaced.then(|| namespace.to_string()), ty, version };
        let (object, _) = ops::delete(&mut inner, &target, name, &ops::DeleteOptions::default())?;
        Ok(ops::present(&object, &target.ty, &target.version))
    }

    /// An object by `apiVersion`, `kind`, namespace (ignored for cluster-scoped kinds) and name.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.shared.store.lock();
        let (ty, version) = inner.registry.find_kind(api_version, kind)?;
        let ns = if ty.namespaced { namespace } else { "" };
        inner.get(&ty.key(), ns, name).map(|o| ops::present(&o, &ty, &version))
    }
}

/// Prepares a server on `listener`: the handle, and the future that serves until the listener fails.
pub fn server(
    listener: TcpListener,
    options: ServerOptions,
) -> std::io::Result<(ServerHandle, impl Future<Output = std::io::Result<()>> + Send + 'static)> {
    let address = listener.local_addr()?;
    let shared = Arc::new(Shared::new(options, address));
    if shared.options.default_namespaces {
        let namespaces = ["default", "kube-system", "kube-public", "kube-node-lease"]
            .map(|n| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}\n"))
            .join("---\n");
        apply_manifest(&shared, &namespaces).map_err(std::io::Error::other)?;
    }
    let handle = ServerHandle { shared: shared.clone() };
    Ok((handle, server::accept_loop(listener, shared)))
}

/// Serves on `listener` until it fails.
pub async fn serve(listener: TcpListener, options: ServerOptions) -> std::io::Result<()> {
    let (_, serving) = server(listener, options)?;
    serving.await
}

/// A server running in the current tokio runtime; stopped when dropped.
pub struct TestServer {
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts on a free port of 127.0.0.1 with default options.
    pub async fn start() -> std::io::Result<TestServer> {
        TestServer::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> std::io::Result<TestServer> {
        TestServer::start_on("127.0.0.1:0".parse().expect("address"), options).await
    }

    pub async fn start_on(addr: SocketAddr, options: ServerOptions) -> std::io::Result<TestServer> {
        let (handle, serving) = server(TcpListener::bind(addr).await?, options)?;
        Ok(TestServer { handle, task: tokio::spawn(serving) })
    }

    /// A cloneable handle that outlives borrow scopes (e.g. for moving into tasks).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and drops the open ones.
    pub fn shutdown(&self) {
        self.task.abort();
        self.handle.close_connections();
    }
}

impl std::ops::Deref for TestServer {
    type Target = ServerHandle;

    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Parses a multi-document YAML (or JSON) manifest; `kind: List` documents contribute their items.
fn manifest_objects(manifest: &str) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
        let v = Value::deserialize(doc).map_err(|e| ApiError::bad_request(format!("manifest: {e}")))?;
        match v {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                out.extend(m.get("items").and_then(Value::as_array).cloned().unwrap_or_default());
            }
            v => out.push(v),
        }
    }
    Ok(out)
}

pub(crate) fn apply_manifest(shared: &Shared, manifest: &str) -> Result<usize, ApiError> {
    let objects = manifest_objects(manifest)?;
    let mut inner = shared.store.lock();
    for obj in &objects {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let (api_version, kind) = (s("/apiVersion"), s("/kind"));
        let (ty, version) = inner
            .registry
            .find_kind(&api_version, &kind)
            .ok_or_else(|| ApiError::bad_request(format!("no kind {kind:?} is served in {api_version:?}")))?;
        let ns = Some(s("/metadata/namespace")).filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let target = Target { namespace: ty.namespaced.then_some(ns), ty, version };
        let name = s("/metadata/name");
        let mut obj = obj.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        let obj = &obj;
        let stored = match ops::get(&inner, &target, &name) {
            Ok(_) => ops::update(&mut inner, &target, &name, obj.clone(), false)?,
            Err(_) => ops::create(&mut inner, &target, obj.clone(), false)?,
        };
        // Seeded objects keep the status they were written with.
        if target.ty.status_subresource && !target.ty.is_crd() && obj.get("status").is_some() {
            let name = stored.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            ops::update_status(&mut inner, &target, &name, obj.clone(), false)?;
        }
    }
    Ok(objects.len())
}
