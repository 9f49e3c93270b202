//! `/healthz`, `/readyz` and `/metrics` for probes and monitoring.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Counters the controller updates and `/metrics` renders.
#[derive(Default)]
pub struct Metrics {
    /// Every watch listed at least once.
    pub caches_synced: AtomicBool,
    pub leader: AtomicBool,
    pub leader_transitions: AtomicU64,
    pub syncs_ok: AtomicU64,
    pub syncs_failed: AtomicU64,
    pub syncs_skipped: AtomicU64,
    pub translation_failures: AtomicU64,
    /// Last translate duration in microseconds.
    pub translate_micros: AtomicU64,
    /// Last push duration in microseconds.
    pub push_micros: AtomicU64,
    /// Secrets the watch cache holds whole (labelled or referenced), and those it holds only the metadata of.
    pub secrets_whole: AtomicU64,
    pub secrets_metadata: AtomicU64,
}

impl Metrics {
    fn render(&self, identity: &str) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let flag = |a: &AtomicBool| u8::from(a.load(Ordering::Relaxed));
        format!(
            "# HELP gatehouse_ingress_leader Whether this replica is the leader.\n\
             # TYPE gatehouse_ingress_leader gauge\n\
             gatehouse_ingress_leader{{identity=\"{identity}\"}} {}\n\
             # TYPE gatehouse_ingress_leader_transitions_total counter\n\
             gatehouse_ingress_leader_transitions_total {}\n\
             # TYPE gatehouse_ingress_syncs_total counter\n\
             gatehouse_ingress_syncs_total{{result=\"ok\"}} {}\n\
             gatehouse_ingress_syncs_total{{result=\"failed\"}} {}\n\
             gatehouse_ingress_syncs_total{{result=\"skipped\"}} {}\n\
             # TYPE gatehouse_ingress_translation_failures_total counter\n\
             gatehouse_ingress_translation_failures_total {}\n\
             # TYPE gatehouse_ingress_translate_seconds gauge\n\
             gatehouse_ingress_translate_seconds {}\n\
             # TYPE gatehouse_ingress_push_seconds gauge\n\
             gatehouse_ingress_push_seconds {}\n\
             # TYPE gatehouse_ingress_caches_synced gauge\n\
             gatehouse_ingress_caches_synced {}\n\
             # HELP gatehouse_ingress_cached_secrets Secrets in the watch cache, whole or only their metadata.\n\
             # TYPE gatehouse_ingress_cached_secrets gauge\n\
             gatehouse_ingress_cached_secrets{{kept=\"whole\"}} {}\n\
             gatehouse_ingress_cached_secrets{{kept=\"metadata\"}} {}\n",
            flag(&self.leader),
            get(&self.leader_transitions),
            get(&self.syncs_ok),
            get(&self.syncs_failed),
            get(&self.syncs_skipped),
            get(&self.translation_failures),
            get(&self.translate_micros) as f64 / 1e6,
            get(&self.push_micros) as f64 / 1e6,
            flag(&self.caches_synced),
            get(&self.secrets_whole),
            get(&self.secrets_metadata),
        )
    }
}

struct Shared {
    metrics: Arc<Metrics>,
    identity: String,
}

/// Serves the probe endpoints until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, identity: String) {
    let state = Arc::new(Shared { metrics, identity });
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<Arc<Shared>>| async move {
                if s.metrics.caches_synced.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                }
            }),
        )
        .route("/metrics", get(|State(s): State<Arc<Shared>>| async move { s.metrics.render(&s.identity) }))
        .with_state(state);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(%error, "health server stopped");
    }
}
