//! The sync loop: level-triggered, on a change (debounced) and every `--proxy-sync-seconds`.
//!
//! 1. Nothing is pushed before every watch has listed once: an empty cache must never wipe the gateway.
//! 2. The watched objects are translated when they changed; the result is pushed only when it differs from
//!    what was pushed last, or the gateway's change log moved (see `Syncer::sync`).
//! 3. Objects the gateway rejects are left out with everything that depends on them, and the rest is
//!    pushed again (KIC's fallback configuration); each is reported with an Event.
//! 4. Once the configuration is live on every gateway node (the propagation endpoint), Ingress status and
//!    the `Programmed` conditions are written.
//! 5. While the gateway is unreachable, the push is retried with backoff and the desired state kept.
//!
//! Only the leader pushes or writes to Kubernetes; followers keep their watches and translation warm.

use crate::cli::Flags;
use crate::election::Elector;
use crate::health::Metrics;
use crate::objects::Objects;
use crate::report::{StatusReporter, Subject, APPLY_FAILED, TRANSLATION_FAILED};
use crate::sync::{retry_delay, SyncOutcome, SyncReport, Syncer};
use crate::translate::{self, ObjectRef, Settings, Translation};
use crate::watch::{Cache, KINDS};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long changes are collected before a sync starts.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// How long a sync waits for the configuration to reach every gateway node before writing status.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Controller {
    pub flags: Flags,
    pub cache: Arc<Cache>,
    pub syncer: Syncer,
    pub reporter: StatusReporter,
    pub metrics: Arc<Metrics>,
    pub elector: Option<Arc<Elector>>,
    pub settings: Settings,
}

/// The translation of one generation of the watched objects.
struct Translated {
    generation: u64,
    objects: Objects,
    translation: Translation,
    /// Objects the gateway rejected for this generation, and the configuration without them. While the
    /// objects stay the same, the fallback is what is kept in sync (the full configuration would fail again).
    fallback: Option<(Vec<ObjectRef>, serde_json::Value)>,
    /// Hash of the configuration to keep in sync (the fallback's while there is one).
    hash: String,
    /// Whether Ingress status and conditions were written for this generation. A change that translates to
    /// the same configuration (e.g. the publish Service's address) is reported without a push.
    reported: bool,
}

impl Controller {
    fn is_leader(&self) -> bool {
        self.elector.as_ref().is_none_or(|e| e.is_leader())
    }

    /// Runs until `stop` turns true. An in-flight push is finished before returning.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !self.cache.synced() {
            tokio::select! {
                _ = self.cache.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
        self.metrics.caches_synced.store(true, Ordering::Relaxed);
        tracing::info!("every watch has listed once; syncing");
        let mut leadership = self.elector.as_ref().map(|e| e.subscribe());
        let mut current: Option<Translated> = None;
        let mut failures: u32 = 0;
        let mut next_try = Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            let generation = self.cache.generation();
            if current.as_ref().is_none_or(|c| c.generation != generation) {
                current = Some(self.translate(generation).await);
                if failures == 0 {
                    next_try = Instant::now();
                }
            }
            let leading = self.is_leader();
            if leading && Instant::now() >= next_try {
                if let Some(translated) = current.as_mut() {
                    match self.push(translated).await {
                        Ok(()) => {
                            failures = 0;
                            next_try = Instant::now() + self.flags.sync_period();
                        }
                        Err(error) => {
                            self.metrics.syncs_failed.fetch_add(1, Ordering::Relaxed);
                            let delay = retry_delay(failures);
                            failures = failures.saturating_add(1);
                            next_try = Instant::now() + delay;
                            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "push failed; keeping the desired state");
                        }
                    }
                }
            }
            // Followers only keep translating; a leader wakes for the next periodic or retried push.
            let wait = if leading {
                next_try.saturating_duration_since(Instant::now()).max(DEBOUNCE)
            } else {
                self.flags.sync_period()
            };
            tokio::select! {
                _ = self.cache.changed() => tokio::time::sleep(DEBOUNCE).await,
                _ = tokio::time::sleep(wait) => {}
                _ = async {
                    match leadership.as_mut() {
                        Some(rx) => { let _ = rx.changed().await; }
                        None => std::future::pending().await,
                    }
                } => {
                    // A new leader syncs at once, and then follows the regular cadence.
                    self.syncer.invalidate();
                    next_try = Instant::now();
                }
                _ = stop.changed() => return,
            }
        }
    }

    async fn translate(&self, mut generation: u64) -> Translated {
        // Secrets that just became referenced are read whole first, so the translation sees them (rather
        // than failing on a missing Secret once and reporting it).
        let objects = loop {
            let objects = self.cache.objects();
            if !self.cache.set_referenced_secrets(crate::references::referenced_secrets(&objects)).await {
                break objects;
            }
            generation = self.cache.generation();
        };
        let (whole, metadata) = self.cache.secret_counts();
        self.metrics.secrets_whole.store(whole as u64, Ordering::Relaxed);
        self.metrics.secrets_metadata.store(metadata as u64, Ordering::Relaxed);
        let started = Instant::now();
        let translation = translate::translate(&objects, &self.settings);
        self.metrics.translate_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.translation_failures.fetch_add(translation.failures.len() as u64, Ordering::Relaxed);
        if self.is_leader() {
            for failure in &translation.failures {
                self.reporter.warn(&subject(&failure.object), TRANSLATION_FAILED, &failure.message).await;
            }
        }
        let hash = crate::sync::config_hash(&translation.config);
        Translated { generation, objects, translation, fallback: None, hash, reported: false }
    }

    /// Pushes the translation; on rejected objects, pushes the fallback configuration without them.
    async fn push(&self, translated: &mut Translated) -> anyhow::Result<()> {
        let started = Instant::now();
        let timeout = Duration::from_secs_f64(self.flags.proxy_timeout_seconds.max(1.0));
        let desired = match &translated.fallback {
            Some((_, config)) => config,
            None => &translated.translation.config,
        };
        let outcome =
            tokio::time::timeout(timeout, self.syncer.sync_hashed(desired, translated.hash.clone())).await??;
        let report = match outcome {
            SyncOutcome::UpToDate => {
                self.metrics.syncs_skipped.fetch_add(1, Ordering::Relaxed);
                if !translated.reported {
                    let rejected = translated.fallback.as_ref().map(|(r, _)| r.clone()).unwrap_or_default();
                    translated.reported = self.after_push(translated, &SyncReport::default(), &rejected).await;
                }
                return Ok(());
            }
            SyncOutcome::Pushed(report) => report,
        };
        let (report, rejected) = match (&translated.fallback, report.failures.is_empty()) {
            (Some((rejected, _)), _) => (report, rejected.clone()),
            (None, true) => (report, Vec::new()),
            (None, false) => {
                let (report, rejected, config) = self.fallback(translated, report, timeout).await?;
                if !rejected.is_empty() {
                    translated.hash = crate::sync::config_hash(&config);
                    translated.fallback = Some((rejected.clone(), config));
                }
                (report, rejected)
            }
        };
        self.metrics.push_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.syncs_ok.fetch_add(1, Ordering::Relaxed);
        let url = self.syncer.client().active_url();
        if rejected.is_empty() && report.is_clean() {
            let message = format!("successfully applied Kong configuration to {url}");
            self.reporter.outcome(true, &message).await;
        } else {
            let message = format!("failed to apply Kong configuration to {url}: {} objects rejected", rejected.len());
            self.reporter.outcome(false, &message).await;
        }
        translated.reported = self.after_push(translated, &report, &rejected).await;
        Ok(())
    }

    /// Reports the rejected objects and pushes the configuration without them and their dependants.
    async fn fallback(
        &self,
        translated: &Translated,
        first: SyncReport,
        timeout: Duration,
    ) -> anyhow::Result<(SyncReport, Vec<ObjectRef>, serde_json::Value)> {
        let mut rejected: Vec<ObjectRef> = Vec::new();
        for failure in &first.failures {
            let Some(object) = ObjectRef::from_k8s(&failure.object) else { continue };
            self.reporter.warn(&subject(&object), APPLY_FAILED, &failure.message).await;
            if !rejected.contains(&object) {
                rejected.push(object);
            }
        }
        if rejected.is_empty() {
            return Ok((first, rejected, serde_json::Value::Null));
        }
        let fallback = translate::translate_excluding(&translated.objects, &self.settings, &rejected);
        tracing::warn!(rejected = rejected.len(), "gateway rejected objects; pushing the configuration without them");
        let report = tokio::time::timeout(timeout, self.syncer.push(&fallback.config)).await??;
        Ok((report, rejected, fallback.config))
    }

    /// Writes Ingress status and `Programmed` conditions once the configuration is live on every node;
    /// returns whether it did.
    async fn after_push(&self, translated: &Translated, report: &SyncReport, rejected: &[ObjectRef]) -> bool {
        // A sync that wrote nothing still waits for the gateway's latest change: an earlier push may not
        // have reached every node yet.
        let seq = match report.max_seq {
            Some(seq) => Some(seq),
            None => self.syncer.client().latest_change_seq().await.unwrap_or(None),
        };
        if let Some(seq) = seq {
            match self.syncer.client().wait_propagated(seq, PROPAGATION_TIMEOUT).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(seq, "configuration not yet live on every node; status left for the next sync");
                    self.syncer.invalidate();
                    return false;
                }
                Err(error) => tracing::debug!(%error, "propagation endpoint not available"),
            }
        }
        let excluded: HashSet<ObjectRef> = if rejected.is_empty() {
            HashSet::new()
        } else {
            translate::excluded_objects(&translated.objects, &self.settings, rejected).into_iter().collect()
        };
        let failed: HashSet<(String, String, String)> = translated
            .translation
            .failures
            .iter()
            .map(|f| (f.object.kind.clone(), f.object.namespace.clone(), f.object.name.clone()))
            .chain(excluded.iter().map(|o| (o.kind.clone(), o.namespace.clone(), o.name.clone())))
            .collect();
        if self.flags.update_status {
            let addresses = self
                .reporter
                .publish_addresses(&self.flags.publish_status_address, self.flags.publish_service.as_deref())
                .await;
            if !addresses.is_empty() {
                let ingresses: Vec<(String, String)> = translated
                    .objects
                    .ingresses
                    .iter()
                    .filter(|i| ingress_is_ours(i, &self.settings.ingress_class, &translated.objects))
                    .map(|i| {
                        (i.metadata.namespace.clone().unwrap_or_default(), i.metadata.name.clone().unwrap_or_default())
                    })
                    .filter(|(ns, name)| !failed.contains(&("Ingress".to_string(), ns.clone(), name.clone())))
                    .collect();
                self.reporter.ingress_status(&ingresses, &addresses).await;
            }
        }
        self.programmed_conditions(translated, &failed).await;
        true
    }

    async fn programmed_conditions(&self, translated: &Translated, failed: &HashSet<(String, String, String)>) {
        let objects = &translated.objects;
        let lists = [
            ("KongPlugin", &objects.kong_plugins),
            ("KongClusterPlugin", &objects.kong_cluster_plugins),
            ("KongConsumer", &objects.kong_consumers),
        ];
        for (kind, list) in lists {
            let Some(resource) = KINDS.iter().find(|k| k.kind == kind).map(|k| k.api_resource()) else { continue };
            for object in list {
                let subject = crd_subject(kind, object);
                let key = (kind.to_string(), subject.namespace.clone().unwrap_or_default(), subject.name.clone());
                let ok = !failed.contains(&key);
                let message = if ok {
                    "Object was successfully configured in Kong"
                } else {
                    "Object could not be configured in Kong"
                };
                self.reporter.programmed(&subject, &resource, ok, message).await;
            }
        }
    }
}

fn crd_subject(kind: &str, object: &serde_json::Value) -> Subject {
    let meta = &object["metadata"];
    let text = |f: &str| meta.get(f).and_then(|v| v.as_str()).map(str::to_string);
    Subject {
        api_version: object["apiVersion"].as_str().unwrap_or_default().to_string(),
        kind: kind.to_string(),
        namespace: text("namespace"),
        name: text("name").unwrap_or_default(),
        uid: text("uid"),
    }
}

fn subject(object: &ObjectRef) -> Subject {
    Subject {
        api_version: object.api_version.clone(),
        kind: object.kind.clone(),
        namespace: (!object.namespace.is_empty()).then(|| object.namespace.clone()),
        name: object.name.clone(),
        uid: (!object.uid.is_empty()).then(|| object.uid.clone()),
    }
}

/// KIC's class selection: the `kubernetes.io/ingress.class` annotation, then `spec.ingressClassName`, then
/// the default IngressClass when it is this controller's class.
pub fn ingress_is_ours(ingress: &k8s_openapi::api::networking::v1::Ingress, class: &str, objects: &Objects) -> bool {
    if let Some(annotation) = ingress.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/ingress.class")) {
        return annotation == class;
    }
    if let Some(name) = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.as_ref()) {
        return name == class;
    }
    objects.ingress_classes.iter().any(|c| {
        c.metadata.name.as_deref() == Some(class)
            && c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("ingressclass.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true")
    })
}
