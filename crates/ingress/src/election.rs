//! Leader election among controller replicas, so that exactly one writes to the Admin API.
//!
//! The lock is a `coordination.k8s.io/v1` Lease, or a ConfigMap carrying the leader record in the
//! `control-plane.alpha.kubernetes.io/leader` annotation (the JSON Kubernetes' client libraries wrote).
//! Every write to the lock carries the resourceVersion that was read, so two candidates can never both
//! acquire it: the second write gets 409 Conflict.
//!
//! Expiry is judged by when this replica *observed* the record change, not by the timestamps in it, so
//! clock skew between replicas cannot shorten a lease. A leader that has not renewed within the renew
//! deadline (shorter than the lease) stops leading at once, before anyone else can take over. On shutdown
//! the leader clears the holder, and a candidate takes over at its next retry.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::cli::ElectionLock;

/// The ConfigMap annotation that holds the record.
pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

/// Election settings (`--election-*`).
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub lock: ElectionLock,
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// The leader record, as client-go's `LeaderElectionRecord` serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(default)]
    pub holder_identity: String,
    #[serde(default)]
    pub lease_duration_seconds: i64,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    #[serde(default)]
    pub leader_transitions: i64,
}

#[derive(Debug, thiserror::Error)]
enum LockError {
    #[error("another replica wrote the lock first")]
    Conflict,
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

fn conflict(error: kube::Error) -> LockError {
    match &error {
        kube::Error::Api(e) if e.code == 409 => LockError::Conflict,
        _ => LockError::Kube(error),
    }
}

/// The two lock objects behind one interface.
enum Lock {
    Lease(Api<Lease>),
    ConfigMap(Api<ConfigMap>),
}

impl Lock {
    async fn get(&self, name: &str) -> Result<Option<(Record, String, ObjectReference)>, kube::Error> {
        match self {
            Lock::Lease(api) => Ok(api.get_opt(name).await?.map(|lease| {
                let spec = lease.spec.clone().unwrap_or_default();
                let record = Record {
                    holder_identity: spec.holder_identity.unwrap_or_default(),
                    lease_duration_seconds: spec.lease_duration_seconds.unwrap_or_default() as i64,
                    acquire_time: spec.acquire_time.map(|t| t.0),
                    renew_time: spec.renew_time.map(|t| t.0),
                    leader_transitions: spec.lease_transitions.unwrap_or_default() as i64,
                };
                let version = lease.metadata.resource_version.clone().unwrap_or_default();
                (record, version, reference("coordination.k8s.io/v1", "Lease", &lease.metadata))
            })),
            Lock::ConfigMap(api) => Ok(api.get_opt(name).await?.map(|map| {
                let raw = map.metadata.annotations.as_ref().and_then(|a| a.get(LEADER_ANNOTATION));
                let record = raw.and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
                let version = map.metadata.resource_version.clone().unwrap_or_default();
                (record, version, reference("v1", "ConfigMap", &map.metadata))
            })),
        }
    }

    /// Creates the lock (`version` empty) or replaces it at `version`.
    async fn write(&self, name: &str, namespace: &str, record: &Record, version: &str) -> Result<(), LockError> {
        let metadata = ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            resource_version: (!version.is_empty()).then(|| version.to_string()),
            ..Default::default()
        };
        let params = PostParams::default();
        match self {
            Lock::Lease(api) => {
                let lease = Lease {
                    metadata,
                    spec: Some(LeaseSpec {
                        holder_identity: Some(record.holder_identity.clone()),
                        lease_duration_seconds: Some(record.lease_duration_seconds as i32),
                        acquire_time: record.acquire_time.map(MicroTime),
                        renew_time: record.renew_time.map(MicroTime),
                        lease_transitions: Some(record.leader_transitions as i32),
                        ..Default::default()
                    }),
                };
                let result = if version.is_empty() {
                    api.create(&params, &lease).await.map(|_| ())
                } else {
                    api.replace(name, &params, &lease).await.map(|_| ())
                };
                result.map_err(conflict)
            }
            Lock::ConfigMap(api) => {
                let mut metadata = metadata;
                let text = serde_json::to_string(record).unwrap_or_default();
                metadata.annotations = Some([(LEADER_ANNOTATION.to_string(), text)].into_iter().collect());
                let map = ConfigMap { metadata, ..Default::default() };
                let result = if version.is_empty() {
                    api.create(&params, &map).await.map(|_| ())
                } else {
                    api.replace(name, &params, &map).await.map(|_| ())
                };
                result.map_err(conflict)
            }
        }
    }
}

fn reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// One replica's participation in the election.
pub struct Elector {
    config: ElectionConfig,
    lock: Lock,
    client: kube::Client,
    leading: AtomicBool,
    /// When this replica last wrote the lock as leader.
    renewed: Mutex<Option<Instant>>,
    /// The record last seen held by someone else, and when it was first seen.
    observed: Mutex<Option<(Record, Instant)>>,
    transitions: AtomicU64,
    changes: tokio::sync::watch::Sender<bool>,
}

impl Elector {
    pub fn new(client: kube::Client, config: ElectionConfig) -> Elector {
        let lock = match config.lock {
            ElectionLock::Lease => Lock::Lease(Api::namespaced(client.clone(), &config.namespace)),
            ElectionLock::Configmap => Lock::ConfigMap(Api::namespaced(client.clone(), &config.namespace)),
        };
        Elector {
            config,
            lock,
            client,
            leading: AtomicBool::new(false),
            renewed: Mutex::new(None),
            observed: Mutex::new(None),
            transitions: AtomicU64::new(0),
            changes: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// Whether this replica may write now: it holds the lock and renewed it within the renew deadline.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
            && self.renewed.lock().ok().and_then(|r| *r).is_some_and(|at| at.elapsed() < self.config.renew_deadline)
    }

    /// Times this replica became leader.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    /// Leadership changes as they happen.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.changes.subscribe()
    }

    fn set_leading(&self, leading: bool, why: &str) {
        if self.leading.swap(leading, Ordering::AcqRel) != leading {
            if leading {
                self.transitions.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(identity = %self.config.identity, leading, why, "leadership changed");
            self.changes.send_replace(leading);
        }
    }

    /// Takes part until `stop` turns true; a leader then releases the lock.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            // Bounded, so a hanging API server cannot keep this loop from noticing the renew deadline.
            let attempt = tokio::time::timeout(
                self.config.retry_period.max(Duration::from_millis(500)),
                self.try_acquire_or_renew(),
            );
            match attempt.await.unwrap_or_else(|_| Err(kube::Error::Service("lock request timed out".into()))) {
                Ok(Some(reference)) => {
                    if let Ok(mut renewed) = self.renewed.lock() {
                        *renewed = Some(Instant::now());
                    }
                    if !self.leading.load(Ordering::Acquire) {
                        self.set_leading(true, "acquired the lock");
                        self.record_event(&reference).await;
                    }
                }
                Ok(None) => self.set_leading(false, "another replica holds the lock"),
                Err(error) => tracing::warn!(%error, "leader election: lock not reachable"),
            }
            if self.leading.load(Ordering::Acquire) && !self.is_leader() {
                self.set_leading(false, "could not renew before the renew deadline");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.retry_period) => {}
                _ = stop.changed() => {}
            }
        }
        if self.leading.load(Ordering::Acquire) {
            self.set_leading(false, "shutting down");
            self.release().await;
        }
    }

    /// One round: returns the lock's reference when this replica holds it afterwards.
    async fn try_acquire_or_renew(&self) -> Result<Option<ObjectReference>, kube::Error> {
        let (name, namespace) = (&self.config.name, &self.config.namespace);
        let now = Timestamp::now();
        let lease_seconds = self.config.lease_duration.as_secs().max(1) as i64;
        let mine = Record {
            holder_identity: self.config.identity.clone(),
            lease_duration_seconds: lease_seconds,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: 0,
        };
        let Some((current, version, reference)) = self.lock.get(name).await? else {
            return match self.lock.write(name, namespace, &mine, "").await {
                Ok(()) => Ok(self.lock.get(name).await?.map(|(_, _, r)| r)),
                Err(LockError::Conflict) => Ok(None),
                Err(LockError::Kube(e)) => Err(e),
            };
        };
        let next = if current.holder_identity == self.config.identity {
            Record { renew_time: Some(now), lease_duration_seconds: lease_seconds, ..current }
        } else {
            if !current.holder_identity.is_empty() && !self.observed_expired(&current) {
                return Ok(None);
            }
            Record { leader_transitions: current.leader_transitions + 1, ..mine }
        };
        match self.lock.write(name, namespace, &next, &version).await {
            Ok(()) => Ok(Some(reference)),
            Err(LockError::Conflict) => Ok(None),
            Err(LockError::Kube(e)) => Err(e),
        }
    }

    /// Whether `record`, held by another replica, has gone unrenewed for its whole lease as observed here.
    fn observed_expired(&self, record: &Record) -> bool {
        let Ok(mut observed) = self.observed.lock() else { return false };
        match observed.as_ref() {
            Some((seen, at)) if seen == record => {
                at.elapsed() >= Duration::from_secs(record.lease_duration_seconds.max(1) as u64)
            }
            _ => {
                *observed = Some((record.clone(), Instant::now()));
                false
            }
        }
    }

    /// Clears the holder so another replica can take over at once.
    async fn release(&self) {
        let (name, namespace) = (&self.config.name, &self.config.namespace);
        match self.lock.get(name).await {
            Ok(Some((current, version, _))) if current.holder_identity == self.config.identity => {
                let released = Record {
                    holder_identity: String::new(),
                    lease_duration_seconds: 1,
                    renew_time: Some(Timestamp::now()),
                    ..current
                };
                match self.lock.write(name, namespace, &released, &version).await {
                    Ok(()) => tracing::info!(identity = %self.config.identity, "released the leader lock"),
                    Err(error) => tracing::warn!(%error, "could not release the leader lock"),
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not read the leader lock to release it"),
        }
    }

    async fn record_event(&self, reference: &ObjectReference) {
        use kube::runtime::events::{Event, EventType, Recorder, Reporter};
        let reporter =
            Reporter { controller: "gatehouse-ingress".into(), instance: Some(self.config.identity.clone()) };
        let recorder = Recorder::new(self.client.clone(), reporter);
        let event = Event {
            type_: EventType::Normal,
            reason: "LeaderElection".into(),
            note: Some(format!("{} became leader", self.config.identity)),
            action: "Acquire".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, reference).await {
            tracing::warn!(%error, "could not record the LeaderElection event");
        }
    }
}

/// This replica's identity: the pod name, else the hostname with a random suffix (as client-go does).
pub fn default_identity(flag: Option<&str>) -> String {
    if let Some(id) = flag.filter(|s| !s.is_empty()) {
        return id.to_string();
    }
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "gatehouse-ingress".into());
    format!("{host}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_record_is_client_gos_json() {
        let record = Record {
            holder_identity: "pod-a".into(),
            lease_duration_seconds: 15,
            acquire_time: Some("2026-11-26T06:00:00Z".parse().unwrap()),
            renew_time: Some("2026-11-26T06:00:10Z".parse().unwrap()),
            leader_transitions: 3,
        };
        let text = serde_json::to_value(&record).unwrap();
        assert_eq!(
            text,
            serde_json::json!({
                "holderIdentity": "pod-a", "leaseDurationSeconds": 15, "acquireTime": "2026-11-26T06:00:00Z",
                "renewTime": "2026-11-26T06:00:10Z", "leaderTransitions": 3
            })
        );
        let back: Record = serde_json::from_value(text).unwrap();
        assert_eq!(back, record);
    }
}
