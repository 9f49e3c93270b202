//! Translation of Kubernetes objects into a Kong declarative configuration (`_format_version: "3.0"`), following
//! Kong's ingress controller (KIC 3.x, `internal/dataplane/translator` and `internal/dataplane/kongstate`) and the
//! way its `deckgen` package renders the result (sorting, defaults, deterministic ids).
//!
//! The entry points are [`translate`] and [`translate_excluding`] (KIC's fallback configuration: objects rejected
//! by the gateway, and everything that depends on them, are left out).

mod certs;
mod consumers;
mod der;
mod expression;
mod fallback;
mod ingress;
mod meta;
mod overrides;
mod plugins;
mod policy;
mod render;
mod upstreams;

use crate::objects::Objects;
use serde_json::Value;

/// The translator's environment: what KIC gets from its flags, feature gates and the gateway it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The ingress class this controller serves (`--ingress-class`, default `kong`).
    pub ingress_class: String,
    /// Routes use Kong's expressions router (`router_flavor = expressions`): `expression` + `priority`.
    pub expression_routes: bool,
    /// Appended to `<svc>.<ns>.svc` for service-upstream targets (`--cluster-domain`, empty by default).
    pub cluster_domain: String,
    /// Kong workspace; it prefixes the keys of the deterministic ids (empty: none).
    pub workspace: String,
    /// Fill deterministic UUIDv5 ids into services, routes, consumers and plugins (`FillIDs` gate, default on).
    pub fill_ids: bool,
    /// Translate `konghq.com/rewrite` (`RewriteURIs` gate, default off: such Ingresses' services are dropped).
    pub rewrite_uris: bool,
    /// Keep terminating endpoints as targets with weight 0 (`--enable-drain-support`, default off).
    pub enable_drain_support: bool,
    /// IngressClassParameters `enableLegacyRegexDetection` (Kong 2.x regex path heuristic).
    pub enable_legacy_regex_detection: bool,
    /// IngressClassParameters `serviceUpstream`: every Service is used through its DNS name.
    pub service_upstream: bool,
    /// The Kong Gateway version (sticky sessions need 3.11).
    pub kong_version: (u64, u64, u64),
    /// DB-less mode: an empty configuration gets a stub upstream named `kong` (KIC's `AppendStubEntityWhenConfigEmpty`).
    pub stub_upstream_when_empty: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ingress_class: "kong".to_string(),
            expression_routes: false,
            cluster_domain: String::new(),
            workspace: String::new(),
            fill_ids: true,
            rewrite_uris: false,
            enable_drain_support: false,
            enable_legacy_regex_detection: false,
            service_upstream: false,
            kong_version: (3, 9, 1),
            stub_upstream_when_empty: true,
        }
    }
}

/// Identifies a Kubernetes object (as KIC's `k8s-*` tags and its fallback `ObjectHash` do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    /// `group/version`, or just `version` for the core group (`v1`).
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl ObjectRef {
    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
    }

    /// The API version without its group.
    pub fn version(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(&self.api_version)
    }

    /// Rebuilds the reference from an entity's `k8s-*` tags (as KIC does with the gateway's flattened errors).
    pub fn from_tags<S: AsRef<str>>(tags: &[S]) -> Option<ObjectRef> {
        ObjectRef::from_k8s(&crate::sync::K8sObjectRef::from_tags(tags.iter().map(AsRef::as_ref)))
    }

    /// The reference the sync reports for an entity (from the same tags); `None` without a kind and a name.
    pub fn from_k8s(object: &crate::sync::K8sObjectRef) -> Option<ObjectRef> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let (kind, name) = (text(&object.kind), text(&object.name));
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let (group, version) = (text(&object.group), text(&object.version));
        let api_version = if group.is_empty() || group == "core" { version } else { format!("{group}/{version}") };
        Some(ObjectRef { kind, api_version, namespace: text(&object.namespace), name, uid: text(&object.uid) })
    }

    /// Whether both references name the same object: kind, group, namespace and name equal, and the uids too
    /// when both are known.
    pub fn matches(&self, other: &ObjectRef) -> bool {
        self.kind == other.kind
            && self.group() == other.group()
            && self.namespace == other.namespace
            && self.name == other.name
            && (self.uid.is_empty() || other.uid.is_empty() || self.uid == other.uid)
    }
}

/// A problem found while translating one object (KIC turns these into `KongConfigurationTranslationFailed` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationFailure {
    pub object: ObjectRef,
    pub message: String,
}

/// The result of a translation.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The Kong declarative configuration, `_format_version: "3.0"`.
    pub config: Value,
    pub failures: Vec<TranslationFailure>,
}

/// Translates the objects into a Kong declarative configuration exactly as KIC's `BuildKongConfig` + `deckgen` do.
pub fn translate(objects: &Objects, settings: &Settings) -> Translation {
    let ctx = meta::Ctx::new(objects, settings);

    // Ingress → Kong services and routes (plus TLS SNIs and the default backend).
    let mut snis = certs::SecretSnis::default();
    let ingresses = ctx.ingresses_for_class();
    let mut services = ingress::translate_ingresses(&ctx, &ingresses, &mut snis);

    // Attach the k8s Services, client certificates and CA certificates; tags.
    for service in services.values_mut() {
        upstreams::populate_service(&ctx, service, &mut snis);
    }

    // Upstreams and targets; resolves the Kong service ports.
    let mut ups = upstreams::get_upstreams(&ctx, &mut services);

    // Annotation overrides on services and routes, then KongIngress / KongUpstreamPolicy on upstreams.
    for service in services.values_mut() {
        overrides::override_service(&ctx, service);
        for route in &mut service.routes {
            overrides::override_route(route);
        }
    }
    for upstream in &mut ups {
        upstreams::override_upstream(&ctx, upstream, &services);
    }

    let consumers = consumers::fill_consumers(&ctx);
    let plugins = plugins::fill_plugins(&ctx, &services, &consumers);

    let (certificates, merged_ids) = certs::get_certs(&ctx, &snis);
    for service in services.values_mut() {
        if let Some(id) = service.client_certificate.take() {
            // Re-point at the merged certificate; an id that produced no certificate renders as nothing.
            service.client_certificate = merged_ids.get(&id).cloned().filter(|id| !id.is_empty());
        }
    }
    let ca_certificates = certs::get_ca_certs(&ctx);

    let state = render::State { services, upstreams: ups, certificates, ca_certificates, plugins, consumers };
    let config = render::render(&ctx, state);
    Translation { config, failures: ctx.take_failures() }
}

/// KIC's fallback configuration: leaves out the rejected objects and every object that depends on them
/// (`internal/dataplane/fallback`), then translates what is left.
pub fn translate_excluding(objects: &Objects, settings: &Settings, rejected: &[ObjectRef]) -> Translation {
    let remaining = fallback::exclude(objects, settings, rejected);
    translate(&remaining, settings)
}

/// The objects that [`translate_excluding`] would leave out for the given rejected objects (themselves included).
pub fn excluded_objects(objects: &Objects, settings: &Settings, rejected: &[ObjectRef]) -> Vec<ObjectRef> {
    fallback::excluded_refs(objects, settings, rejected)
}
