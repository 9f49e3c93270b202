//! Tests: listener syntax.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::*;

fn parse(name: &str, value: &str) -> Result<Vec<Listener>, String> {
    listener::parse_listeners(name, value)
}

fn one(entry: &str) -> Listener {
    match Listener::parse(entry) {
        Some(l) => l,
        None => panic!("{entry} should parse"),
    }
}

#[test]
fn default_listeners() {
    let c = Config::load(None, &HashMap::new()).expect("defaults");
    let plain = c.proxy_plain_listener().expect("plain proxy");
    assert_eq!(plain.addr, Some("0.0.0.0:8000".parse::<SocketAddr>().expect("addr")));
    assert!(plain.reuseport && !plain.ssl && !plain.http2);
    assert_eq!(plain.backlog, Some(16384));
    let ssl = c.proxy_ssl_listener().expect("ssl proxy");
    assert_eq!(ssl.port, 8443);
    assert!(ssl.ssl && ssl.http2 && ssl.reuseport);
    assert_eq!(c.admin_plain_listener().map(Listener::authority).as_deref(), Some("127.0.0.1:8001"));
    assert_eq!(c.admin_ssl_listener().map(|l| l.port), Some(8444));
    assert_eq!(c.status_plain_listener().map(|l| l.port), Some(8007));
    assert!(first_listener(&c.status_listen, true).is_none());
}

#[test]
fn ipv4_with_all_flags() {
    let l = one(
        "10.0.0.1:9000 ssl http2 proxy_protocol deferred bind reuseport backlog=511 ipv6only=off so_keepalive=30m::10",
    );
    assert_eq!(l.host, "10.0.0.1");
    assert_eq!(l.port, 9000);
    assert!(l.ssl && l.http2 && l.proxy_protocol && l.deferred && l.bind && l.reuseport);
    assert_eq!(l.backlog, Some(511));
    assert_eq!(l.ipv6only, Some(false));
    assert_eq!(l.so_keepalive.as_deref(), Some("30m::10"));
    assert_eq!(
        l.to_string(),
        "10.0.0.1:9000 ssl http2 proxy_protocol deferred bind reuseport backlog=511 ipv6only=off so_keepalive=30m::10"
    );
}

#[test]
fn ipv6_forms() {
    let l = one("[::1]:8001 ipv6only=on");
    assert_eq!(l.host, "::1");
    assert_eq!(l.port, 8001);
    assert_eq!(l.addr, Some("[::1]:8001".parse::<SocketAddr>().expect("addr")));
    assert_eq!(l.ipv6only, Some(true));
    assert_eq!(l.authority(), "[::1]:8001");
    let l = one("[2001:DB8::0:1]:443 ssl");
    assert_eq!(l.host, "2001:db8::1");
    assert!(l.ssl);
    assert!(Listener::parse("::1:8001").is_none(), "IPv6 must be bracketed");
    assert!(Listener::parse("[::1]").is_none(), "port required");
    assert!(Listener::parse("[zz::1]:80").is_none());
}

#[test]
fn hostnames_and_wildcard() {
    let l = one("localhost:8001");
    assert_eq!(l.host, "localhost");
    assert_eq!(l.addr, None);
    assert!(!l.is_ip());
    let l = one("admin.example-1.internal:80 http2");
    assert_eq!(l.host, "admin.example-1.internal");
    let l = one("*:8000");
    assert_eq!(l.addr, Some("0.0.0.0:8000".parse::<SocketAddr>().expect("addr")));
    let l = one("127.0.0.1:0");
    assert_eq!(l.port, 0, "port 0 = OS-assigned");
}

#[test]
fn off_and_multiple_entries() {
    assert_eq!(parse("admin_listen", "off"), Ok(vec![]));
    assert_eq!(parse("admin_listen", "off, 127.0.0.1:8001"), Ok(vec![]));
    let list = parse("proxy_listen", " 0.0.0.0:80 ,  [::]:80  ,0.0.0.0:443 ssl").expect("valid");
    assert_eq!(list.len(), 3);
    assert_eq!(list[1].host, "::");
    assert_eq!(list[0].text, "0.0.0.0:80");
    assert_eq!(list[2].text, "0.0.0.0:443 ssl");
}

#[test]
fn invalid_listeners_use_kongs_message() {
    let expected = "admin_listen must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] \
                    [deferred] [bind] [reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] \
                    [so_keepalive=on] [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]";
    for bad in [
        "127.0.0.1",
        "127.0.0.1:abc",
        "127.0.0.1:70000",
        "127.0.0.1:8001 fast",
        "127.0.0.1:8001 backlog=",
        "127.0.0.1:8001 backlog=abc",
        "127.0.0.1:8001 so_keepalive=maybe",
        "300.0.0.1:8001",
        "127.0.0.1:8001 127.0.0.1:8002",
        "127.0.0.1:8001, off",
        "127.0.0.1:8001,",
        "",
        "bad_host!:80",
    ] {
        assert_eq!(parse("admin_listen", bad), Err(expected.to_string()), "for {bad:?}");
    }
}

#[test]
fn listener_errors_in_files_have_line_numbers() {
    let err = Config::from_str("\n\nstatus_listen = 127.0.0.1\n", "f.conf", &HashMap::new()).expect_err("invalid");
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].location, "f.conf:3");
    assert!(err.0[0].message.starts_with("status_listen must be of form: [off] | <ip>:<port>"));
}

#[test]
fn listen_off_via_env() {
    let env: HashMap<String, String> = [("KONG_STATUS_LISTEN".to_string(), "off".to_string())].into();
    let c = Config::load(None, &env).expect("valid");
    assert!(c.status_listen.is_empty());
    assert!(c.status_plain_listener().is_none());
}
