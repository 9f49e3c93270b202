//! `prometheus`: which optional metric families are collected.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Fill the `consumer` label of `kong_http_requests_total` and `kong_bandwidth_bytes`.
    pub per_consumer: bool,
    pub status_code_metrics: bool,
    pub ai_metrics: bool,
    pub latency_metrics: bool,
    pub bandwidth_metrics: bool,
    pub upstream_health_metrics: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    per_consumer: Option<bool>,
    status_code_metrics: Option<bool>,
    ai_metrics: Option<bool>,
    latency_metrics: Option<bool>,
    bandwidth_metrics: Option<bool>,
    upstream_health_metrics: Option<bool>,
}

/// The flags are not required: a null flag is off.
pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid prometheus config: {e}"))?;
    let on = |v: Option<bool>| v.unwrap_or(false);
    Ok(Config {
        per_consumer: on(raw.per_consumer),
        status_code_metrics: on(raw.status_code_metrics),
        ai_metrics: on(raw.ai_metrics),
        latency_metrics: on(raw.latency_metrics),
        bandwidth_metrics: on(raw.bandwidth_metrics),
        upstream_health_metrics: on(raw.upstream_health_metrics),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    #[test]
    fn flags() {
        assert_eq!(compile(&validated("prometheus", json!({}))).unwrap(), Config::default());
        let c = validated(
            "prometheus",
            json!({"per_consumer": true, "latency_metrics": null, "upstream_health_metrics": true}),
        );
        let c = compile(&c).unwrap();
        assert!(c.per_consumer && c.upstream_health_metrics && !c.latency_metrics && !c.status_code_metrics);
        // Configs the schema rejects.
        assert!(compile(&json!({"per_consumer": "yes"})).is_err());
        assert!(compile(&json!({"other": true})).is_err());
    }
}
