//! Behaviour of the Kong-compatible balancer: algorithms, hashing sources, passive/active health.

use gatehouse_proxy::balancer::{xxhash32, Address, Addresses, Balancer, HashInput, Outcome, Resolve};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct FakeDns(HashMap<String, Vec<SocketAddr>>);

impl Resolve for FakeDns {
    fn resolve(&self, host: &str, port: u16) -> Addresses {
        let address = |a: &SocketAddr| Address { addr: SocketAddr::new(a.ip(), port), srv: None };
        let found = self.0.get(host).map(|ips| ips.iter().map(address).collect());
        found.unwrap_or_default()
    }
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn targets(list: &[(&str, u64)]) -> Vec<Map<String, Value>> {
    list.iter()
        .enumerate()
        .map(|(i, (t, w))| map(json!({"id": format!("t{i}"), "target": t, "weight": w, "upstream": {"id": "u1"}})))
        .collect()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn counts(b: &Balancer, n: usize) -> HashMap<SocketAddr, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        *out.entry(b.pick(&HashInput::default(), &[]).unwrap().addr).or_default() += 1;
    }
    out
}

#[test]
fn round_robin_follows_weights_exactly_and_smoothly() {
    let up = map(json!({"id": "u1", "name": "up", "algorithm": "round-robin"}));
    let t = targets(&[("10.0.0.1:80", 1), ("10.0.0.2:80", 2), ("10.0.0.3:80", 3)]);
    let b = Balancer::build(&up, &t, &FakeDns::default());
    // every window of one wheel turn (6 picks) is already exact
    let first = counts(&b, 6);
    assert_eq!(first[&sa("10.0.0.1:80")], 1);
    assert_eq!(first[&sa("10.0.0.2:80")], 2);
    assert_eq!(first[&sa("10.0.0.3:80")], 3);
    let c = counts(&b, 600);
    assert_eq!(c[&sa("10.0.0.1:80")], 100);
    assert_eq!(c[&sa("10.0.0.2:80")], 200);
    assert_eq!(c[&sa("10.0.0.3:80")], 300);
}

#[test]
fn hostname_addresses_share_weight_and_zero_weight_is_excluded() {
    let mut dns = FakeDns::default();
    dns.0.insert("svc.local".into(), vec![sa("10.1.0.1:0"), sa("10.1.0.2:0")]);
    let up = map(json!({"id": "u1", "name": "up"}));
    let t = targets(&[("svc.local:8080", 10), ("10.0.0.9:80", 10), ("10.0.0.8:80", 0)]);
    let b = Balancer::build(&up, &t, &dns);
    let c = counts(&b, 300);
    assert_eq!(c.len(), 3);
    assert_eq!(c[&sa("10.1.0.1:8080")], 100);
    assert_eq!(c[&sa("10.1.0.2:8080")], 100);
    assert_eq!(c[&sa("10.0.0.9:80")], 100);
    let p = b.pick(&HashInput::default(), &[sa("10.0.0.9:80")]).unwrap();
    assert_eq!(&*p.target_host, "svc.local");
    assert_eq!(p.addr.port(), 8080, "the Host port comes from the address");
}

#[test]
fn exclude_moves_retries_to_other_targets() {
    let up = map(json!({"id": "u1", "name": "up"}));
    let t = targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]);
    let b = Balancer::build(&up, &t, &FakeDns::default());
    for _ in 0..10 {
        assert_eq!(b.pick(&HashInput::default(), &[sa("10.0.0.1:80")]).unwrap().addr, sa("10.0.0.2:80"));
    }
    assert!(b.pick(&HashInput::default(), &[sa("10.0.0.1:80"), sa("10.0.0.2:80")]).is_none());
}

fn header_input<'a>(f: &'a dyn Fn(&str) -> Option<&'a str>) -> HashInput<'a> {
    HashInput { header: Some(f), ..HashInput::default() }
}

#[test]
fn consistent_hashing_is_stable_and_remaps_about_one_nth() {
    let up = map(json!({"id": "u1", "name": "up", "algorithm": "consistent-hashing", "hash_on": "header",
        "hash_on_header": "x-key", "slots": 10000}));
    let all: Vec<(String, u64)> = (1..=5).map(|i| (format!("10.0.0.{i}:80"), 100)).collect();
    let list: Vec<(&str, u64)> = all.iter().map(|(t, w)| (t.as_str(), *w)).collect();
    let b5 = Balancer::build(&up, &targets(&list), &FakeDns::default());
    let b4 = Balancer::build(&up, &targets(&list[..4]), &FakeDns::default());
    let removed = sa("10.0.0.5:80");
    let (mut moved, mut on_removed) = (0, 0);
    let keys = 2000;
    for k in 0..keys {
        let key = format!("user-{k}");
        let lookup = |name: &str| if name == "x-key" { Some(key.as_str()) } else { None };
        let first = b5.pick(&header_input(&lookup), &[]).unwrap();
        assert_eq!(first.hash, Some(xxhash32(key.as_bytes())));
        assert_eq!(b5.pick(&header_input(&lookup), &[]).unwrap().addr, first.addr, "same key, same address");
        let after = b4.pick(&header_input(&lookup), &[]).unwrap().addr;
        if first.addr == removed {
            on_removed += 1;
        } else if after != first.addr {
            moved += 1;
        }
    }
    assert_eq!(moved, 0, "keys of remaining targets must not move");
    let share = on_removed as f64 / keys as f64;
    assert!((0.1..0.3).contains(&share), "removed target had {share} of keys");
}

fn ch(extra: Value) -> Balancer {
    let mut up = map(json!({"id": "u1", "name": "up", "algorithm": "consistent-hashing"}));
    up.extend(map(extra));
    Balancer::build(&up, &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]), &FakeDns::default())
}

#[test]
fn every_hash_source_and_fallback() {
    let h = |s: &str| Some(xxhash32(s.as_bytes()));
    let lookup = |name: &str| match name {
        "x-user" | "session" | "tenant" | "id" => Some("v-1"),
        _ => None,
    };
    let full = HashInput {
        client_ip: Some("192.0.2.7".parse().unwrap()),
        consumer_id: Some("c-42"),
        header: Some(&lookup),
        cookie: Some(&lookup),
        path: "/a/b",
        query_arg: Some(&lookup),
        uri_capture: Some(&lookup),
    };
    let pick = |b: &Balancer, i: &HashInput<'_>| b.pick(i, &[]).unwrap();
    assert_eq!(pick(&ch(json!({"hash_on": "none"})), &full).hash, h(""));
    assert_eq!(pick(&ch(json!({"hash_on": "consumer"})), &full).hash, h("c-42"));
    assert_eq!(pick(&ch(json!({"hash_on": "ip"})), &full).hash, h("192.0.2.7"));
    assert_eq!(pick(&ch(json!({"hash_on": "header", "hash_on_header": "X-User"})), &full).hash, h("v-1"));
    assert_eq!(pick(&ch(json!({"hash_on": "path"})), &full).hash, h("/a/b"));
    assert_eq!(pick(&ch(json!({"hash_on": "query_arg", "hash_on_query_arg": "tenant"})), &full).hash, h("v-1"));
    assert_eq!(pick(&ch(json!({"hash_on": "uri_capture", "hash_on_uri_capture": "id"})), &full).hash, h("v-1"));
    let cookie = ch(json!({"hash_on": "cookie", "hash_on_cookie": "session", "hash_on_cookie_path": "/app"}));
    let present = pick(&cookie, &full);
    assert_eq!(present.hash, h("v-1"));
    assert!(present.set_cookie.is_none());
    // absent cookie: a value is generated, hashed and handed back as Set-Cookie
    let absent = pick(&cookie, &HashInput::default());
    let set = absent.set_cookie.clone().unwrap();
    let value = set.strip_prefix("session=").unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(value.len(), 36);
    assert_eq!(set, format!("session={value}; Path=/app; Same-Site=Lax; HttpOnly"));
    assert_eq!(absent.hash, h(&value));
    // a retry with the same hash keeps the key and emits no new cookie
    let retry = cookie.pick_with_hash(absent.hash.unwrap(), &[]).unwrap();
    assert_eq!(retry.addr, absent.addr);
    assert!(retry.set_cookie.is_none());
    // fallback when the primary source is absent
    let fb = ch(json!({"hash_on": "header", "hash_on_header": "x-missing", "hash_fallback": "ip"}));
    assert_eq!(pick(&fb, &full).hash, h("192.0.2.7"));
    let fb = ch(json!({"hash_on": "consumer", "hash_fallback": "query_arg", "hash_fallback_query_arg": "tenant"}));
    let no_consumer = HashInput { consumer_id: None, ..full };
    assert_eq!(pick(&fb, &no_consumer).hash, h("v-1"));
    let fb = ch(json!({"hash_on": "consumer", "hash_fallback": "header", "hash_fallback_header": "x-user"}));
    assert_eq!(pick(&fb, &full).hash, h("c-42"), "primary wins when present");
    assert_eq!(pick(&fb, &HashInput::default()).hash, h(""), "nothing found hashes the empty string");
}

#[test]
fn least_connections_prefers_idle_and_guard_releases() {
    let up = map(json!({"id": "u1", "name": "up", "algorithm": "least-connections"}));
    let b = Balancer::build(&up, &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]), &FakeDns::default());
    let first = b.pick(&HashInput::default(), &[]).unwrap();
    assert!(first.guard.is_some());
    let second = b.pick(&HashInput::default(), &[]).unwrap();
    assert_ne!(first.addr, second.addr);
    let busy = first.addr;
    drop(second);
    for _ in 0..5 {
        assert_ne!(b.pick(&HashInput::default(), &[]).unwrap().addr, busy);
    }
    drop(first);
    let seen: std::collections::HashSet<_> = (0..4).map(|_| b.pick(&HashInput::default(), &[]).unwrap().addr).collect();
    assert!(seen.contains(&busy), "released address is used again");
    // weights: 1 vs 3 -> with 4 requests held, three go to the heavy one
    let b = Balancer::build(&up, &targets(&[("10.0.0.1:80", 1), ("10.0.0.2:80", 3)]), &FakeDns::default());
    let held: Vec<_> = (0..4).map(|_| b.pick(&HashInput::default(), &[]).unwrap()).collect();
    assert_eq!(held.iter().filter(|p| p.addr == sa("10.0.0.2:80")).count(), 3);
}

#[test]
fn latency_prefers_fastest() {
    let up = map(json!({"id": "u1", "name": "up", "algorithm": "latency"}));
    let b = Balancer::build(&up, &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]), &FakeDns::default());
    for _ in 0..5 {
        b.record_latency(sa("10.0.0.1:80"), Duration::from_millis(200));
        b.record_latency(sa("10.0.0.2:80"), Duration::from_millis(5));
    }
    let c = counts(&b, 50);
    assert_eq!(c.get(&sa("10.0.0.2:80")), Some(&50));
}

fn checked(extra: Value) -> Map<String, Value> {
    let mut up = map(json!({"id": "u1", "name": "up"}));
    up.insert("healthchecks".into(), extra);
    up
}

fn passive_upstream() -> Map<String, Value> {
    checked(json!({"passive": {"healthy": {"http_statuses": [200], "successes": 2},
        "unhealthy": {"http_statuses": [500], "http_failures": 3, "tcp_failures": 2, "timeouts": 0}}}))
}

#[test]
fn passive_checks_follow_kong_counters() {
    let b = Balancer::build(
        &passive_upstream(),
        &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]),
        &FakeDns::default(),
    );
    let a = sa("10.0.0.1:80");
    for _ in 0..10 {
        b.report(a, Outcome::Timeout); // timeouts = 0 disables that counter
    }
    b.report(a, Outcome::HttpStatus(500));
    b.report(a, Outcome::HttpStatus(500));
    b.report(a, Outcome::HttpStatus(200)); // success clears the failure counters
    b.report(a, Outcome::HttpStatus(500));
    b.report(a, Outcome::HttpStatus(404)); // in neither list: ignored
    b.report(a, Outcome::HttpStatus(500));
    assert_eq!(b.is_healthy(a), Some(true));
    b.report(a, Outcome::HttpStatus(500));
    assert_eq!(b.is_healthy(a), Some(false));
    assert!(!counts(&b, 20).contains_key(&a));
    b.report(a, Outcome::HttpStatus(200));
    assert_eq!(b.is_healthy(a), Some(false));
    b.report(a, Outcome::HttpStatus(200));
    assert_eq!(b.is_healthy(a), Some(true));
    b.report(a, Outcome::TcpFailure);
    b.report(a, Outcome::TcpFailure);
    assert_eq!(b.is_healthy(a), Some(false));
    assert!(!b.report(sa("10.9.9.9:1"), Outcome::TcpFailure));
}

#[test]
fn all_unhealthy_and_threshold_give_none() {
    let t = targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100), ("10.0.0.3:80", 100), ("10.0.0.4:80", 100)]);
    let b = Balancer::build(&passive_upstream(), &t, &FakeDns::default());
    for i in 1..=4 {
        b.set_health(&format!("10.0.0.{i}:80"), None, false);
    }
    assert!(b.pick(&HashInput::default(), &[]).is_none());
    assert!(!b.is_balancer_healthy());
    let mut up = passive_upstream();
    up["healthchecks"]["threshold"] = json!(50);
    let b = Balancer::build(&up, &t, &FakeDns::default());
    b.set_health("10.0.0.1:80", None, false);
    assert!(b.pick(&HashInput::default(), &[]).is_some(), "75% available > 50%");
    b.set_health("10.0.0.2:80", None, false);
    assert!(b.pick(&HashInput::default(), &[]).is_none(), "50% is not above 50%");
    assert_eq!(b.balancer_health()["data"]["health"], "UNHEALTHY");
    b.set_health("10.0.0.2:80", None, true);
    assert!(b.pick(&HashInput::default(), &[]).is_some());
}

#[test]
fn manual_health_per_target_and_address_and_report_shape() {
    let mut dns = FakeDns::default();
    dns.0.insert("svc".into(), vec![sa("10.1.0.1:0"), sa("10.1.0.2:0")]);
    let t = targets(&[("svc:80", 100), ("10.0.0.9:80", 50), ("nowhere:80", 10)]);
    let b = Balancer::build(&passive_upstream(), &t, &dns);
    assert!(b.set_health("svc:80", Some(sa("10.1.0.2:80")), false));
    assert_eq!(b.is_healthy(sa("10.1.0.1:80")), Some(true));
    assert_eq!(b.is_healthy(sa("10.1.0.2:80")), Some(false));
    assert!(!b.set_health("svc:81", None, false));
    assert!(!b.set_health("svc:80", Some(sa("10.7.7.7:80")), false));
    let report = b.health_report();
    let data = report["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["target"], "svc:80");
    assert_eq!(data[0]["id"], "t0");
    assert_eq!(data[0]["health"], "HEALTHY");
    assert_eq!(data[0]["data"]["host"], "svc");
    assert_eq!(data[0]["data"]["port"], 80);
    assert_eq!(data[0]["data"]["weight"], json!({"total": 200, "unavailable": 100, "available": 100}));
    assert_eq!(
        data[0]["data"]["addresses"][1],
        json!({"ip": "10.1.0.2", "port": 80, "weight": 100, "health": "UNHEALTHY"})
    );
    assert_eq!(data[2]["health"], "DNS_ERROR");
    assert!(b.set_health("svc:80", None, false));
    assert_eq!(b.health_report()["data"][0]["health"], "UNHEALTHY");
    assert_eq!(report["next"], Value::Null);
    // no health checks configured: HEALTHCHECKS_OFF, but manual overrides still steer traffic
    let off = Balancer::build(&map(json!({"id": "u1", "name": "up"})), &t, &dns);
    assert_eq!(off.health_report()["data"][1]["health"], "HEALTHCHECKS_OFF");
    assert_eq!(off.health_report()["data"][1]["data"]["addresses"][0]["health"], "HEALTHCHECKS_OFF");
}

#[test]
fn health_survives_rebuild() {
    let up = passive_upstream();
    let b1 = Balancer::build(&up, &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]), &FakeDns::default());
    b1.set_health("10.0.0.1:80", None, false);
    let b2 = Balancer::build_from_previous(
        Some(&b1),
        &up,
        &targets(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 300), ("10.0.0.3:80", 100)]),
        &FakeDns::default(),
    );
    assert_eq!(b2.is_healthy(sa("10.0.0.1:80")), Some(false));
    assert_eq!(b2.is_healthy(sa("10.0.0.3:80")), Some(true));
    let fresh = Balancer::build(&up, &targets(&[("10.0.0.1:80", 100)]), &FakeDns::default());
    assert_eq!(fresh.is_healthy(sa("10.0.0.1:80")), Some(true));
}

/// A local HTTP server answering with the status in `status` (0 = close without answering,
/// 1 = never answer), recording the last request head.
async fn server(status: Arc<AtomicU16>, seen: Arc<Mutex<String>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let status = status.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
                *seen.lock().unwrap() = String::from_utf8_lossy(&buf[..len]).into_owned();
                match status.load(Ordering::SeqCst) {
                    0 => {}
                    1 => tokio::time::sleep(Duration::from_secs(30)).await,
                    s => {
                        let _ = sock.write_all(format!("HTTP/1.1 {s} X\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
                    }
                }
            });
        }
    });
    addr
}

/// Probe TLS without trusted certificates (these tests probe plain http and tcp).
fn probe_tls() -> gatehouse_proxy::balancer::ProbeTls {
    let unverified = gatehouse_proxy::tls::client_config(false, &[], None, None, &[]).unwrap();
    gatehouse_proxy::balancer::ProbeTls { verified: None, unverified }
}

async fn until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test]
async fn active_http_checks_flip_health() {
    let status = Arc::new(AtomicU16::new(200));
    let seen = Arc::new(Mutex::new(String::new()));
    let addr = server(status.clone(), seen.clone()).await;
    let up = checked(json!({"active": {"type": "http", "timeout": 0.5, "http_path": "/status",
        "headers": {"x-probe": ["yes"]},
        "healthy": {"interval": 0.05, "http_statuses": [200], "successes": 2},
        "unhealthy": {"interval": 0.05, "http_statuses": [500], "http_failures": 2, "tcp_failures": 1, "timeouts": 1}}}));
    let b = Arc::new(Balancer::build(&up, &targets(&[(&addr.to_string(), 100)]), &FakeDns::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    b.spawn_active_checks(stop_rx, probe_tls());
    assert!(until(Duration::from_secs(5), || seen.lock().unwrap().starts_with("GET /status HTTP/1.1\r\n")).await);
    let head = seen.lock().unwrap().clone();
    assert!(head.contains("\r\nx-probe: yes\r\n"), "{head}");
    assert!(head.contains("\r\nHost: 127.0.0.1\r\n"), "{head}");
    status.store(500, Ordering::SeqCst);
    assert!(until(Duration::from_secs(5), || b.is_healthy(addr) == Some(false)).await, "500 -> unhealthy");
    assert!(b.pick(&HashInput::default(), &[]).is_none());
    status.store(200, Ordering::SeqCst);
    assert!(until(Duration::from_secs(5), || b.is_healthy(addr) == Some(true)).await, "200 -> healthy");
    status.store(0, Ordering::SeqCst);
    assert!(until(Duration::from_secs(5), || b.is_healthy(addr) == Some(false)).await, "closed -> unhealthy");
    status.store(200, Ordering::SeqCst);
    assert!(until(Duration::from_secs(5), || b.is_healthy(addr) == Some(true)).await);
    status.store(1, Ordering::SeqCst);
    assert!(until(Duration::from_secs(5), || b.is_healthy(addr) == Some(false)).await, "timeout -> unhealthy");
    let _ = stop_tx.send(true);
}

#[tokio::test]
async fn active_tcp_checks_detect_closed_port_and_stop() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let status = Arc::new(AtomicU16::new(200));
    let open = server(status, Arc::new(Mutex::new(String::new()))).await;
    let up = checked(json!({"active": {"type": "tcp", "timeout": 0.5,
        "healthy": {"interval": 0.05, "successes": 1},
        "unhealthy": {"interval": 0.05, "tcp_failures": 1}}}));
    let t = targets(&[(&closed.to_string(), 100), (&open.to_string(), 100)]);
    let b = Arc::new(Balancer::build(&up, &t, &FakeDns::default()));
    b.set_health(&open.to_string(), None, false);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    b.spawn_active_checks(stop_rx, probe_tls());
    assert!(until(Duration::from_secs(5), || b.is_healthy(closed) == Some(false)).await);
    assert!(until(Duration::from_secs(5), || b.is_healthy(open) == Some(true)).await);
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.set_health(&closed.to_string(), None, true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.is_healthy(closed), Some(true), "checks stopped");
}
