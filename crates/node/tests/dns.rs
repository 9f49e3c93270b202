//! Upstream host names are resolved as Kong does: the hosts file (`dns_hostsfile`) first, then the name
//! servers in `dns_resolver`; answers live for their record TTL, so a changed record reaches both plain
//! services and balancer targets without a configuration change, and a name that does not resolve gets
//! Kong's 503.

use gatehouse_testkit::{wait_for, DnsServer, EchoServer, Node, NodeOptions};
use serde_json::json;
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

fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("gatehouse-hosts-{}", std::process::id()));
    std::fs::write(&path, text).expect("hosts file");
    path
}
