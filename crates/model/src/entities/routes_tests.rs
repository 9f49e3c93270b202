//! Tests of the routes schema.

use super::*;
use crate::schema::Context;

fn prepare(input: Value) -> Result<Map<String, Value>, FieldErrors> {
    routes().prepare(input.as_object().cloned().unwrap_or_default(), Context::Insert, None, 1)
}

fn summary(input: Value) -> String {
    prepare(input).unwrap_err().summary()
}

#[test]
fn defaults() {
    let r = prepare(json!({"paths": ["/"]})).unwrap();
    assert_eq!(r["protocols"], json!(["http", "https"]));
    assert_eq!(r["https_redirect_status_code"], 426);
    assert_eq!(r["regex_priority"], 0);
    assert_eq!(r["strip_path"], true);
    assert_eq!(r["path_handling"], "v0");
    assert_eq!(r["preserve_host"], false);
    assert_eq!((r["request_buffering"].clone(), r["response_buffering"].clone()), (json!(true), json!(true)));
    for k in ["name", "methods", "hosts", "headers", "snis", "sources", "destinations", "tags", "service"] {
        assert_eq!(r[k], Value::Null, "{k}");
    }
}

#[test]
fn subschema_selection_errors_are_returned_alone() {
    assert_eq!(
        summary(json!({"protocols": null, "name": "a b"})),
        "schema violation (protocols: required field missing)"
    );
    assert_eq!(
        summary(json!({"protocols": ["ftp"], "name": "a b"})),
        "schema violation (protocols: unknown type: ftp)"
    );
    assert_eq!(summary(json!({"protocols": []})), "schema violation (protocols: unknown type: nil)");
    assert_eq!(
        summary(json!({"protocols": ["foo", "http"], "paths": ["/"]})),
        "schema violation (protocols.1: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
    );
}

#[test]
fn protocol_subsets_are_exclusive() {
    assert_eq!(
        summary(json!({"protocols": ["http", "tcp", "https", "udp"], "paths": ["/"]})),
        "schema violation (protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'))"
    );
}

#[test]
fn http_rules() {
    assert_eq!(
        summary(json!({})),
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')"
    );
    assert_eq!(
        summary(json!({"protocols": ["http"]})),
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http')"
    );
    assert_eq!(
        summary(json!({"paths": ["/"], "sources": [{"ip": "1.2.3.4"}]})),
        "schema violation (sources: cannot set 'sources' when 'protocols' is 'http' or 'https')"
    );
    assert_eq!(
        summary(json!({"protocols": ["http"], "hosts": ["h"], "snis": ["h"]})),
        "2 schema violations ('snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'; \
         snis: length must be 0)"
    );
    assert_eq!(summary(json!({"methods": ["get"]})), "schema violation (methods.1: invalid value: get)");
    assert_eq!(
        summary(json!({"https_redirect_status_code": 200, "paths": ["/"]})),
        "schema violation (https_redirect_status_code: expected one of: 426, 301, 302, 307, 308)"
    );
    assert!(prepare(json!({"hosts": ["*.example.com"], "methods": ["GET"], "snis": ["*.example.com"]})).is_ok());
}

#[test]
fn headers_rules() {
    assert_eq!(
        summary(json!({"headers": {"Host": ["example.com"]}})),
        "schema violation (headers: cannot contain 'host' header, which must be specified in the 'hosts' attribute)"
    );
    assert_eq!(summary(json!({"headers": {"x-a": "b"}})), "schema violation (headers: expected an array)");
    assert!(prepare(json!({"headers": {"x-version": ["1", "2"]}})).is_ok());
}

#[test]
fn path_rules() {
    assert_eq!(
        summary(json!({"paths": ["/ok", "/a/./b"]})),
        "schema violation (paths.2: non-normalized path, consider use '/a/b' instead)"
    );
    assert_eq!(
        summary(json!({"paths": ["a"]})),
        "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))"
    );
    assert_eq!(
        summary(json!({"paths": ["~/(unclosed"]})),
        "schema violation (paths.1: invalid regex: '/(unclosed' (PCRE returned: unclosed group))"
    );
    let lookahead = summary(json!({"paths": ["~/(?=x)"]}));
    assert!(lookahead.starts_with("schema violation (Router Expression failed validation: "), "{lookahead}");
    assert!(prepare(json!({"paths": ["~/users/\\d+$"]})).is_ok());
    assert_eq!(
        summary(json!({"paths": ["~/(bad", "/a/./b"]})),
        "2 schema violations (paths.1: invalid regex: '/(bad' (PCRE returned: unclosed group); \
         paths.2: non-normalized path, consider use '/a/b' instead)"
    );
}

#[test]
fn stream_rules() {
    assert_eq!(
        summary(json!({"protocols": ["tcp"]})),
        "schema violation (must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp')"
    );
    assert_eq!(
        summary(json!({"protocols": ["tcp"], "paths": ["/"], "sources": [{"ip": "1.2.3.4"}]})),
        "schema violation (paths: cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp')"
    );
    assert_eq!(
        summary(json!({"protocols": ["tls_passthrough"]})),
        "schema violation (must set snis when 'protocols' is 'tls_passthrough')"
    );
    assert_eq!(
        summary(json!({"protocols": ["tcp"], "sources": [{"ip": "1.2.3.4"}, {}]})),
        "schema violation (sources.2: at least one of these fields must be non-empty: 'ip', 'port')"
    );
    assert_eq!(
        summary(json!({"protocols": ["tcp"], "destinations": [{"port": 70000}]})),
        "schema violation (destinations.1.port: value should be between 0 and 65535)"
    );
    assert_eq!(
        summary(json!({"protocols": ["tcp"], "sources": [{"ip": "bad"}, {}]})),
        "2 schema violations (sources.1.ip: invalid ip or cidr range: 'bad'; \
         sources.2: at least one of these fields must be non-empty: 'ip', 'port')"
    );
    assert!(prepare(json!({"protocols": ["tls"], "snis": ["example.com"]})).is_ok());
    assert!(prepare(json!({"protocols": ["udp"], "destinations": [{"ip": "10.0.0.0/8", "port": 53}]})).is_ok());
}

#[test]
fn grpc_rules() {
    let r = prepare(json!({"protocols": ["grpc"], "paths": ["/"]})).unwrap();
    assert_eq!(r["strip_path"], false);
    assert_eq!(
        summary(json!({"protocols": ["grpcs"], "strip_path": true, "methods": ["GET"], "hosts": ["h"]})),
        "2 schema violations (methods: cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'; \
         strip_path: cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs')"
    );
    assert_eq!(
        summary(json!({"protocols": ["grpcs"]})),
        "schema violation (must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs')"
    );
    assert_eq!(
        summary(json!({"protocols": ["grpc"]})),
        "schema violation (must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc')"
    );
}
