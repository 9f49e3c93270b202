//! The served resource types: the built-in kinds and those defined by CustomResourceDefinitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::status::ApiError;

/// One served resource (a group and plural), possibly in several versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions, preferred (highest priority) first.
    pub versions: Vec<String>,
    /// The version objects are stored in (and have as `apiVersion` in watch history).
    pub storage_version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    /// Defined by a CustomResourceDefinition (removed with it).
    pub custom: bool,
}

/// Key of a resource type: `(group, plural)`.
pub type TypeKey = (String, String);

impl ResourceType {
    pub fn key(&self) -> TypeKey {
        (self.group.clone(), self.plural.clone())
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether objects carry `metadata.generation` (custom kinds and the built-ins that have it).
    pub fn has_generation(&self) -> bool {
        self.custom
            || self.is_crd()
            || (self.group == "networking.k8s.io" && (self.plural == "ingresses" || self.plural == "ingressclasses"))
    }

    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.plural == "customresourcedefinitions"
    }

    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.plural == "secrets"
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    categories: &[&str],
    namespaced: bool,
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        storage_version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: categories.iter().map(|s| s.to_string()).collect(),
        namespaced,
        status_subresource: status,
        custom: false,
    }
}

/// The kinds served without any CRD.
pub fn builtin_types() -> Vec<ResourceType> {
    let all = &["all"][..];
    vec![
        builtin("", "v1", "Namespace", "namespaces", &["ns"], &[], false, true),
        builtin("", "v1", "Service", "services", &["svc"], all, true, true),
        builtin("", "v1", "Endpoints", "endpoints", &["ep"], &[], true, false),
        builtin("", "v1", "Secret", "secrets", &[], &[], true, false),
        builtin("", "v1", "ConfigMap", "configmaps", &["cm"], &[], true, false),
        builtin("", "v1", "Pod", "pods", &["po"], all, true, true),
        builtin("", "v1", "Event", "events", &["ev"], &[], true, false),
        builtin("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], &[], true, false),
        builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", &[], &[], true, false),
        builtin("networking.k8s.io", "v1", "Ingress", "ingresses", &["ing"], &[], true, true),
        builtin("networking.k8s.io", "v1", "IngressClass", "ingressclasses", &[], &[], false, false),
        builtin("coordination.k8s.io", "v1", "Lease", "leases", &[], &[], true, false),
        builtin("events.k8s.io", "v1", "Event", "events", &["ev"], &[], true, false),
        // Kinds a deployment of the gateway and the controller consists of (stored, not acted on).
        builtin("apps", "v1", "Deployment", "deployments", &["deploy"], all, true, true),
        builtin("apps", "v1", "StatefulSet", "statefulsets", &["sts"], all, true, true),
        builtin("batch", "v1", "Job", "jobs", &[], all, true, true),
        builtin("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], &[], true, true),
        builtin("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", &["netpol"], &[], true, false),
        builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", &[], &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", &[], &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", &[], &[], true, false),
        builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", &[], &[], true, false),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            &["api-extensions"],
            false,
            true,
        ),
    ]
}

/// Orders Kubernetes version names as discovery does: GA before beta before alpha, higher numbers first,
/// then other names alphabetically.
pub fn version_priority(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> Option<(u32, u32, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let major: u32 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        Some((level, major, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Derives the served type from a CustomResourceDefinition object (apiextensions.k8s.io/v1).
pub fn type_from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default()
    };
    let group = s(spec.get("group"));
    if group.is_empty() {
        return Err("spec.group: Required value".into());
    }
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = s(names.get("plural"));
    let kind = s(names.get("kind"));
    if plural.is_empty() {
        return Err("spec.names.plural: Required value".into());
    }
    if kind.is_empty() {
        return Err("spec.names.kind: Required value".into());
    }
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err("spec.scope: Unsupported value: must be Namespaced or Cluster".into()),
    };
    let versions_v = spec.get("versions").and_then(Value::as_array).ok_or("spec.versions: Required value")?;
    let mut versions = Vec::new();
    let mut storage = None;
    let mut status = false;
    for v in versions_v {
        let name = s(v.get("name"));
        if name.is_empty() {
            return Err("spec.versions[].name: Required value".into());
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            if storage.is_some() {
                return Err("spec.versions: Invalid value: must have exactly one version marked as storage".into());
            }
            storage = Some(name.clone());
        }
        if v.get("served").and_then(Value::as_bool) != Some(false) {
            status |= v.pointer("/subresources/status").is_some();
            versions.push(name);
        }
    }
    let storage_version =
        storage.ok_or("spec.versions: Invalid value: must have exactly one version marked as storage")?;
    if versions.is_empty() {
        return Err("spec.versions: Invalid value: must have at least one served version".into());
    }
    versions.sort_by(|a, b| version_priority(a, b));
    let expected = format!("{plural}.{group}");
    let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name != expected {
        return Err(format!("metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"));
    }
    let singular = Some(s(names.get("singular"))).filter(|x| !x.is_empty()).unwrap_or_else(|| kind.to_lowercase());
    let list_kind = Some(s(names.get("listKind"))).filter(|x| !x.is_empty()).unwrap_or_else(|| format!("{kind}List"));
    Ok(ResourceType {
        group,
        versions,
        storage_version,
        kind,
        list_kind,
        plural,
        singular,
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        namespaced,
        status_subresource: status,
        custom: true,
    })
}

/// The served types, by `(group, plural)`.
#[derive(Debug, Clone)]
pub struct Registry {
    types: BTreeMap<TypeKey, Arc<ResourceType>>,
    /// Bumped on every change, for discovery/OpenAPI hashes.
    pub generation: u64,
}

impl Default for Registry {
    fn default() -> Self {
        let types = builtin_types().into_iter().map(|t| (t.key(), Arc::new(t))).collect();
        Registry { types, generation: 1 }
    }
}

impl Registry {
    /// The type served at `group/version` under `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_string(), plural.to_string()))
            .filter(|t| t.versions.iter().any(|v| v == version))
            .cloned()
    }

    pub fn get(&self, key: &TypeKey) -> Option<Arc<ResourceType>> {
        self.types.get(key).cloned()
    }

    /// The type for an `apiVersion` and `kind`.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<(Arc<ResourceType>, String)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.types
            .values()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
            .map(|t| (t.clone(), version.to_string()))
    }

    /// Types served in `group/version`.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceType>> {
        self.types.values().filter(move |t| t.group == group && t.versions.iter().any(|v| v == version))
    }

    /// Non-core groups with their versions, preferred first; built-in groups first, then custom ones.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>, bool)> = Vec::new();
        for t in self.types.values().filter(|t| !t.group.is_empty()) {
            let entry = match groups.iter_mut().find(|g| g.0 == t.group) {
                Some(e) => e,
                None => {
                    groups.push((t.group.clone(), Vec::new(), t.custom));
                    groups.last_mut().expect("just pushed")
                }
            };
            entry.2 &= t.custom;
            for v in &t.versions {
                if !entry.1.contains(v) {
                    entry.1.push(v.clone());
                }
            }
        }
        for g in &mut groups {
            g.1.sort_by(|a, b| version_priority(a, b));
        }
        groups.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
        groups.into_iter().map(|(g, v, _)| (g, v)).collect()
    }

    /// Registers or replaces the type defined by a CRD.
    pub fn apply_crd(&mut self, crd: &Value) -> Result<Arc<ResourceType>, ApiError> {
        let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let t = type_from_crd(crd).map_err(|e| {
            let (field, problem) = e.split_once(": ").unwrap_or(("spec", e.as_str()));
            ApiError::invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, field, problem)
        })?;
        if let Some(existing) = self.types.get(&t.key()) {
            if !existing.custom {
                return Err(ApiError::invalid(
                    "CustomResourceDefinition",
                    "apiextensions.k8s.io",
                    name,
                    "spec.names.plural",
                    "Invalid value: conflicts with a built-in resource",
                ));
            }
        }
        let t = Arc::new(t);
        if self.types.get(&t.key()) != Some(&t) {
            self.types.insert(t.key(), t.clone());
            self.generation += 1;
        }
        Ok(t)
    }

    /// Unregisters the type defined by a deleted CRD.
    pub fn remove_crd(&mut self, crd: &Value) -> Option<Arc<ResourceType>> {
        let group = crd.pointer("/spec/group").and_then(Value::as_str)?;
        let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str)?;
        let key = (group.to_string(), plural.to_string());
        if !self.types.get(&key)?.custom {
            return None;
        }
        self.generation += 1;
        self.types.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2", "foo"];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_type() {
        let crd = json!({
            "metadata": {"name": "kongplugins.configuration.konghq.com"},
            "spec": {
                "group": "configuration.konghq.com",
                "scope": "Namespaced",
                "names": {"plural": "kongplugins", "kind": "KongPlugin", "shortNames": ["kp"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}
                ]
            }
        });
        let t = type_from_crd(&crd).unwrap();
        assert_eq!(t.versions, ["v1", "v1beta1"]);
        assert_eq!(t.singular, "kongplugin");
        assert_eq!(t.list_kind, "KongPluginList");
        assert!(t.status_subresource && t.namespaced);
        let mut r = Registry::default();
        r.apply_crd(&crd).unwrap();
        assert!(r.find("configuration.konghq.com", "v1beta1", "kongplugins").is_some());
        assert_eq!(r.groups().last().unwrap().0, "configuration.konghq.com");
        r.remove_crd(&crd).unwrap();
        assert!(r.find("configuration.konghq.com", "v1", "kongplugins").is_none());
    }
}
