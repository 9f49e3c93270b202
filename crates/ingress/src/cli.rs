//! Command-line flags, named as Kong's controller (KIC) names them so existing deployments carry over.

use clap::Parser;
use std::time::Duration;

/// How the leader's identity is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ElectionLock {
    /// A `coordination.k8s.io/v1` Lease.
    Lease,
    /// A ConfigMap carrying the record in the `control-plane.alpha.kubernetes.io/leader` annotation.
    Configmap,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "gatehouse-ingress", version, about = "Kubernetes ingress controller for Gatehouse (Kong-compatible)")]
pub struct Flags {
    /// Path to a kubeconfig; without it the in-cluster config (or $KUBECONFIG) is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Admin API URLs of gateway nodes (comma-separated or repeated); nodes share one database, so the
    /// configuration is pushed to the first reachable one.
    #[arg(long = "kong-admin-url", value_delimiter = ',', default_value = "http://localhost:8001")]
    pub kong_admin_url: Vec<String>,

    /// Sent as the `Kong-Admin-Token` header.
    #[arg(long = "kong-admin-token", env = "CONTROLLER_KONG_ADMIN_TOKEN")]
    pub kong_admin_token: Option<String>,

    /// Accept any certificate from an https Admin API.
    #[arg(long = "kong-admin-tls-skip-verify", default_value_t = false)]
    pub kong_admin_tls_skip_verify: bool,

    /// Admin API requests in flight during a sync.
    #[arg(long = "kong-admin-concurrency", default_value_t = 10)]
    pub kong_admin_concurrency: usize,

    /// The ingress class this controller serves.
    #[arg(long = "ingress-class", default_value = "kong")]
    pub ingress_class: String,

    /// Namespaces to watch (comma-separated or repeated); all namespaces when empty.
    #[arg(long = "watch-namespace", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,

    /// `namespace/name` of the proxy Service whose address is written into Ingress status.
    #[arg(long = "publish-service")]
    pub publish_service: Option<String>,

    /// Addresses written into Ingress status instead of the publish Service's (comma-separated).
    #[arg(long = "publish-status-address", value_delimiter = ',')]
    pub publish_status_address: Vec<String>,

    /// Whether Ingress status is written at all.
    #[arg(long = "update-status", default_value_t = true, action = clap::ArgAction::Set)]
    pub update_status: bool,

    /// Seconds between periodic syncs (changes also trigger a sync, debounced).
    #[arg(long = "proxy-sync-seconds", default_value_t = 3.0)]
    pub proxy_sync_seconds: f64,

    /// Seconds one push to the gateway may take.
    #[arg(long = "proxy-timeout-seconds", default_value_t = 30.0)]
    pub proxy_timeout_seconds: f64,

    /// Base name of the leader election lock; the object is named `<id>-<ingress class>`.
    #[arg(long = "election-id", default_value = "ingress-controller-leader")]
    pub election_id: String,

    /// Namespace of the lock; defaults to the pod's namespace (POD_NAMESPACE), else `default`.
    #[arg(long = "election-namespace", env = "POD_NAMESPACE")]
    pub election_namespace: Option<String>,

    #[arg(long = "election-lock", value_enum, default_value_t = ElectionLock::Lease)]
    pub election_lock: ElectionLock,

    /// How long a lease is valid without renewal.
    #[arg(long = "election-lease-duration", value_parser = parse_duration, default_value = "15s")]
    pub election_lease_duration: Duration,

    /// A leader that has not renewed within this long stops writing.
    #[arg(long = "election-renew-deadline", value_parser = parse_duration, default_value = "10s")]
    pub election_renew_deadline: Duration,

    /// How often candidates try to acquire, and leaders renew.
    #[arg(long = "election-retry-period", value_parser = parse_duration, default_value = "2s")]
    pub election_retry_period: Duration,

    /// This replica's identity (defaults to the pod name, else the hostname and a random suffix).
    #[arg(long = "election-identity", env = "POD_NAME")]
    pub election_identity: Option<String>,

    /// Object (`kind/namespace/name`, e.g. `Pod/kong/ingress-0`) that receives `KongConfigurationSucceeded`
    /// events; defaults to this pod (POD_NAMESPACE/POD_NAME).
    #[arg(long = "event-object")]
    pub event_object: Option<String>,

    /// Address for `/healthz`, `/readyz` and `/metrics`.
    #[arg(long = "health-probe-bind-address", default_value = "127.0.0.1:10254")]
    pub health_address: String,

    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
}

/// Parses `15s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number.parse().map_err(|_| format!("invalid duration '{text}'"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in '{text}' (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("invalid duration '{text}'"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl Flags {
    /// The name of the leader election lock object.
    pub fn election_object_name(&self) -> String {
        format!("{}-{}", self.election_id, self.ingress_class)
    }

    pub fn sync_period(&self) -> Duration {
        Duration::from_secs_f64(self.proxy_sync_seconds.max(0.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kics() {
        let flags = Flags::parse_from(["gatehouse-ingress"]);
        assert_eq!(flags.ingress_class, "kong");
        assert_eq!(flags.proxy_sync_seconds, 3.0);
        assert_eq!(flags.election_object_name(), "ingress-controller-leader-kong");
        assert_eq!(flags.election_lock, ElectionLock::Lease);
        assert_eq!(
            (flags.election_lease_duration, flags.election_renew_deadline, flags.election_retry_period),
            (Duration::from_secs(15), Duration::from_secs(10), Duration::from_secs(2))
        );
        assert_eq!(flags.kong_admin_url, ["http://localhost:8001"]);
    }

    #[test]
    fn lists_and_durations() {
        let flags = Flags::parse_from([
            "gatehouse-ingress",
            "--watch-namespace=a,b",
            "--kong-admin-url",
            "http://n1:8001,http://n2:8001",
            "--election-lease-duration=1500ms",
            "--election-lock=configmap",
        ]);
        assert_eq!(flags.watch_namespace, ["a", "b"]);
        assert_eq!(flags.kong_admin_url.len(), 2);
        assert_eq!(flags.election_lease_duration, Duration::from_millis(1500));
        assert_eq!(flags.election_lock, ElectionLock::Configmap);
        assert!(parse_duration("2x").is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    }
}
