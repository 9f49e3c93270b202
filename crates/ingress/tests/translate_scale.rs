//! Translation at scale: 1,000 Ingresses + 1,000 Services (+ EndpointSlices, TLS, plugins) produce every
//! entity. (Its speed is measured by `bench/ingress`, not here.)

use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings};
use serde_json::json;

/// A cluster of `n` Ingresses with their Services, EndpointSlices, TLS Secrets and plugins.
pub fn big_cluster(n: usize) -> Objects {
    let mut o = Objects::default();
    for i in 0..n {
        let ns = format!("ns-{}", i % 20);
        o.add(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{i}"), "namespace": ns, "uid": format!("svc-uid-{i}"),
                         "annotations": {"konghq.com/plugins": "rl", "konghq.com/connect-timeout": "1000"}},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "admin", "port": 81}]}
        }))
        .unwrap();
        o.add(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("svc-{i}-abc"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [format!("10.{}.{}.1", i / 250, i % 250)]},
                          {"addresses": [format!("10.{}.{}.2", i / 250, i % 250)], "conditions": {"ready": true}},
                          {"addresses": [format!("10.{}.{}.3", i / 250, i % 250)], "conditions": {"ready": false}}]
        }))
        .unwrap();
        o.add(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": format!("ing-{i}"), "namespace": ns, "uid": format!("ing-uid-{i}"),
                         "annotations": {"konghq.com/strip-path": "true", "konghq.com/plugins": "rl"}},
            "spec": {
                "ingressClassName": "kong",
                "tls": [{"hosts": [format!("host-{i}.example.com")], "secretName": "missing-secret"}],
                "rules": [{"host": format!("host-{i}.example.com"), "http": {"paths": [
                    {"path": "/api", "pathType": "Prefix",
                     "backend": {"service": {"name": format!("svc-{i}"), "port": {"number": 80}}}},
                    {"path": "/exact", "pathType": "Exact",
                     "backend": {"service": {"name": format!("svc-{i}"), "port": {"name": "http"}}}}
                ]}}]
            }
        }))
        .unwrap();
    }
    for n in 0..20 {
        o.add(json!({"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
                     "metadata": {"name": "rl", "namespace": format!("ns-{n}")},
                     "plugin": "rate-limiting", "config": {"minute": 10}}))
            .unwrap();
    }
    o
}

#[test]
fn a_thousand_ingresses_translate_completely() {
    let objects = big_cluster(1000);
    let t = translate(&objects, &Settings::default());
    assert_eq!(t.config["services"].as_array().unwrap().len(), 2000);
    assert_eq!(t.config["upstreams"].as_array().unwrap().len(), 2000);
    assert_eq!(t.config["plugins"].as_array().unwrap().len(), 4000);
    assert_eq!(t.config["upstreams"][0]["targets"].as_array().unwrap().len(), 2);
}
