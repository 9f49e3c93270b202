//! Which Secrets the watched objects reference, so the watch cache keeps exactly those whole.

use crate::objects::Objects;
use serde_json::Value;
use std::collections::HashSet;

/// `(namespace, name)` of every Secret an object refers to: Ingress TLS, plugin `configFrom` and
/// `configPatches`, Service client certificates and CA certificates, and consumer credentials.
pub fn referenced_secrets(objects: &Objects) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for ingress in &objects.ingresses {
        let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
        for tls in ingress.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            if let Some(name) = &tls.secret_name {
                out.insert((namespace.clone(), name.clone()));
            }
        }
    }
    for service in &objects.services {
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let annotations = service.metadata.annotations.clone().unwrap_or_default();
        if let Some(name) = annotations.get("konghq.com/client-cert") {
            out.insert((namespace.clone(), name.trim().to_string()));
        }
        if let Some(list) = annotations.get("konghq.com/ca-certificates-secrets") {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                out.insert((namespace.clone(), name.to_string()));
            }
        }
    }
    for plugin in objects.kong_plugins.iter().chain(&objects.kong_cluster_plugins) {
        let own_namespace = text(&plugin["metadata"]["namespace"]);
        let mut add = |reference: &Value| {
            let Some(name) = reference.get("name").and_then(Value::as_str) else { return };
            let namespace = reference.get("namespace").and_then(Value::as_str).map(str::to_string);
            out.insert((namespace.unwrap_or_else(|| own_namespace.clone()), name.to_string()));
        };
        add(&plugin["configFrom"]["secretKeyRef"]);
        for patch in plugin["configPatches"].as_array().into_iter().flatten() {
            add(&patch["valueFrom"]["secretKeyRef"]);
        }
    }
    for consumer in &objects.kong_consumers {
        let namespace = text(&consumer["metadata"]["namespace"]);
        for name in consumer["credentials"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            out.insert((namespace.clone(), name.to_string()));
        }
    }
    out
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_kind_of_reference() {
        let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i, namespace: ns}
spec:
  tls: [{hosts: [a.test], secretName: tls-a}]
---
apiVersion: v1
kind: Service
metadata:
  name: s
  namespace: ns
  annotations: {konghq.com/client-cert: client, konghq.com/ca-certificates-secrets: "ca1, ca2"}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: p, namespace: ns}
plugin: key-auth
configFrom: {secretKeyRef: {name: plugin-conf, key: k}}
---
apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata: {name: cp}
plugin: key-auth
configFrom: {secretKeyRef: {name: cluster-conf, namespace: other, key: k}}
---
apiVersion: configuration.konghq.com/v1
kind: KongConsumer
metadata: {name: c, namespace: ns}
username: c
credentials: [cred-1]
"#;
        let objects = Objects::from_yaml(yaml).unwrap();
        let found = referenced_secrets(&objects);
        let want: HashSet<(String, String)> = [
            ("ns", "tls-a"),
            ("ns", "client"),
            ("ns", "ca1"),
            ("ns", "ca2"),
            ("ns", "plugin-conf"),
            ("other", "cluster-conf"),
            ("ns", "cred-1"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(found, want);
    }
}
