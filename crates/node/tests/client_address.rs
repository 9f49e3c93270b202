//! The client's address behind a trusted load balancer, as Kong's nginx finds it (`trusted_ips`,
//! `real_ip_header`, `real_ip_recursive`): what the upstream is told in `X-Real-IP` and
//! `X-Forwarded-For` (the cases of Kong's `spec/02-integration/05-proxy/03-upstream_headers_spec.lua`).

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

async fn node_with(env: &[(&str, &str)], echo: &EchoServer) -> Node {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/services/echo/routes", json!({"paths": ["/"]})).await;
    node
}

/// The `X-Real-IP` and `X-Forwarded-For` the upstream got for a request with `headers`.
async fn seen_upstream(node: &Node, headers: &[(&str, &str)]) -> (String, String) {
    let mut request = reqwest::Client::new().get(format!("{}/", node.proxy_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let echoed: Value = request.send().await.expect("proxy").json().await.expect("json");
    let header = |name: &str| echoed["headers"][name].as_str().unwrap_or_default().to_string();
    (header("x-real-ip"), header("x-forwarded-for"))
}

#[tokio::test]
async fn kongs_default_trusts_no_one_but_extends_x_forwarded_for() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with(&[], &echo).await;
    assert_eq!(seen_upstream(&node, &[]).await, ("127.0.0.1".into(), "127.0.0.1".into()));
    let sent = [("X-Forwarded-For", "10.0.0.1"), ("X-Real-IP", "10.0.0.9")];
    assert_eq!(seen_upstream(&node, &sent).await, ("127.0.0.1".into(), "10.0.0.1, 127.0.0.1".into()));
}

#[tokio::test]
async fn a_trusted_balancer_names_the_client() {
    let echo = EchoServer::start().await.expect("echo");
    // Kong's default real_ip_header, X-Real-IP, from a trusted peer.
    let node = node_with(&[("KONG_TRUSTED_IPS", "127.0.0.1")], &echo).await;
    let sent = [("X-Real-IP", "10.0.0.1")];
    assert_eq!(seen_upstream(&node, &sent).await, ("10.0.0.1".into(), "10.0.0.1".into()));

    let recursive = [
        ("KONG_TRUSTED_IPS", "127.0.0.1,172.16.0.1,192.168.0.1"),
        ("KONG_REAL_IP_HEADER", "X-Forwarded-For"),
        ("KONG_REAL_IP_RECURSIVE", "on"),
    ];
    let node = node_with(&recursive, &echo).await;
    let list = "127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1";
    let sent = [("X-Forwarded-For", list), ("X-Real-IP", "10.0.0.2")];
    let expected_list = format!("{list}, 127.0.0.1");
    assert_eq!(seen_upstream(&node, &sent).await, ("10.0.0.1".into(), expected_list));
    assert_eq!(seen_upstream(&node, &[]).await, ("127.0.0.1".into(), "127.0.0.1".into()));

    // The same settings when the peer is not trusted: its own address.
    let untrusted = [
        ("KONG_TRUSTED_IPS", "10.0.0.1,172.16.0.1,192.168.0.1"),
        ("KONG_REAL_IP_HEADER", "X-Forwarded-For"),
        ("KONG_REAL_IP_RECURSIVE", "on"),
    ];
    let node = node_with(&untrusted, &echo).await;
    let list = "10.0.0.1, 127.0.0.2, 10.0.0.1, 192.168.0.1, 172.16.0.1";
    let sent = [("X-Forwarded-For", list), ("X-Real-IP", "10.0.0.2")];
    assert_eq!(seen_upstream(&node, &sent).await, ("127.0.0.1".into(), format!("{list}, 127.0.0.1")));
}
