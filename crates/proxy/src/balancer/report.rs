//! JSON health reports shaped like Kong's `GET /upstreams/{u}/health` (with and without
//! `?balancer_health=1`); the caller adds `node_id`.

use super::{Balancer, TargetInfo};
use serde_json::{json, Value};

impl Balancer {
    /// `GET /upstreams/{u}/health` body: each target entity plus `health` (HEALTHY, UNHEALTHY, DNS_ERROR or
    /// HEALTHCHECKS_OFF) and `data` (Kong's `getTargetStatus`: host, port, dns, nodeWeight, weight,
    /// addresses with `ip`, `port`, `weight`, `health`).
    pub fn health_report(&self) -> Value {
        let data: Vec<Value> = self
            .targets
            .iter()
            .map(|target| {
                let status = self.target_status(target);
                let mut health = "DNS_ERROR";
                if !target.entries.is_empty() {
                    health = "HEALTHCHECKS_OFF";
                    let addresses = status["addresses"].as_array().map(Vec::as_slice).unwrap_or_default();
                    for address in addresses {
                        match address["health"].as_str() {
                            Some("HEALTHY") => {
                                health = "HEALTHY";
                                break;
                            }
                            Some("UNHEALTHY") => health = "UNHEALTHY",
                            _ => {}
                        }
                    }
                }
                let mut entity = target.entity.clone();
                entity.insert("health".into(), Value::from(health));
                entity.insert("data".into(), status);
                Value::Object(entity)
            })
            .collect();
        json!({ "data": data, "next": null })
    }

    /// `GET /upstreams/{u}/health?balancer_health=1` body: the balancer's overall health and its details.
    pub fn balancer_health(&self) -> Value {
        let healthy = self.is_balancer_healthy();
        let balancer_health = if healthy { "HEALTHY" } else { "UNHEALTHY" };
        let health = if self.uses_healthchecks() { balancer_health } else { "HEALTHCHECKS_OFF" };
        let available = self.available_weight();
        let hosts: Vec<Value> = self.targets.iter().map(|t| self.target_status(t)).collect();
        json!({
            "data": {
                "health": health,
                "balancer_health": balancer_health,
                "id": self.upstream_id,
                "details": {
                    "healthy": healthy,
                    "weight": {
                        "total": self.total_weight,
                        "unavailable": self.total_weight - available.min(self.total_weight),
                        "available": available,
                    },
                    "hosts": hosts,
                },
            },
            "next": null,
        })
    }

    fn target_status(&self, target: &TargetInfo) -> Value {
        let using = self.uses_healthchecks() && target.weight > 0;
        let entries = &self.entries[target.entries.clone()];
        let mut total = 0u64;
        let mut unavailable = 0u64;
        let addresses: Vec<Value> = entries
            .iter()
            .map(|e| {
                let healthy = e.state.is_healthy();
                total += u64::from(e.weight);
                if !healthy {
                    unavailable += u64::from(e.weight);
                }
                let health = match (using, healthy) {
                    (false, _) => "HEALTHCHECKS_OFF",
                    (true, true) => "HEALTHY",
                    (true, false) => "UNHEALTHY",
                };
                json!({ "ip": e.addr.ip().to_string(), "port": e.addr.port(), "weight": e.weight, "health": health })
            })
            .collect();
        let dns = match entries.first() {
            None => "dns server error: name resolution failed",
            Some(_) if target.srv => "SRV",
            Some(e) if e.addr.is_ipv6() => "AAAA",
            Some(_) => "A",
        };
        json!({
            "host": &*target.host,
            "port": target.port,
            "dns": dns,
            "nodeWeight": target.weight,
            "weight": { "total": total, "unavailable": unavailable, "available": total - unavailable },
            "addresses": addresses,
        })
    }
}
