//! The Admin API's listener in a real node process: what Kong's admin listener gets from nginx —
//! capitalised header names, `client_header_timeout` and `client_body_timeout` — and TLS handshakes that
//! never hold up other clients.

use gatehouse_testkit::{Node, NodeOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Sends `request` and reads until the node closes the connection (at most 10 s); returns what came back.
async fn exchange_until_closed(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    read.expect("the node closes the connection within 10 s").expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn admin_answers_spell_header_names_as_kong_does() {
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    let text = exchange_until_closed(node.admin_port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let names = [
        "Content-Type: application/json",
        "X-Kong-Admin-Latency: ",
        "Server: gatehouse/",
        "Access-Control-Allow-Origin: *",
    ];
    for name in names {
        assert!(text.contains(&format!("\r\n{name}")), "{name:?} in {text}");
    }
}

#[tokio::test]
async fn admin_heads_and_bodies_that_stall_time_out_as_kongs_nginx_settings_say() {
    let env = vec![
        ("KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT".into(), "1s".into()),
        ("KONG_NGINX_HTTP_CLIENT_BODY_TIMEOUT".into(), "1s".into()),
    ];
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    // An unfinished head: the connection closes once the header timeout passes (the default is 60 s).
    let started = Instant::now();
    let text = exchange_until_closed(node.admin_port, "GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert!(started.elapsed() >= Duration::from_millis(900), "closed after {:?}", started.elapsed());
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    // A body that stops short: 408, the connection closed, nothing created.
    let started = Instant::now();
    let partial =
        "POST /services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":";
    let text = exchange_until_closed(node.admin_port, partial).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "answered after {:?}", started.elapsed());
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"message\":\"Request timeout\""), "{text}");
    let (status, services) = node.admin(Method::GET, "/services", Value::Null).await;
    assert_eq!((status, services["data"].clone()), (200, json!([])));
}

#[tokio::test]
async fn a_stalled_tls_handshake_does_not_hold_up_other_admin_clients() {
    let node = Node::start(binary(), NodeOptions { tls: true, ..NodeOptions::default() }).await.expect("node");
    // A client that connects and never says hello: its handshake may wait up to 10 s.
    let _silent = TcpStream::connect(("127.0.0.1", node.tls_admin_port)).await.expect("connect");
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let reply = client.get(format!("https://127.0.0.1:{}/status", node.tls_admin_port)).send().await;
    assert_eq!(reply.expect("answered while the other handshake waits").status(), 200);
}
