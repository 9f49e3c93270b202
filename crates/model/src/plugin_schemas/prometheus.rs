//! `prometheus` (`kong/plugins/prometheus/schema.lua`, Kong 3.9). Its record `custom_validator`
//! (`validate_shared_dict`: the `prometheus_metrics` shared dict exists) always holds in Gatehouse.

use super::PluginSchema;
use crate::schema::Field;
use serde_json::json;

/// The config's flags, in Kong's order.
pub const FLAGS: &[&str] = &[
    "per_consumer",
    "status_code_metrics",
    "ai_metrics",
    "latency_metrics",
    "bandwidth_metrics",
    "upstream_health_metrics",
];

pub fn schema() -> PluginSchema {
    PluginSchema::new("prometheus", FLAGS.iter().map(|f| Field::boolean(f).default(json!(false))).collect())
}

#[cfg(test)]
mod tests {
    use crate::schema::Context;
    use crate::FieldErrors;
    use serde_json::{json, Map, Value};

    fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
        let schema = crate::plugin_schemas::entity_schema("prometheus").unwrap();
        schema.prepare(input.as_object().cloned().unwrap(), Context::Insert, None, 0)
    }

    #[test]
    fn defaults() {
        let p = prepare(json!({"name": "prometheus"})).unwrap();
        assert_eq!(
            p["config"],
            json!({
                "per_consumer": false, "status_code_metrics": false, "ai_metrics": false, "latency_metrics": false,
                "bandwidth_metrics": false, "upstream_health_metrics": false,
            })
        );
        // `typedefs.protocols`: every protocol, stream ones included.
        assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
        assert!(prepare(json!({"name": "prometheus", "protocols": ["tcp", "tls"]})).is_ok());
        let p =
            prepare(json!({"name": "prometheus", "config": {"per_consumer": true, "latency_metrics": null}})).unwrap();
        assert_eq!((&p["config"]["per_consumer"], &p["config"]["latency_metrics"]), (&json!(true), &Value::Null));
    }

    #[test]
    fn rules() {
        let err = |config: Value| prepare(json!({"name": "prometheus", "config": config})).unwrap_err().summary();
        assert_eq!(err(json!({"per_consumer": "yes"})), "schema violation (config.per_consumer: expected a boolean)");
        assert_eq!(err(json!({"foo": true})), "schema violation (config.foo: unknown field)");
        assert_eq!(
            prepare(json!({"name": "prometheus", "protocols": ["ftp"]})).unwrap_err().summary(),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
        );
    }
}
