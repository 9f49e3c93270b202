//! KIC's fallback configuration (`internal/dataplane/fallback`): a dependency graph over the objects
//! (dependency → dependant); a rejected object and everything reachable from it are left out.

use super::meta::{annotations, name_of, ns_of, obj_ref, str_field, CrdMeta};
use super::{ObjectRef, Settings};
use crate::objects::Objects;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum K {
    Ingress,
    IngressClass,
    Service,
    Slice,
    Secret,
    Plugin,
    ClusterPlugin,
    Consumer,
    KongIngress,
    Policy,
}

type Node = (K, usize);

/// `metadata.ExtractPlugins`: the trimmed names of `konghq.com/plugins` (no namespace handling).
fn plugin_names(anns: &BTreeMap<String, String>) -> Vec<String> {
    anns.get("konghq.com/plugins")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

struct Graph<'a> {
    objects: &'a Objects,
    refs: Vec<(Node, ObjectRef)>,
    services: HashMap<(&'a str, &'a str), usize>,
    classes: HashMap<&'a str, usize>,
    secrets: HashMap<(&'a str, &'a str), usize>,
    plugins: HashMap<(String, String), usize>,
    cluster_plugins: HashMap<String, usize>,
    policies: HashMap<(String, String), usize>,
}

fn crd_key(v: &Value) -> (String, String) {
    let m = v.get("metadata").unwrap_or(&Value::Null);
    (str_field(m, "namespace").to_string(), str_field(m, "name").to_string())
}

impl<'a> Graph<'a> {
    fn new(objects: &'a Objects) -> Graph<'a> {
        let mut refs = Vec::new();
        let typed = |k: K, r: Vec<ObjectRef>, refs: &mut Vec<(Node, ObjectRef)>| {
            refs.extend(r.into_iter().enumerate().map(|(i, r)| ((k, i), r)));
        };
        typed(K::Ingress, objects.ingresses.iter().map(|o| obj_ref::<Ingress>(&o.metadata)).collect(), &mut refs);
        typed(
            K::IngressClass,
            objects.ingress_classes.iter().map(|o| obj_ref::<IngressClass>(&o.metadata)).collect(),
            &mut refs,
        );
        typed(K::Service, objects.services.iter().map(|o| obj_ref::<Service>(&o.metadata)).collect(), &mut refs);
        typed(
            K::Slice,
            objects.endpoint_slices.iter().map(|o| obj_ref::<EndpointSlice>(&o.metadata)).collect(),
            &mut refs,
        );
        typed(K::Secret, objects.secrets.iter().map(|o| obj_ref::<Secret>(&o.metadata)).collect(), &mut refs);
        for (k, list) in [
            (K::Plugin, &objects.kong_plugins),
            (K::ClusterPlugin, &objects.kong_cluster_plugins),
            (K::Consumer, &objects.kong_consumers),
            (K::KongIngress, &objects.kong_ingresses),
            (K::Policy, &objects.kong_upstream_policies),
        ] {
            typed(k, list.iter().map(|v| CrdMeta::from_value(v).r).collect(), &mut refs);
        }
        let key = |m: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| (ns_of(m), name_of(m));
        Graph {
            objects,
            refs,
            services: objects.services.iter().enumerate().map(|(i, s)| (key(&s.metadata), i)).collect(),
            classes: objects.ingress_classes.iter().enumerate().map(|(i, c)| (name_of(&c.metadata), i)).collect(),
            secrets: objects.secrets.iter().enumerate().map(|(i, s)| (key(&s.metadata), i)).collect(),
            plugins: objects.kong_plugins.iter().enumerate().map(|(i, p)| (crd_key(p), i)).collect(),
            cluster_plugins: objects.kong_cluster_plugins.iter().enumerate().map(|(i, p)| (crd_key(p).1, i)).collect(),
            policies: objects.kong_upstream_policies.iter().enumerate().map(|(i, p)| (crd_key(p), i)).collect(),
        }
    }

    fn plugin_deps(&self, ns: &str, anns: &BTreeMap<String, String>, out: &mut Vec<Node>) {
        for name in plugin_names(anns) {
            if let Some(&i) = self.plugins.get(&(ns.to_string(), name.clone())) {
                out.push((K::Plugin, i));
            } else if let Some(&i) = self.cluster_plugins.get(&name) {
                out.push((K::ClusterPlugin, i));
            }
        }
    }

    fn policy_dep(&self, ns: &str, anns: &BTreeMap<String, String>, out: &mut Vec<Node>) {
        if let Some(name) = anns.get("konghq.com/upstream-policy") {
            if let Some(&i) = self.policies.get(&(ns.to_string(), name.clone())) {
                out.push((K::Policy, i));
            }
        }
    }

    fn secret_dep(&self, ns: &str, name: &str, out: &mut Vec<Node>) {
        if let Some(&i) = self.secrets.get(&(ns, name)) {
            out.push((K::Secret, i));
        }
    }

    fn plugin_secret_deps(&self, v: &Value, cluster: bool, out: &mut Vec<Node>) {
        let own_ns = crd_key(v).0;
        let mut refs: Vec<&Value> = v.get("configFrom").and_then(|c| c.get("secretKeyRef")).into_iter().collect();
        for p in v.get("configPatches").and_then(Value::as_array).into_iter().flatten() {
            refs.extend(p.get("valueFrom").and_then(|c| c.get("secretKeyRef")));
        }
        for r in refs {
            let ns = if cluster { str_field(r, "namespace").to_string() } else { own_ns.clone() };
            self.secret_dep(&ns, str_field(r, "name"), out);
        }
    }

    /// `ResolveDependencies`.
    fn dependencies(&self, node: Node) -> Vec<Node> {
        let o = self.objects;
        let mut out = Vec::new();
        match node.0 {
            K::Service => {
                let m = &o.services[node.1].metadata;
                self.plugin_deps(ns_of(m), annotations(m), &mut out);
                self.policy_dep(ns_of(m), annotations(m), &mut out);
            }
            K::Ingress => {
                let ing = &o.ingresses[node.1];
                let (m, ns) = (&ing.metadata, ns_of(&ing.metadata));
                let spec = ing.spec.as_ref();
                let class = spec
                    .and_then(|s| s.ingress_class_name.as_deref())
                    .filter(|c| !c.is_empty())
                    .or_else(|| annotations(m).get("kubernetes.io/ingress.class").map(String::as_str))
                    .filter(|c| !c.is_empty());
                if let Some(&i) = class.and_then(|c| self.classes.get(c)) {
                    out.push((K::IngressClass, i));
                }
                for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
                    for p in rule.http.iter().flat_map(|h| h.paths.iter()) {
                        if let Some(&i) =
                            p.backend.service.as_ref().and_then(|s| self.services.get(&(ns, s.name.as_str())))
                        {
                            out.push((K::Service, i));
                        }
                    }
                }
                self.policy_dep(ns, annotations(m), &mut out);
                self.plugin_deps(ns, annotations(m), &mut out);
            }
            K::Plugin => self.plugin_secret_deps(&o.kong_plugins[node.1], false, &mut out),
            K::ClusterPlugin => self.plugin_secret_deps(&o.kong_cluster_plugins[node.1], true, &mut out),
            K::Consumer => {
                let v = &o.kong_consumers[node.1];
                let meta = CrdMeta::from_value(v);
                self.plugin_deps(&meta.r.namespace, &meta.annotations, &mut out);
                for cred in v.get("credentials").and_then(Value::as_array).into_iter().flatten() {
                    self.secret_dep(&meta.r.namespace, cred.as_str().unwrap_or(""), &mut out);
                }
            }
            K::IngressClass | K::Slice | K::Secret | K::KongIngress | K::Policy => {}
        }
        out
    }

    /// Every object reachable from the rejected ones (dependency → dependant), the rejected ones included.
    fn excluded(&self, rejected: &[ObjectRef]) -> HashSet<Node> {
        let mut dependants: HashMap<Node, Vec<Node>> = HashMap::new();
        for (node, _) in &self.refs {
            for dep in self.dependencies(*node) {
                dependants.entry(dep).or_default().push(*node);
            }
        }
        let mut excluded = HashSet::new();
        let mut stack: Vec<Node> =
            self.refs.iter().filter(|(_, r)| rejected.iter().any(|b| b.matches(r))).map(|(n, _)| *n).collect();
        while let Some(node) = stack.pop() {
            if excluded.insert(node) {
                stack.extend(dependants.get(&node).into_iter().flatten().copied());
            }
        }
        excluded
    }
}

/// The objects left once the rejected objects and their dependants are removed.
pub(crate) fn exclude(objects: &Objects, _settings: &Settings, rejected: &[ObjectRef]) -> Objects {
    let excluded = Graph::new(objects).excluded(rejected);
    fn keep<T: Clone>(list: &[T], k: K, excluded: &HashSet<Node>) -> Vec<T> {
        list.iter().enumerate().filter(|(i, _)| !excluded.contains(&(k, *i))).map(|(_, o)| o.clone()).collect()
    }
    Objects {
        ingresses: keep(&objects.ingresses, K::Ingress, &excluded),
        ingress_classes: keep(&objects.ingress_classes, K::IngressClass, &excluded),
        services: keep(&objects.services, K::Service, &excluded),
        endpoint_slices: keep(&objects.endpoint_slices, K::Slice, &excluded),
        secrets: keep(&objects.secrets, K::Secret, &excluded),
        kong_plugins: keep(&objects.kong_plugins, K::Plugin, &excluded),
        kong_cluster_plugins: keep(&objects.kong_cluster_plugins, K::ClusterPlugin, &excluded),
        kong_consumers: keep(&objects.kong_consumers, K::Consumer, &excluded),
        kong_ingresses: keep(&objects.kong_ingresses, K::KongIngress, &excluded),
        kong_upstream_policies: keep(&objects.kong_upstream_policies, K::Policy, &excluded),
    }
}

/// References of the objects [`exclude`] leaves out, sorted.
pub(crate) fn excluded_refs(objects: &Objects, _settings: &Settings, rejected: &[ObjectRef]) -> Vec<ObjectRef> {
    let graph = Graph::new(objects);
    let excluded = graph.excluded(rejected);
    let mut refs: Vec<ObjectRef> =
        graph.refs.iter().filter(|(n, _)| excluded.contains(n)).map(|(_, r)| r.clone()).collect();
    refs.sort();
    refs
}
