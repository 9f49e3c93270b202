//! Shared translation context: indexes of the input objects, object references and tags, ingress-class
//! filtering (KIC's `internal/store`), and the parsed form of Kong's CRDs.

use super::{ObjectRef, Settings, TranslationFailure};
use crate::objects::Objects;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

pub(crate) const ANN_PREFIX: &str = "konghq.com";
pub(crate) const INGRESS_CLASS_KEY: &str = "kubernetes.io/ingress.class";
const DEFAULT_CLASS_KEY: &str = "ingressclass.kubernetes.io/is-default-class";

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// The annotations of an object (empty when it has none).
pub(crate) fn annotations(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    meta.annotations.as_ref().unwrap_or(&EMPTY)
}

/// The labels of an object (empty when it has none).
pub(crate) fn labels(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

/// `konghq.com/<key>`.
pub(crate) fn ann<'m>(anns: &'m BTreeMap<String, String>, key: &str) -> Option<&'m str> {
    anns.get(&format!("{ANN_PREFIX}/{key}")).map(String::as_str)
}

pub(crate) fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

pub(crate) fn ns_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

/// A reference to a typed (k8s-openapi) object.
pub(crate) fn obj_ref<K: Resource>(meta: &ObjectMeta) -> ObjectRef {
    ObjectRef {
        kind: K::KIND.to_string(),
        api_version: K::API_VERSION.to_string(),
        namespace: ns_of(meta).to_string(),
        name: name_of(meta).to_string(),
        uid: meta.uid.clone().unwrap_or_default(),
    }
}

/// KIC's `extractCommaDelimitedStrings`: split on commas, trim, drop empty values.
pub(crate) fn comma_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

/// KIC's `util.GenerateTagsForObject`: `k8s-name`, `k8s-namespace`, `k8s-kind`, `k8s-uid`, `k8s-group` (non-core
/// only), `k8s-version`, then the user tags of the `konghq.com/tags` annotation (de-duplicated).
pub(crate) fn tags_for(r: &ObjectRef, anns: &BTreeMap<String, String>) -> Vec<String> {
    let mut tags = Vec::with_capacity(8);
    let mut push = |prefix: &str, value: &str| {
        if !value.is_empty() {
            tags.push(format!("{prefix}{value}"));
        }
    };
    push("k8s-name:", &r.name);
    push("k8s-namespace:", &r.namespace);
    push("k8s-kind:", &r.kind);
    push("k8s-uid:", &r.uid);
    push("k8s-group:", r.group());
    push("k8s-version:", r.version());
    let fixed = tags.len();
    for tag in comma_list(ann(anns, "tags").unwrap_or("")) {
        if !tags[fixed..].contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

/// Metadata of a CRD object kept as JSON.
#[derive(Debug, Clone, Default)]
pub(crate) struct CrdMeta {
    pub r: ObjectRef,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

pub(crate) fn str_field<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl CrdMeta {
    pub(crate) fn from_value(v: &Value) -> CrdMeta {
        let m = v.get("metadata").cloned().unwrap_or(Value::Null);
        CrdMeta {
            r: ObjectRef {
                kind: str_field(v, "kind").to_string(),
                api_version: str_field(v, "apiVersion").to_string(),
                namespace: str_field(&m, "namespace").to_string(),
                name: str_field(&m, "name").to_string(),
                uid: str_field(&m, "uid").to_string(),
            },
            annotations: string_map(m.get("annotations")),
            labels: string_map(m.get("labels")),
        }
    }

    pub(crate) fn tags(&self) -> Vec<String> {
        tags_for(&self.r, &self.annotations)
    }
}

/// A reference to a Secret key (`configFrom` / `configPatches[].valueFrom`).
#[derive(Debug, Clone, Default)]
pub(crate) struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// A KongPlugin or KongClusterPlugin.
#[derive(Debug, Clone, Default)]
pub(crate) struct PluginObj {
    pub meta: CrdMeta,
    pub cluster: bool,
    pub plugin: String,
    pub config: Option<Value>,
    pub config_from: Option<SecretKeyRef>,
    pub config_patches: Vec<(String, SecretKeyRef)>,
    pub run_on: String,
    pub protocols: Vec<String>,
    pub ordering: Option<Value>,
    pub instance_name: String,
    pub disabled: bool,
}

fn secret_ref(v: Option<&Value>, cluster: bool, own_ns: &str) -> Option<SecretKeyRef> {
    let r = v?.get("secretKeyRef")?;
    Some(SecretKeyRef {
        namespace: if cluster { str_field(r, "namespace").to_string() } else { own_ns.to_string() },
        name: str_field(r, "name").to_string(),
        key: str_field(r, "key").to_string(),
    })
}

impl PluginObj {
    pub(crate) fn from_value(v: &Value, cluster: bool) -> PluginObj {
        let meta = CrdMeta::from_value(v);
        let own_ns = meta.r.namespace.clone();
        let config_patches = v
            .get("configPatches")
            .and_then(Value::as_array)
            .map(|patches| {
                patches
                    .iter()
                    .filter_map(|p| {
                        Some((str_field(p, "path").to_string(), secret_ref(p.get("valueFrom"), cluster, &own_ns)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        PluginObj {
            cluster,
            plugin: str_field(v, "plugin").to_string(),
            config: v.get("config").cloned(),
            config_from: secret_ref(v.get("configFrom"), cluster, &own_ns),
            config_patches,
            run_on: str_field(v, "run_on").to_string(),
            protocols: v
                .get("protocols")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            ordering: v.get("ordering").filter(|o| !o.is_null()).cloned(),
            instance_name: str_field(v, "instance_name").to_string(),
            disabled: v.get("disabled").and_then(Value::as_bool).unwrap_or(false),
            meta,
        }
    }
}

/// Everything the translator reads, indexed once (lookups by namespace/name are O(1)).
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub objects: &'a Objects,
    pub services: HashMap<(&'a str, &'a str), &'a Service>,
    pub secrets: HashMap<(&'a str, &'a str), &'a Secret>,
    /// EndpointSlices by (namespace, `kubernetes.io/service-name` label).
    pub slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    pub ingress_classes: HashMap<&'a str, &'a IngressClass>,
    pub kong_plugins: HashMap<(String, String), PluginObj>,
    pub cluster_plugins: HashMap<String, PluginObj>,
    /// KongIngress `upstream` sections by (namespace, name).
    pub kong_ingresses: HashMap<(String, String), Value>,
    /// KongUpstreamPolicy objects by (namespace, name).
    pub policies: HashMap<(String, String), (CrdMeta, Value)>,
    failures: RefCell<Vec<TranslationFailure>>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(objects: &'a Objects, settings: &'a Settings) -> Ctx<'a> {
        let key = |m: &'a ObjectMeta| (ns_of(m), name_of(m));
        let mut slices: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in &objects.endpoint_slices {
            if let Some(svc) = labels(&slice.metadata).get("kubernetes.io/service-name") {
                slices.entry((ns_of(&slice.metadata), svc.as_str())).or_default().push(slice);
            }
        }
        let crd_key = |v: &Value| {
            let m = v.get("metadata").unwrap_or(&Value::Null);
            (str_field(m, "namespace").to_string(), str_field(m, "name").to_string())
        };
        Ctx {
            settings,
            objects,
            services: objects.services.iter().map(|s| (key(&s.metadata), s)).collect(),
            secrets: objects.secrets.iter().map(|s| (key(&s.metadata), s)).collect(),
            slices,
            ingress_classes: objects.ingress_classes.iter().map(|c| (name_of(&c.metadata), c)).collect(),
            kong_plugins: objects.kong_plugins.iter().map(|p| (crd_key(p), PluginObj::from_value(p, false))).collect(),
            cluster_plugins: objects
                .kong_cluster_plugins
                .iter()
                .map(|p| (crd_key(p).1, PluginObj::from_value(p, true)))
                .collect(),
            kong_ingresses: objects
                .kong_ingresses
                .iter()
                .map(|k| (crd_key(k), k.get("upstream").cloned().unwrap_or(Value::Null)))
                .collect(),
            policies: objects
                .kong_upstream_policies
                .iter()
                .map(|p| (crd_key(p), (CrdMeta::from_value(p), p.get("spec").cloned().unwrap_or(Value::Null))))
                .collect(),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// Records a translation failure caused by `object`.
    pub(crate) fn fail(&self, object: &ObjectRef, message: impl Into<String>) {
        self.failures.borrow_mut().push(TranslationFailure { object: object.clone(), message: message.into() });
    }

    /// Records a translation failure caused by several objects (one entry per object).
    pub(crate) fn fail_all(&self, objects: &[ObjectRef], message: &str) {
        for object in objects {
            self.fail(object, message);
        }
    }

    pub(crate) fn take_failures(&self) -> Vec<TranslationFailure> {
        std::mem::take(&mut self.failures.borrow_mut())
    }

    pub(crate) fn secret(&self, ns: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.get(&(ns, name)).copied()
    }

    pub(crate) fn service(&self, ns: &str, name: &str) -> Option<&'a Service> {
        self.services.get(&(ns, name)).copied()
    }

    /// Whether the IngressClass of this controller exists and is the cluster's default class.
    pub(crate) fn class_is_default(&self) -> bool {
        self.ingress_classes
            .get(self.settings.ingress_class.as_str())
            .is_some_and(|c| annotations(&c.metadata).get(DEFAULT_CLASS_KEY).is_some_and(|v| v == "true"))
    }

    /// Class filter for KongConsumers and global KongClusterPlugins (`getIngressClassHandling`): the
    /// `kubernetes.io/ingress.class` annotation must match exactly, or may be empty when the class is the default.
    pub(crate) fn crd_class_matches(&self, anns: &BTreeMap<String, String>) -> bool {
        let class = anns.get(INGRESS_CLASS_KEY).map(String::as_str).unwrap_or("");
        class == self.settings.ingress_class || (class.is_empty() && self.class_is_default())
    }

    /// KIC's `Store.ListIngressesV1`: the class annotation wins, then `spec.ingressClassName`, then the default
    /// IngressClass. Sorted by namespace/name, then (stably) by creation timestamp as the translator does.
    pub(crate) fn ingresses_for_class(&self) -> Vec<&'a Ingress> {
        let class = self.settings.ingress_class.as_str();
        let mut list: Vec<&Ingress> = self
            .objects
            .ingresses
            .iter()
            .filter(|ing| {
                let anns = annotations(&ing.metadata);
                match anns.get(INGRESS_CLASS_KEY).filter(|c| !c.is_empty()) {
                    Some(c) => c == class,
                    None => match ing.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()) {
                        Some(c) => c == class,
                        None => self.class_is_default(),
                    },
                }
            })
            .collect();
        list.sort_by_cached_key(|i| format!("{}/{}", ns_of(&i.metadata), name_of(&i.metadata)));
        // Stable re-sort by creation time only (Go's sort.SliceStable with Before).
        list.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
        list
    }
}

/// KIC's `MaybePrependRegexPrefix` legacy heuristic: paths that Kong 2.x did not consider regexes.
pub(crate) fn is_plain_legacy_path(path: &str) -> bool {
    path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'/' | b'%'))
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.Atoi`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with("+-") || s.starts_with("-+") {
        return None;
    }
    s.parse::<i64>().ok()
}

/// A hostname label: `[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*`.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// KIC's `validSNIs` regular expression.
pub(crate) fn is_valid_sni(s: &str) -> bool {
    s.split('.').all(is_label)
}

/// KIC's `validHosts` regular expression (optional `*.` prefix or `.*` suffix).
pub(crate) fn is_valid_host(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    let s = s.strip_suffix(".*").unwrap_or(s);
    is_valid_sni(s)
}
