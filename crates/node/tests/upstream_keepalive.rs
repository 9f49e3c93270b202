//! Upstream keep-alive as Kong's (nginx's upstream `keepalive`): plain-HTTP connections are reused across
//! requests, up to `upstream_keepalive_max_requests` each; `upstream_keepalive_pool_size = 0` turns reuse
//! off; a connection the upstream closes is never used again, and the next request does not fail for it.
//! The echo upstream names each request's connection (`peer`), so the tests count connections.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A node with env `env` and a route `/echo` to `upstream` (a URL).
async fn node_with(env: &[(&str, &str)], upstream: &str) -> Node {
    let options = NodeOptions {
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..NodeOptions::default()
    };
    let node = Node::start(binary(), options).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": upstream})).await;
    node.create("/services/echo/routes", json!({"paths": ["/echo"]})).await;
    node
}

/// Sends `count` GETs over one client connection (so one proxy worker serves them all) and returns the
/// upstream connections they arrived on.
async fn upstream_connections(node: &Node, path: &str, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut peers = Vec::new();
    for i in 0..count {
        let reply = client.get(format!("{}{path}", node.proxy_url())).send().await.expect("proxy answers");
        assert_eq!(reply.status(), 200, "request {i} of {count} to {path}");
        let echoed: Value = reply.json().await.expect("echo JSON");
        peers.push(echoed["peer"].as_str().expect("peer").to_string());
    }
    peers
}

fn distinct(peers: &[String]) -> usize {
    peers.iter().collect::<HashSet<_>>().len()
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let upstream = EchoServer::start().await.expect("echo");
    let node = node_with(&[], &upstream.url()).await;
    let peers = upstream_connections(&node, "/echo", 20).await;
    assert_eq!(distinct(&peers), 1, "20 sequential requests share one upstream connection: {peers:?}");
}

#[tokio::test]
async fn a_connection_the_upstream_closes_is_replaced_without_failing_requests() {
    let upstream = EchoServer::start().await.expect("echo");
    let node = node_with(&[], &upstream.url()).await;
    // Each answer carries `Connection: close`: every request needs a new connection, and none may fail
    // for having been sent on the closed one.
    let peers = upstream_connections(&node, "/echo?close=1", 10).await;
    assert_eq!(distinct(&peers), 10, "{peers:?}");
    let after = upstream_connections(&node, "/echo", 5).await;
    assert_eq!(distinct(&after), 1, "{after:?}");
}

#[tokio::test]
async fn keepalive_max_requests_and_a_zero_pool_size_are_honoured() {
    let upstream = EchoServer::start().await.expect("echo");
    let limited = node_with(&[("KONG_UPSTREAM_KEEPALIVE_MAX_REQUESTS", "3")], &upstream.url()).await;
    let peers = upstream_connections(&limited, "/echo", 9).await;
    assert_eq!(distinct(&peers), 3, "three requests per connection: {peers:?}");
    assert!(peers.chunks(3).all(|c| distinct(c) == 1), "{peers:?}");

    let unpooled = node_with(&[("KONG_UPSTREAM_KEEPALIVE_POOL_SIZE", "0")], &upstream.url()).await;
    let peers = upstream_connections(&unpooled, "/echo", 5).await;
    assert_eq!(distinct(&peers), 5, "no reuse with a zero pool size: {peers:?}");
}

/// An upstream that answers one request per connection with keep-alive, then either closes the idle
/// connection itself (as a server's keep-alive timeout does) or waits for the proxy to close it; each close
/// is reported.
async fn one_shot_upstream(closes_first: bool) -> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (closed, closes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            let closed = closed.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = json!({"peer": peer.to_string()}).to_string();
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = stream.write_all(reply.as_bytes()).await;
                if !closes_first {
                    // Until the proxy closes its end.
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                    }
                }
                drop(stream);
                let _ = closed.send(());
            });
        }
    });
    (addr, closes)
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let (addr, mut closes) = one_shot_upstream(false).await;
    let node = node_with(&[("KONG_UPSTREAM_KEEPALIVE_IDLE_TIMEOUT", "1")], &format!("http://{addr}")).await;
    let reply = reqwest::get(format!("{}/echo", node.proxy_url())).await.expect("proxy answers");
    assert_eq!(reply.status(), 200);
    // No further request comes: the proxy itself closes the idle connection once its timeout runs out.
    tokio::time::timeout(std::time::Duration::from_secs(10), closes.recv())
        .await
        .expect("the idle upstream connection was closed within 10 s")
        .expect("close reported");
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_upstream_is_not_reused() {
    let (addr, mut closes) = one_shot_upstream(true).await;
    let node = node_with(&[], &format!("http://{addr}")).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let reply = client.get(format!("{}/echo", node.proxy_url())).send().await.expect("proxy answers");
        assert_eq!(reply.status(), 200, "request {i}: the pooled connection was closed while idle");
        // Wait for the upstream's close, so the next request finds a dead connection in the pool.
        tokio::time::timeout(std::time::Duration::from_secs(10), closes.recv()).await.expect("upstream closed");
    }
}

#[tokio::test]
async fn one_worker_serves_every_client_connection_over_one_upstream_connection() {
    let upstream = EchoServer::start().await.expect("echo");
    let node = node_with(&[("KONG_NGINX_WORKER_PROCESSES", "1")], &upstream.url()).await;
    assert!(node.log().contains("(1 workers)"), "nginx_worker_processes = 1 runs one worker:\n{}", node.log());
    let mut peers = Vec::new();
    for i in 0..10 {
        // A new client (and client connection) each time: with one worker they all share its pool.
        let (status, echoed) = node.proxy_get("/echo").await;
        assert_eq!(status, 200, "request {i}");
        peers.push(echoed["peer"].as_str().expect("peer").to_string());
    }
    assert_eq!(distinct(&peers), 1, "{peers:?}");
}
