//! Tests of the upstreams schema.

use super::*;
use crate::schema::Context;

fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
    upstreams().prepare(input.as_object().cloned().unwrap_or_default(), Context::Insert, None, 1)
}

fn summary(input: Value) -> String {
    prepare(input).unwrap_err().summary()
}

#[test]
fn defaults_including_healthchecks() {
    let u = prepare(json!({"name": "backend.svc"})).unwrap();
    assert_eq!(u["algorithm"], "round-robin");
    assert_eq!((u["hash_on"].clone(), u["hash_fallback"].clone()), (json!("none"), json!("none")));
    assert_eq!(u["hash_on_cookie_path"], "/");
    assert_eq!(u["slots"], 10000);
    assert_eq!(u["use_srv_name"], false);
    for k in ["hash_on_header", "hash_on_cookie", "hash_on_query_arg", "host_header", "client_certificate", "tags"] {
        assert_eq!(u[k], Value::Null, "{k}");
    }
    let expected = json!({
        "threshold": 0,
        "active": {"type": "http", "timeout": 1, "concurrency": 10, "http_path": "/", "https_sni": null,
                   "https_verify_certificate": true, "headers": null,
                   "healthy": {"interval": 0, "http_statuses": [200, 302], "successes": 0},
                   "unhealthy": {"interval": 0, "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
                                 "tcp_failures": 0, "timeouts": 0, "http_failures": 0}},
        "passive": {"type": "http",
                    "healthy": {"http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                                  300, 301, 302, 303, 304, 305, 306, 307, 308], "successes": 0},
                    "unhealthy": {"http_statuses": [429, 500, 503], "tcp_failures": 0, "timeouts": 0, "http_failures": 0}}
    });
    assert_eq!(u["healthchecks"], expected);
    let partial = prepare(json!({"name": "u", "healthchecks": {"active": {"timeout": 5}}})).unwrap();
    assert_eq!(partial["healthchecks"]["active"]["timeout"], 5);
    assert_eq!(partial["healthchecks"]["active"]["concurrency"], 10);
    assert_eq!(partial["healthchecks"]["passive"]["type"], "http");
}

#[test]
fn name_rules() {
    assert_eq!(summary(json!({})), "schema violation (name: required field missing)");
    assert_eq!(
        summary(json!({"name": "a b"})),
        "schema violation (name: Invalid name ('a b'); must be a valid hostname)"
    );
    assert_eq!(
        summary(json!({"name": "10.0.0.1"})),
        "schema violation (name: Invalid name ('10.0.0.1'); no ip addresses allowed)"
    );
    assert_eq!(summary(json!({"name": "u:80"})), "schema violation (name: Invalid name ('u:80'); no port allowed)");
}

#[test]
fn nested_healthcheck_errors() {
    let err = prepare(json!({"name": "u", "healthchecks": {"active": {"healthy": {"http_statuses": [200, 1000]}}}}))
        .unwrap_err()
        .into_value();
    assert_eq!(
        err["healthchecks"]["active"]["healthy"]["http_statuses"],
        json!([null, "value should be between 100 and 999"])
    );
    let err = prepare(json!({"name": "u", "healthchecks": null})).unwrap_err();
    assert_eq!(err.summary(), "schema violation (healthchecks: required field missing)");
    let err = prepare(json!({"name": "u", "healthchecks": {"threshold": 101}})).unwrap_err();
    assert_eq!(err.summary(), "schema violation (healthchecks.threshold: value should be between 0 and 100)");
}

#[test]
fn hash_conditionals() {
    assert_eq!(
        summary(json!({"name": "u", "hash_on": "header"})),
        "2 schema violations (failed conditional validation given value of field 'hash_on'; hash_on_header: required field missing)"
    );
    assert_eq!(
        summary(json!({"name": "u", "hash_on": "ip", "hash_fallback": "cookie"})),
        "2 schema violations (failed conditional validation given value of field 'hash_fallback'; hash_on_cookie: required field missing)"
    );
    assert_eq!(
        summary(json!({"name": "u", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "ip"})),
        "2 schema violations (failed conditional validation given value of field 'hash_on'; hash_fallback: expected one of: none)"
    );
    assert_eq!(
        summary(json!({"name": "u", "hash_on": "ip", "hash_fallback": "ip"})),
        "2 schema violations (failed conditional validation given value of field 'hash_on'; \
         hash_fallback: expected one of: none, consumer, header, cookie, path, query_arg, uri_capture)"
    );
    assert_eq!(
        summary(
            json!({"name": "u", "hash_on": "header", "hash_on_header": "x", "hash_fallback": "header", "hash_fallback_header": "x"})
        ),
        "schema violation (values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header')"
    );
    assert!(prepare(json!({"name": "u", "hash_on": "query_arg", "hash_on_query_arg": "q"})).is_ok());
    assert!(prepare(json!({"name": "u", "hash_on": "cookie", "hash_on_cookie": "sid"})).is_ok());
}

#[test]
fn algorithm_shorthands() {
    let u = prepare(json!({"name": "u", "hash_on": "ip"})).unwrap();
    assert_eq!(u["algorithm"], "consistent-hashing");
    let u = prepare(json!({"name": "u", "algorithm": "consistent-hashing", "hash_on": "none"})).unwrap();
    assert_eq!(u["algorithm"], "round-robin");
    let u = prepare(json!({"name": "u", "algorithm": "latency", "hash_on": "ip"})).unwrap();
    assert_eq!((u["algorithm"].clone(), u["hash_on"].clone()), (json!("latency"), json!("none")));
    let u = prepare(json!({"name": "u", "hash_on": null})).unwrap();
    assert_eq!(u["hash_on"], "none");
    assert_eq!(summary(json!({"name": "u", "algorithm": 1})), "schema violation (algorithm: expected a string)");
    assert_eq!(
        summary(json!({"name": "u", "algorithm": "random"})),
        "schema violation (algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency)"
    );
}
