//! Tests: sizes, headers, plugins, trusted IPs, file syntax helpers.

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;

fn load(text: &str) -> Config {
    match Config::from_str(text, "t.conf", &HashMap::new()) {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn size_parsing() {
    assert_eq!(parse_size("0"), Some(0));
    assert_eq!(parse_size("512"), Some(512));
    assert_eq!(parse_size("8k"), Some(8192));
    assert_eq!(parse_size("8K"), Some(8192));
    assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
    assert_eq!(parse_size("1G"), Some(1 << 30));
    assert_eq!(parse_size(" 2m "), Some(2 << 20));
    for bad in ["", "k", "1.5m", "-1", "10 m", "10mb", "1t", "99999999999999999999", "18014398509481984k"] {
        assert_eq!(parse_size(bad), None, "{bad:?}");
    }
}

#[test]
fn time_parsing_follows_nginx() {
    let ms = |n: u64| Some(std::time::Duration::from_millis(n));
    assert_eq!(parse_time("60"), ms(60_000), "a plain number is seconds");
    assert_eq!(parse_time("60s"), ms(60_000));
    assert_eq!(parse_time("500ms"), ms(500));
    assert_eq!(parse_time("1m30s"), ms(90_000));
    assert_eq!(parse_time(" 1h 30m "), ms(5_400_000));
    assert_eq!(parse_time("2d"), ms(2 * 86_400_000));
    assert_eq!(parse_time("1w"), ms(7 * 86_400_000));
    assert_eq!(parse_time("1M"), ms(30 * 86_400_000));
    assert_eq!(parse_time("1y"), ms(365 * 86_400_000));
    for bad in ["", "s", "1.5s", "-1s", "10x", "1m 30", "0s 5", "10 s s", "99999999999999999999y"] {
        assert_eq!(parse_time(bad), None, "{bad:?}");
    }
}

#[test]
fn size_formatting_and_header_buffers() {
    assert_eq!(format_size(0), "0");
    assert_eq!(format_size(1000), "1000");
    assert_eq!(format_size(8192), "8k");
    assert_eq!(format_size(10 << 20), "10m");
    assert_eq!(format_size(1 << 30), "1g");
    assert_eq!(HeaderBuffers::parse("4 8k"), Some(HeaderBuffers { count: 4, size: 8192 }));
    assert_eq!(HeaderBuffers::parse("  2   1m ").map(|b| b.to_string()).as_deref(), Some("2 1m"));
    for bad in ["8k", "0 8k", "4 0", "4 8k 1", "x 8k", ""] {
        assert_eq!(HeaderBuffers::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn size_keys_in_config() {
    let c = load("client_max_body_size = 10m\nclient_body_buffer_size = 16k\nnginx_admin_client_max_body_size = 0\nmem_cache_size = 1g\n");
    assert_eq!(c.client_max_body_size, 10 << 20);
    assert_eq!(c.client_body_buffer_size, 16 << 10);
    assert_eq!(c.nginx_admin_client_max_body_size, 0);
    assert_eq!(c.mem_cache_size, 1 << 30);
}

#[test]
fn headers_tokens_expand() {
    let c = Config::load(None, &HashMap::new()).expect("defaults");
    for h in [
        "Via",
        "Server",
        "X-Kong-Proxy-Latency",
        "x-kong-admin-latency",
        "X-Kong-Upstream-Latency",
        "X-Kong-Response-Latency",
        "X-Kong-Request-Id",
    ] {
        assert!(c.headers.enabled(h), "{h}");
    }
    assert!(!c.headers.enabled("X-Kong-Upstream-Status"));
    assert!(c.headers_upstream.enabled("X-Kong-Request-Id"));

    let c = load("headers = X-Kong-Upstream-Status, via\nheaders_upstream = off\n");
    assert_eq!(c.headers.entries, ["x-kong-upstream-status", "via"]);
    assert!(c.headers.enabled("x-kong-upstream-status") && c.headers.enabled("VIA"));
    assert!(!c.headers.enabled("server"));
    assert!(!c.headers_upstream.enabled("x-kong-request-id"));

    let c = load("headers = off, via\n");
    assert!(!c.headers.enabled("via"), "off first disables everything");
    assert_eq!(c.to_sanitized_json()["headers"], serde_json::json!(["off", "via"]));
}

#[test]
fn plugins_setting() {
    let c = load("plugins = off\n");
    assert!(c.plugins.is_off());
    assert!(c.plugins.resolve(&["cors"]).is_empty());
    let c = load("plugins = custom-a, bundled, custom-a, custom_b\n");
    assert!(c.plugins.bundled);
    assert_eq!(c.plugins.custom, ["custom-a", "custom_b"]);
    assert_eq!(c.plugins.resolve(&["cors", "key-auth"]), ["cors", "key-auth", "custom-a", "custom_b"]);
    assert!(c.plugins.is_enabled("cors", &["cors"]));
    assert!(c.plugins.is_enabled("custom_b", &[]));
    let c = load("plugins = cors\n");
    assert!(!c.plugins.bundled);
    assert!(!c.plugins.is_enabled("key-auth", &["cors", "key-auth"]));
    assert_eq!(c.to_sanitized_json()["plugins"], serde_json::json!(["cors"]));
}

#[test]
fn trusted_ips_matching() {
    let c = load("trusted_ips = 10.0.0.0/8, 192.168.1.7, ::1, 2001:db8::/32, unix:\n");
    assert!(c.is_trusted_ip(ip("10.20.30.40")));
    assert!(c.is_trusted_ip(ip("192.168.1.7")));
    assert!(!c.is_trusted_ip(ip("192.168.1.8")));
    assert!(c.is_trusted_ip(ip("::1")));
    assert!(c.is_trusted_ip(ip("2001:db8:1::5")));
    assert!(!c.is_trusted_ip(ip("2001:db9::5")));
    assert!(c.is_trusted_ip(ip("::ffff:10.1.1.1")), "IPv4-mapped addresses match IPv4 blocks");
    assert!(c.trusts_unix_sockets());
    let all = load("trusted_ips = 0.0.0.0/0,::/0\n");
    assert!(all.is_trusted_ip(ip("8.8.8.8")) && all.is_trusted_ip(ip("fe80::1")));
    assert!(!all.trusts_unix_sockets());
    assert!(!load("").is_trusted_ip(ip("127.0.0.1")));
}

#[test]
fn inline_comment_stripping() {
    assert_eq!(syntax::strip_inline_comment("  abc  # c"), "abc");
    assert_eq!(syntax::strip_inline_comment("a\\#b"), "a#b");
    assert_eq!(syntax::strip_inline_comment("#all"), "");
    assert_eq!(syntax::strip_inline_comment("a \\# b # c \\# d"), "a # b");
}

#[test]
fn text_parser_reports_lines() {
    let (lines, errors) = syntax::parse_text("a=1\r\n\n  b = 2 \\\n 3\nnope\n");
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].line, lines[0].key.as_str(), lines[0].value.as_str()), (1, "a", "1"));
    assert_eq!((lines[1].line, lines[1].value.as_str()), (3, "2 3"));
    assert_eq!(errors, [(5, "expected 'key = value', got 'nope'".to_string())]);
}

#[test]
fn enums_round_trip() {
    for word in keys::LOG_LEVELS {
        assert_eq!(LogLevel::from_word(word).map(LogLevel::as_str), Some(*word));
    }
    for word in keys::ROUTER_FLAVORS {
        assert_eq!(RouterFlavor::from_word(word).map(RouterFlavor::as_str), Some(*word));
    }
    for word in keys::DATABASES {
        assert_eq!(Database::from_word(word).map(Database::as_str), Some(*word));
    }
    assert!(LogLevel::Debug < LogLevel::Emerg);
    assert_eq!(LogLevel::Notice.tracing_directive(), "info");
    let c = load("database = off\n");
    assert_eq!(c.database, Database::Off);
}

#[test]
fn get_returns_typed_values() {
    let c = load("pg_port = 6000\nlog_level = info\n");
    assert_eq!(c.get("pg_port"), Some(&Value::Int(6000)));
    assert_eq!(c.get("log_level"), Some(&Value::Str("info".into())));
    assert_eq!(c.get("pg_ssl"), Some(&Value::Bool(false)));
    assert_eq!(c.get("nope"), None);
}

#[test]
fn dns_order_defaults_to_kongs_and_reads_any_case() {
    assert_eq!(load("").dns_order, ["last", "srv", "a", "cname"]);
    assert_eq!(load("dns_order = SRV, aaaa,A\n").dns_order, ["srv", "aaaa", "a"]);
}

#[test]
fn tls_settings_become_the_listeners_policy() {
    assert_eq!(load("").tls_policy, gatehouse_proxy::tls::TlsPolicy::default());
    let modern = load("ssl_cipher_suite = modern\nssl_protocols = TLSv1.2\n").tls_policy;
    assert!(modern.tls13 && !modern.tls12, "ssl_protocols counts only with custom");
    let custom =
        load("ssl_cipher_suite = custom\nssl_protocols = TLSv1.2\nssl_prefer_server_ciphers = off\n").tls_policy;
    assert!(custom.tls12 && !custom.tls13 && !custom.prefer_server_ciphers);
    let sessions = load("ssl_session_tickets = off\nssl_session_cache_size = 1m\n").tls_policy;
    assert_eq!((sessions.session_tickets, sessions.session_cache), (false, 4_000), "nginx's 4,000 a megabyte");
    let errors = Config::from_str("ssl_cipher_suite = custom\nssl_protocols = SSLv3\n", "t.conf", &HashMap::new());
    let message = errors.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("ssl_protocols: invalid protocol 'SSLv3'"), "{message}");
}
