//! Tests of the typedef validators (`crate::typedefs`), with Kong's exact messages.

use super::*;
use serde_json::json;

fn err(f: fn(&Value) -> Result<(), String>, s: &str) -> String {
    f(&json!(s)).unwrap_err()
}

#[test]
fn host_rejects_ports_and_bad_names() {
    assert!(validate_host(&json!("example.com")).is_ok());
    assert!(validate_host(&json!("10.0.0.1")).is_ok());
    assert_eq!(err(validate_host, "example.com:80"), "must not have a port");
    assert_eq!(err(validate_host, "example.com:99999"), "must not have a port");
    assert_eq!(err(validate_host, "exa mple"), "invalid value: exa mple");
}

#[test]
fn host_with_optional_port_returns_normalize_errors() {
    assert!(validate_host_with_optional_port(&json!("example.com:80")).is_ok());
    assert_eq!(err(validate_host_with_optional_port, "a..b"), "invalid hostname: a..b");
    assert_eq!(err(validate_host_with_optional_port, "1.2.3.999"), "invalid ipv4 address: 1.2.3.999");
    assert_eq!(err(validate_host_with_optional_port, "h:70000"), "invalid port number");
}

#[test]
fn sni_and_wildcard_host() {
    assert_eq!(err(validate_sni, "1.2.3.4"), "must not be an IP");
    assert_eq!(err(validate_sni, "::1"), "must not be an IP");
    assert_eq!(err(validate_sni, "example.com:443"), "must not have a port");
    assert!(validate_wildcard_host(&json!("*.example.com")).is_ok());
    assert!(validate_wildcard_host(&json!("example.*")).is_ok());
    assert!(validate_wildcard_host(&json!("*")).is_ok());
    assert_eq!(err(validate_wildcard_host, "ex*ample.com"), "wildcard must be leftmost or rightmost character");
    assert_eq!(err(validate_wildcard_host, "*.example.*"), "only one wildcard must be specified");
    assert_eq!(err(validate_wildcard_host, "*.exa^mple"), "invalid value: wildcard.exa^mple");
}

#[test]
fn ips_and_cidrs() {
    assert!(validate_ip(&json!("::1")).is_ok());
    assert_eq!(err(validate_ip, "1.2.3"), "not an ip address: 1.2.3");
    assert!(validate_ip_or_cidr(&json!("10.0.0.0/8")).is_ok());
    assert!(validate_ip_or_cidr(&json!("2001:db8::/128")).is_ok());
    assert_eq!(err(validate_ip_or_cidr, "10.0.0.0/33"), "invalid ip or cidr range: '10.0.0.0/33'");
    assert_eq!(err(validate_ip_or_cidr, "nope"), "invalid ip or cidr range: 'nope'");
    assert_eq!(err(validate_cidr_v4, "::1/8"), "invalid ipv4 cidr range: '::1/8'");
}

#[test]
fn paths() {
    assert!(validate_path(&json!("/a/b%20c")).is_ok());
    assert_eq!(err(validate_path, "a"), "should start with: /");
    assert_eq!(err(validate_path, "/a//b"), "must not have empty segments");
    assert_eq!(
        err(validate_path, "/a b"),
        "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"
    );
    assert_eq!(err(validate_path, "/a%zz"), "invalid url-encoded value: '%zz'");
    assert_eq!(err(validate_path, "/a%4"), "invalid url-encoded value: '%4'");
}

#[test]
fn router_paths() {
    assert!(validate_router_path(&json!("/a b")).is_ok(), "rfc3986 errors are ignored for router paths");
    assert!(validate_router_path(&json!("~/users/\\d+")).is_ok());
    assert_eq!(err(validate_router_path, "x//y"), "must not have empty segments");
    assert_eq!(err(validate_router_path, "users"), "should start with: / (fixed path) or ~/ (regex path)");
    assert_eq!(err(validate_router_path, "/a/%zz"), "invalid url-encoded value: '%zz'");
    assert_eq!(err(validate_router_path, "/a/../b"), "non-normalized path, consider use '/b' instead");
    assert_eq!(err(validate_router_path, "/%7e"), "non-normalized path, consider use '/~' instead");
    assert!(router_regex_error("~/(unclosed").is_some());
    assert!(router_regex_error("~/ok/\\d+").is_none());
}

#[test]
fn route_hosts() {
    assert!(validate_route_host(&json!("*.example.com")).is_ok());
    assert!(validate_route_host(&json!("example.*")).is_ok());
    assert!(validate_route_host(&json!("example.com:8080")).is_ok());
    assert_eq!(err(validate_route_host, "*.*.com"), "invalid wildcard: must have at most one wildcard");
    assert_eq!(err(validate_route_host, "ex*.com"), "invalid wildcard: must be placed at leftmost or rightmost label");
    assert_eq!(err(validate_route_host, "*.exa mple.com"), "invalid hostname: abc.exa mple.com");
}

#[test]
fn url_header_cookie_names() {
    assert!(validate_url(&json!("http://example.com/x")).is_ok());
    assert_eq!(err(validate_url, "/just/a/path"), "missing host in url");
    assert_eq!(err(validate_url, "//example.com"), "missing scheme in url");
    assert_eq!(
        err(validate_header_name, "X Bad"),
        "bad header name 'X Bad', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    );
    assert!(validate_cookie_name(&json!("session_id")).is_ok());
    assert_eq!(
        err(validate_cookie_name, "a=b"),
        "contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the \
         characters ()<>@,;:\\\"/?={}[] are not allowed."
    );
}

#[test]
fn names_methods_and_tags() {
    assert!(validate_name(&json!("a.b-c_d~e")).is_ok());
    assert_eq!(
        err(validate_name, "a b"),
        "invalid value 'a b': it must only contain alphanumeric and '., -, _, ~' characters"
    );
    assert!(validate_utf8_name(&json!("café")).is_ok());
    assert_eq!(
        err(validate_utf8_name, "a/b"),
        "invalid value 'a/b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
    );
    assert_eq!(err(validate_http_method, "get"), "invalid value: get");
    assert!(validate_tag(&json!("a tag")).is_ok());
    assert!(validate_tag(&json!("a,b")).is_err());
}

#[test]
fn certificates_and_keys() {
    use crate::entities::test_certs::*;
    assert!(validate_certificate(&json!(RSA_CERT)).is_ok());
    assert!(validate_key(&json!(EC_KEY)).is_ok());
    assert!(validate_key(&json!("{vault://env/my-key}")).is_ok());
    assert!(err(validate_certificate, "garbage").starts_with("invalid certificate: "));
    assert!(err(validate_key, RSA_CERT).starts_with("invalid key: "));
}
