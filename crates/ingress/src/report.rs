//! Reporting back into Kubernetes, as Kong's controller does: Events on the objects that failed to
//! translate or that the gateway rejected, a success Event on the controller's pod, `status.loadBalancer`
//! on Ingresses once their configuration is live, and a `Programmed` condition on Kong's CRDs.

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// A Kubernetes object an Event or condition is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
}

impl Subject {
    fn reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.api_version.clone()),
            kind: Some(self.kind.clone()),
            namespace: self.namespace.clone(),
            name: Some(self.name.clone()),
            uid: self.uid.clone(),
            ..Default::default()
        }
    }

    /// Parses `Kind/namespace/name` or `Kind/name` (the `--event-object` flag).
    pub fn parse(text: &str) -> Option<Subject> {
        let parts: Vec<&str> = text.split('/').collect();
        let (kind, namespace, name) = match parts.as_slice() {
            [kind, namespace, name] => (*kind, Some(namespace.to_string()), *name),
            [kind, name] => (*kind, None, *name),
            _ => return None,
        };
        let api_version = match kind {
            "Pod" | "Service" | "ConfigMap" | "Namespace" => "v1",
            "Deployment" => "apps/v1",
            _ => "v1",
        };
        Some(Subject { api_version: api_version.into(), kind: kind.into(), namespace, name: name.into(), uid: None })
    }
}

/// Kind, namespace and name.
type ObjectKey = (String, String, String);

pub const TRANSLATION_FAILED: &str = "KongConfigurationTranslationFailed";
pub const APPLY_FAILED: &str = "KongConfigurationApplyFailed";
pub const SUCCEEDED: &str = "KongConfigurationSucceeded";

/// Writes Events and statuses; remembers what it wrote so unchanged statuses are not written again.
pub struct StatusReporter {
    client: kube::Client,
    recorder: Recorder,
    /// Receives `KongConfigurationSucceeded`.
    controller_object: Option<Subject>,
    /// Ingress status last written, by namespace/name.
    written_status: Mutex<HashMap<(String, String), Value>>,
    /// Programmed conditions last written, by kind/namespace/name.
    written_conditions: Mutex<HashMap<ObjectKey, (bool, String)>>,
}

impl StatusReporter {
    pub fn new(client: kube::Client, identity: &str, controller_object: Option<Subject>) -> StatusReporter {
        let reporter = Reporter { controller: "gatehouse-ingress".into(), instance: Some(identity.to_string()) };
        StatusReporter {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            controller_object,
            written_status: Mutex::default(),
            written_conditions: Mutex::default(),
        }
    }

    /// A Warning Event on `subject`.
    pub async fn warn(&self, subject: &Subject, reason: &str, message: &str) {
        self.publish(subject, EventType::Warning, reason, message).await;
    }

    /// `KongConfigurationSucceeded` (Normal) or `KongConfigurationApplyFailed` (Warning) on the controller's own
    /// object.
    pub async fn outcome(&self, ok: bool, message: &str) {
        let Some(subject) = self.controller_object.clone() else { return };
        let (kind, reason) = if ok { (EventType::Normal, SUCCEEDED) } else { (EventType::Warning, APPLY_FAILED) };
        self.publish(&subject, kind, reason, message).await;
    }

    async fn publish(&self, subject: &Subject, type_: EventType, reason: &str, message: &str) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(message.chars().take(1024).collect()),
            action: "Sync".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &subject.reference()).await {
            tracing::warn!(%error, kind = %subject.kind, name = %subject.name, "could not record an Event");
        }
    }

    /// Sets `status.loadBalancer.ingress` of `ingresses` to `addresses` where it differs.
    pub async fn ingress_status(&self, ingresses: &[(String, String)], addresses: &[String]) {
        let entries: Vec<Value> = addresses
            .iter()
            .map(|a| if a.parse::<std::net::IpAddr>().is_ok() { json!({ "ip": a }) } else { json!({ "hostname": a }) })
            .collect();
        let status = json!({ "loadBalancer": { "ingress": entries } });
        for (namespace, name) in ingresses {
            let key = (namespace.clone(), name.clone());
            if self.written_status.lock().ok().and_then(|w| w.get(&key).cloned()).as_ref() == Some(&status) {
                continue;
            }
            let api: Api<Ingress> = Api::namespaced(self.client.clone(), namespace);
            let patch = Patch::Merge(json!({ "status": status }));
            match api.patch_status(name, &PatchParams::default(), &patch).await {
                Ok(_) => {
                    if let Ok(mut written) = self.written_status.lock() {
                        written.insert(key, status.clone());
                    }
                }
                Err(error) => tracing::warn!(%error, namespace, name, "could not update Ingress status"),
            }
        }
    }

    /// Sets the `Programmed` condition of a Kong CRD object where it changed.
    pub async fn programmed(&self, subject: &Subject, resource: &kube::core::ApiResource, ok: bool, message: &str) {
        let key = (subject.kind.clone(), subject.namespace.clone().unwrap_or_default(), subject.name.clone());
        let wanted = (ok, message.to_string());
        if self.written_conditions.lock().ok().and_then(|w| w.get(&key).cloned()).as_ref() == Some(&wanted) {
            return;
        }
        let api: Api<DynamicObject> = match &subject.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let condition = json!({
            "type": "Programmed",
            "status": if ok { "True" } else { "False" },
            "reason": if ok { "Programmed" } else { "Invalid" },
            "message": message,
            "lastTransitionTime": now,
        });
        let patch = Patch::Merge(json!({ "status": { "conditions": [condition] } }));
        match api.patch_status(&subject.name, &PatchParams::default(), &patch).await {
            Ok(_) => {
                if let Ok(mut written) = self.written_conditions.lock() {
                    written.insert(key, wanted);
                }
            }
            Err(error) => tracing::debug!(%error, name = %subject.name, "could not set the Programmed condition"),
        }
    }

    /// The addresses to publish: `--publish-status-address`, else those of the `--publish-service` Service
    /// as KIC takes them: a LoadBalancer Service's load balancer IPs and hostnames (none until they are
    /// provisioned), the cluster IPs of any other type.
    pub async fn publish_addresses(&self, fixed: &[String], service: Option<&str>) -> Vec<String> {
        if !fixed.is_empty() {
            return fixed.to_vec();
        }
        let Some((namespace, name)) = service.and_then(|s| s.split_once('/')) else { return Vec::new() };
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        match api.get(name).await {
            Ok(service) => service_addresses(&service),
            Err(error) => {
                tracing::warn!(%error, namespace, name, "could not read the publish Service");
                Vec::new()
            }
        }
    }
}

/// The addresses a Service publishes (KIC's `generateAddressFinderGetter`).
pub fn service_addresses(service: &Service) -> Vec<String> {
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("LoadBalancer") {
        let entries = service.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.clone());
        return entries
            .unwrap_or_default()
            .into_iter()
            .flat_map(|i| [i.ip, i.hostname])
            .flatten()
            .filter(|a| !a.is_empty())
            .collect();
    }
    spec.cluster_ips
        .or(spec.cluster_ip.map(|ip| vec![ip]))
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !a.is_empty())
        .collect()
}
