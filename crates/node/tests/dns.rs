//! Upstream host names are resolved as Kong does: the hosts file (`dns_hostsfile`) first, then the name
//! servers in `dns_resolver`; answers live for their record TTL, so a changed record reaches both plain
//! services and balancer targets without a configuration change, and a name that does not resolve gets
//! Kong's 503. Record types are tried in `dns_order` (Kong's `LAST,SRV,A,CNAME`): an SRV name (Consul,
//! Kubernetes) gives each request a target by weight, on the entry's port.

use gatehouse_testkit::{wait_for, DnsServer, EchoServer, Node, NodeOptions};
use serde_json::json;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

async fn wait_until_served_by(node: &Node, path: &str, server: &EchoServer) {
    let expected = server.addr.to_string();
    wait_for(&format!("{path} to reach {expected}"), Duration::from_secs(15), || async {
        let (status, echoed) = node.proxy_get(path).await;
        (status == 200 && echoed["server"] == expected.as_str()).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn new_dns_answers_reach_services_and_targets_after_their_ttl() {
    let first = EchoServer::start().await.expect("echo on 127.0.0.1");
    let port = first.addr.port();
    let second = EchoServer::start_at(format!("127.0.0.2:{port}").parse().unwrap()).await.expect("127.0.0.2");
    let dns = DnsServer::start(1).await.expect("DNS server");
    dns.set("app.gatehouse.test", &[Ipv4Addr::new(127, 0, 0, 1)]);
    let hosts = tempfile_with("127.0.0.2 pinned.gatehouse.test\n");
    let options = NodeOptions {
        env: vec![
            ("KONG_DNS_RESOLVER".into(), dns.addr.to_string()),
            ("KONG_DNS_HOSTSFILE".into(), hosts.display().to_string()),
        ],
        ..NodeOptions::default()
    };
    let node = Node::start(binary(), options).await.expect("node");
    node.create("/services", json!({"name": "app", "url": format!("http://app.gatehouse.test:{port}/")})).await;
    node.create("/services/app/routes", json!({"paths": ["/app"]})).await;
    node.create("/upstreams", json!({"name": "pool"})).await;
    node.create("/upstreams/pool/targets", json!({"target": format!("app.gatehouse.test:{port}")})).await;
    node.create("/services", json!({"name": "pooled", "url": "http://pool/"})).await;
    node.create("/services/pooled/routes", json!({"paths": ["/pooled"]})).await;
    node.create("/services", json!({"name": "pinned", "url": format!("http://pinned.gatehouse.test:{port}/")})).await;
    node.create("/services/pinned/routes", json!({"paths": ["/pinned"]})).await;
    node.create("/services", json!({"name": "nowhere", "url": "http://nowhere.gatehouse.test/"})).await;
    node.create("/services/nowhere/routes", json!({"paths": ["/nowhere"]})).await;

    wait_until_served_by(&node, "/app", &first).await;
    wait_until_served_by(&node, "/pooled", &first).await;
    dns.set("app.gatehouse.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    wait_until_served_by(&node, "/app", &second).await;
    wait_until_served_by(&node, "/pooled", &second).await;

    let (status, echoed) = node.proxy_get("/pinned").await;
    assert_eq!((status, echoed["server"].as_str()), (200, Some(second.addr.to_string().as_str())), "hosts file");
    let (status, body) = node.proxy_get("/nowhere").await;
    assert_eq!(status, 503);
    assert_eq!(body["message"], "name resolution failed");

    // Answers are cached for their TTL, not asked for per request.
    let before = dns.queries();
    for _ in 0..20 {
        assert_eq!(node.proxy_get("/app").await.0, 200);
    }
    assert!(dns.queries() - before < 10, "{} queries for 20 requests", dns.queries() - before);
    let _ = std::fs::remove_file(hosts);
}

/// Which echo server answered each of `count` requests to `path`, and the Host headers they saw.
async fn served_by(node: &Node, path: &str, count: usize) -> (HashMap<String, usize>, Vec<String>) {
    let (mut servers, mut hosts) = (HashMap::new(), Vec::new());
    for _ in 0..count {
        let (status, echoed) = node.proxy_get(path).await;
        assert_eq!(status, 200, "{path}: {echoed}");
        *servers.entry(echoed["server"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        hosts.push(echoed["headers"]["host"].as_str().unwrap_or_default().to_owned());
    }
    (servers, hosts)
}

#[tokio::test]
async fn srv_names_spread_requests_by_weight_on_the_entries_ports() {
    let heavy = EchoServer::start().await.expect("echo on 127.0.0.1");
    let light = EchoServer::start_at("127.0.0.2:0".parse().unwrap()).await.expect("echo on 127.0.0.2");
    let backup = EchoServer::start_at("127.0.0.3:0".parse().unwrap()).await.expect("echo on 127.0.0.3");
    let dns = DnsServer::start(60).await.expect("DNS server");
    let (heavy_port, light_port) = (heavy.addr.port(), light.addr.port());
    dns.set_srv(
        "api.service.consul",
        &[
            ("node1.consul".into(), heavy_port, 3, 10),
            ("node2.consul".into(), light_port, 1, 10),
            // A worse priority: Kong never uses it while the better one answers.
            ("backup.consul".into(), backup.addr.port(), 100, 20),
        ],
    );
    dns.set("node1.consul", &[Ipv4Addr::new(127, 0, 0, 1)]);
    dns.set("node2.consul", &[Ipv4Addr::new(127, 0, 0, 2)]);
    dns.set("backup.consul", &[Ipv4Addr::new(127, 0, 0, 3)]);
    // Kubernetes' per-pod records point at the name itself: Kong treats them as no answer and asks for A.
    dns.set_srv("pod.consul", &[("pod.consul".into(), 1, 1, 0)]);
    dns.set("pod.consul", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let options =
        NodeOptions { env: vec![("KONG_DNS_RESOLVER".into(), dns.addr.to_string())], ..NodeOptions::default() };
    let node = Node::start(binary(), options).await.expect("node");
    // The service's own port (9) is not used: every entry names one.
    node.create("/services", json!({"name": "api", "url": "http://api.service.consul:9/"})).await;
    node.create("/services/api/routes", json!({"paths": ["/api"]})).await;
    node.create("/services", json!({"name": "pod", "url": format!("http://pod.consul:{light_port}/")})).await;
    node.create("/services/pod/routes", json!({"paths": ["/pod"]})).await;
    node.create("/upstreams", json!({"name": "pool"})).await;
    node.create("/upstreams/pool/targets", json!({"target": "api.service.consul:9"})).await;
    node.create("/services", json!({"name": "pooled", "url": "http://pool/"})).await;
    node.create("/services/pooled/routes", json!({"paths": ["/pooled"]})).await;
    wait_until_served_by(&node, "/pod", &light).await;

    let (servers, hosts) = served_by(&node, "/api", 40).await;
    let (heavy_count, light_count) = (servers.get(&heavy.addr.to_string()), servers.get(&light.addr.to_string()));
    let (heavy_count, light_count) = (heavy_count.copied().unwrap_or(0), light_count.copied().unwrap_or(0));
    assert_eq!(heavy_count + light_count, 40, "only the best priority serves: {servers:?}");
    // 3:1 per worker's turn sequence; each worker's share rounds by at most one turn of four.
    assert!((24..=34).contains(&heavy_count), "weights 3:1 over 40 requests: {servers:?}");
    let expected_hosts = [format!("api.service.consul:{heavy_port}"), format!("api.service.consul:{light_port}")];
    assert!(hosts.iter().all(|h| expected_hosts.contains(h)), "Host carries the entry's port: {hosts:?}");

    let (servers, hosts) = served_by(&node, "/pooled", 40).await;
    assert_eq!(servers.len(), 2, "a target's SRV entries become its addresses: {servers:?}");
    let expected_hosts = [format!("api.service.consul:{heavy_port}"), format!("api.service.consul:{light_port}")];
    assert!(hosts.iter().all(|h| expected_hosts.contains(h)), "Host: the target's name: {hosts:?}");
    // `use_srv_name`: the Host names the SRV entry's target instead.
    node.create("/upstreams", json!({"name": "named", "use_srv_name": true})).await;
    node.create("/upstreams/named/targets", json!({"target": "api.service.consul:9"})).await;
    node.create("/services", json!({"name": "named", "url": "http://named/"})).await;
    node.create("/services/named/routes", json!({"paths": ["/named"]})).await;
    let (_, hosts) = served_by(&node, "/named", 8).await;
    let expected_hosts = [format!("node1.consul:{heavy_port}"), format!("node2.consul:{light_port}")];
    assert!(hosts.iter().all(|h| expected_hosts.contains(h)), "use_srv_name: {hosts:?}");
    assert!(hosts.contains(&expected_hosts[1]), "both entries serve: {hosts:?}");
    let (status, health) =
        node.admin(reqwest::Method::GET, "/upstreams/pool/health?balancer_health=1", json!(null)).await;
    assert_eq!(status, 200);
    let target = &health["data"]["details"]["hosts"][0];
    assert_eq!(target["dns"], "SRV", "{health}");
    let mut addresses: Vec<(u64, u64)> = target["addresses"]
        .as_array()
        .map(|list| list.iter().map(|a| (a["port"].as_u64().unwrap_or(0), a["weight"].as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    addresses.sort();
    let mut expected = vec![(u64::from(heavy_port), 3), (u64::from(light_port), 1)];
    expected.sort();
    assert_eq!(addresses, expected, "SRV ports and weights: {health}");
}

#[tokio::test]
async fn dns_order_without_srv_ignores_srv_records() {
    let echo = EchoServer::start().await.expect("echo");
    let dns = DnsServer::start(60).await.expect("DNS server");
    dns.set_srv("both.consul", &[("elsewhere.consul".into(), 1, 1, 0)]);
    dns.set("both.consul", &[Ipv4Addr::new(127, 0, 0, 1)]);
    dns.set_srv("only-srv.consul", &[("both.consul".into(), echo.addr.port(), 1, 0)]);
    let env = vec![("KONG_DNS_RESOLVER".into(), dns.addr.to_string()), ("KONG_DNS_ORDER".into(), "a,cname".into())];
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    let port = echo.addr.port();
    node.create("/services", json!({"name": "both", "url": format!("http://both.consul:{port}/")})).await;
    node.create("/services/both/routes", json!({"paths": ["/both"]})).await;
    node.create("/services", json!({"name": "srv", "url": format!("http://only-srv.consul:{port}/")})).await;
    node.create("/services/srv/routes", json!({"paths": ["/srv"]})).await;
    wait_until_served_by(&node, "/both", &echo).await;
    assert_eq!(dns.queries_for("both.consul", "SRV"), 0, "SRV is not in dns_order");
    let (status, body) = node.proxy_get("/srv").await;
    assert_eq!((status, body["message"].as_str()), (503, Some("name resolution failed")), "{body}");
}

fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("gatehouse-hosts-{}", std::process::id()));
    std::fs::write(&path, text).expect("hosts file");
    path
}
