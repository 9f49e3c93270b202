//! The Kubernetes objects the controller watches, as one consistent set handed to the translator.
//! Built-in kinds are typed (k8s-openapi); Kong's CRDs (configuration.konghq.com) are kept as JSON objects,
//! exactly as the API server returned them.

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::Value;

/// Everything the translator reads. Order does not matter: the translator sorts what it needs.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub secrets: Vec<Secret>,
    /// `KongPlugin` (namespaced).
    pub kong_plugins: Vec<Value>,
    /// `KongClusterPlugin` (cluster-scoped).
    pub kong_cluster_plugins: Vec<Value>,
    pub kong_consumers: Vec<Value>,
    /// `KongIngress` (only its `upstream` section is used).
    pub kong_ingresses: Vec<Value>,
    pub kong_upstream_policies: Vec<Value>,
}

impl Objects {
    /// Reads a multi-document YAML stream of manifests (as `kubectl apply -f` takes), sorting each document
    /// into its kind. Unknown kinds are ignored.
    pub fn from_yaml(text: &str) -> Result<Objects, String> {
        let mut objects = Objects::default();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value = Value::deserialize(document).map_err(|e| e.to_string())?;
            if value.is_null() {
                continue;
            }
            objects.add(value).map_err(|e| e.to_string())?;
        }
        Ok(objects)
    }

    /// Adds one object by its `kind`.
    pub fn add(&mut self, mut value: Value) -> Result<(), serde_json::Error> {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        if kind == "Secret" {
            // Manifests often wrap base64 `data` over several lines; Kubernetes (Go) ignores the line breaks.
            if let Some(data) = value.get_mut("data").and_then(Value::as_object_mut) {
                for encoded in data.values_mut() {
                    if let Some(text) = encoded.as_str().filter(|t| t.contains(char::is_whitespace)) {
                        *encoded = Value::from(text.split_whitespace().collect::<String>());
                    }
                }
            }
        }
        match kind.as_str() {
            "Ingress" => self.ingresses.push(serde_json::from_value(value)?),
            "IngressClass" => self.ingress_classes.push(serde_json::from_value(value)?),
            "Service" => self.services.push(serde_json::from_value(value)?),
            "EndpointSlice" => self.endpoint_slices.push(serde_json::from_value(value)?),
            "Secret" => self.secrets.push(serde_json::from_value(value)?),
            "KongPlugin" => self.kong_plugins.push(value),
            "KongClusterPlugin" => self.kong_cluster_plugins.push(value),
            "KongConsumer" => self.kong_consumers.push(value),
            "KongIngress" => self.kong_ingresses.push(value),
            "KongUpstreamPolicy" => self.kong_upstream_policies.push(value),
            _ => {}
        }
        Ok(())
    }
}

use serde::Deserialize;
