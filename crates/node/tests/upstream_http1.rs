//! The upstream HTTP/1.1 exchange through the proxy's own connection pool, against a scripted upstream
//! that writes raw responses: chunked bodies with extensions and trailers, bodies read until close,
//! `Connection: close`, informational responses, malformed heads, and an upstream that answers an upload
//! before reading it, and one that closes a kept-alive connection as a request arrives. Each request's path
//! picks the upstream's answer; the upstream reports which
//! connection (by number) each request arrived on, so the tests see when a connection is reused.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// The raw response for a request path; `None` keeps reading the connection for the next request.
fn script(path: &str, connection: usize) -> (String, bool) {
    let id = format!("conn-{connection}");
    let close = |text: String| (text, true);
    let keep = |text: String| (text, false);
    match path {
        "/chunked" => keep(format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-conn: {id}\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nx-sum: 1\r\n\r\n"
        )),
        "/until-close" => close(format!("HTTP/1.0 200 OK\r\nx-conn: {id}\r\n\r\nuntil close")),
        "/close" => close(format!("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\nx-conn: {id}\r\n\r\nclose")),
        "/continue" => keep(format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-conn: {id}\r\n\r\nfinal"
        )),
        "/malformed" => close("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n".to_string()),
        "/conflict" => close("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok".to_string()),
        "/short" => close("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this".to_string()),
        // Answered before the body is read; the connection stays open a moment so the answer is not lost
        // to a reset (closing a socket with unread data resets it).
        "/early" | "/early-streamed" => (
            format!("HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 4\r\nx-conn: {id}\r\n\r\nnope"),
            true,
        ),
        _ => keep(format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-conn: {id}\r\n\r\nok")),
    }
}

/// Starts the scripted upstream; it answers from the request head alone (it never reads bodies).
async fn scripted_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let connection = connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buffer = [0u8; 4096];
                let mut served = 0;
                loop {
                    let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buffer[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                    pending.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    // Closed as the request arrives, as an upstream's idle timeout can race a reuse.
                    if path == "/vanish" && served > 0 {
                        return;
                    }
                    served += 1;
                    let (reply, close) = script(&path, connection);
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    if path.starts_with("/early") {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn node_for(upstream: std::net::SocketAddr) -> Node {
    let options =
        NodeOptions { env: vec![("KONG_NGINX_WORKER_PROCESSES".into(), "1".into())], ..NodeOptions::default() };
    let node = Node::start(binary(), options).await.expect("node");
    node.create("/services", json!({"name": "raw", "url": format!("http://{upstream}")})).await;
    node.create("/services/raw/routes", json!({"paths": ["/"], "strip_path": false})).await;
    node
}

/// A POST whose body the client sends in `chunks` (so without a length: chunked on the wire).
fn post_chunks(
    client: &reqwest::Client,
    node: &Node,
    path: &str,
    chunks: impl Iterator<Item = Vec<u8>> + Send + Sync + 'static,
) -> reqwest::RequestBuilder {
    let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
    client.post(format!("{}{path}", node.proxy_url())).body(reqwest::Body::wrap_stream(stream))
}

async fn get(client: &reqwest::Client, node: &Node, path: &str) -> (u16, Option<String>, String) {
    let reply = client.get(format!("{}{path}", node.proxy_url())).send().await.expect("proxy answers");
    let status = reply.status().as_u16();
    let connection = reply.headers().get("x-conn").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, connection, reply.text().await.unwrap_or_default())
}

#[tokio::test]
async fn response_framings_are_read_and_connections_reused_only_when_allowed() {
    let node = node_for(scripted_upstream().await).await;
    let client = reqwest::Client::new();
    let (status, first, body) = get(&client, &node, "/plain").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, again, _) = get(&client, &node, "/plain").await;
    assert_eq!((status, &again), (200, &first), "a kept-alive connection is reused");

    let (status, chunked, body) = get(&client, &node, "/chunked").await;
    assert_eq!((status, body.as_str()), (200, "Wikipedia"), "chunk extensions and trailers are handled");
    let (_, after_chunked, _) = get(&client, &node, "/plain").await;
    assert_eq!(after_chunked, chunked, "a chunked response leaves the connection usable");

    let (status, continued, body) = get(&client, &node, "/continue").await;
    assert_eq!((status, body.as_str()), (200, "final"), "100 Continue is skipped");
    assert_eq!(continued, chunked);

    let (status, closing, body) = get(&client, &node, "/close").await;
    assert_eq!((status, body.as_str()), (200, "close"));
    let (_, after_close, _) = get(&client, &node, "/plain").await;
    assert_ne!(after_close, closing, "`Connection: close` is honoured");

    let (status, until_close, body) = get(&client, &node, "/until-close").await;
    assert_eq!((status, body.as_str()), (200, "until close"), "an HTTP/1.0 body without a length ends at close");
    let (status, after, _) = get(&client, &node, "/plain").await;
    assert_eq!(status, 200);
    assert_ne!(after, until_close);
}

#[tokio::test]
async fn broken_upstream_responses_are_bad_gateways() {
    let node = node_for(scripted_upstream().await).await;
    let client = reqwest::Client::new();
    for path in ["/malformed", "/conflict"] {
        let (status, _, body) = get(&client, &node, path).await;
        assert_eq!(status, 502, "{path}: {body}");
    }
    // The head was fine, so the status is sent; the body then stops short, and the client sees that.
    let reply = client.get(format!("{}/short", node.proxy_url())).send().await.expect("head arrives");
    assert_eq!(reply.status(), 200);
    assert!(reply.bytes().await.is_err(), "a body shorter than its content-length is not passed off as whole");
    let (status, _, body) = get(&client, &node, "/plain").await;
    assert_eq!((status, body.as_str()), (200, "ok"), "other requests are unaffected");
}

#[tokio::test]
async fn an_upstream_answering_before_reading_the_upload_is_relayed() {
    let node = node_for(scripted_upstream().await).await;
    node.create(
        "/services/raw/routes",
        json!({"paths": ["/early-streamed"], "strip_path": false, "request_buffering": false}),
    )
    .await;
    let client = reqwest::Client::new();
    // A buffered upload that fits the socket buffers: all of it goes out, then the early answer is read.
    let reply = client.post(format!("{}/early", node.proxy_url())).body(vec![b'x'; 16 * 1024]).send().await;
    let reply = reply.expect("the proxy answers");
    assert_eq!(reply.status(), 413);
    assert_eq!(reply.text().await.unwrap_or_default(), "nope");
    // A streamed upload far larger than the socket buffers, which the upstream never reads: the exchange
    // ends (with the upstream's answer, or a reset while the client is still sending) instead of hanging.
    let streamed = post_chunks(&client, &node, "/early-streamed", (0..256).map(|_| vec![b'x'; 64 * 1024])).send();
    match tokio::time::timeout(std::time::Duration::from_secs(20), streamed).await {
        Ok(Ok(reply)) => assert_eq!(reply.status(), 413),
        Ok(Err(_)) => {}
        Err(_) => panic!("a streamed upload to an upstream that stopped reading hung"),
    }
    let (status, _, body) = get(&client, &node, "/plain").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn uploads_larger_than_the_socket_buffers_arrive_whole() {
    let echo = EchoServer::start().await.expect("echo");
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/services/echo/routes", json!({"paths": ["/buffered"]})).await;
    node.create("/services/echo/routes", json!({"paths": ["/streamed"], "request_buffering": false})).await;
    let client = reqwest::Client::new();
    const SIZE: usize = 3 << 20;
    for path in ["/buffered", "/streamed"] {
        let chunks = (0..SIZE / 4096).map(|i| vec![b'a' + (i % 26) as u8; 4096]);
        let reply = post_chunks(&client, &node, path, chunks).send().await.expect("proxy answers");
        assert_eq!(reply.status(), 200, "{path}");
        let echoed: serde_json::Value = reply.json().await.expect("echo JSON");
        assert_eq!(echoed["body_length"], SIZE, "{path}: every byte reaches the upstream");
    }
    // Small enough for the echo to return it: the bytes arrive in order.
    let text: String = (0..20_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let chunks: Vec<Vec<u8>> = text.as_bytes().chunks(777).map(<[u8]>::to_vec).collect();
    let reply = post_chunks(&client, &node, "/streamed", chunks.into_iter()).send().await.expect("proxy answers");
    let echoed: serde_json::Value = reply.json().await.expect("echo JSON");
    assert_eq!(echoed["body"], text);
}

#[tokio::test]
async fn a_streamed_upload_the_upstream_stops_taking_ends_after_write_timeout() {
    // An upstream that accepts connections and never reads from them (the proxy's own pool), and an https
    // one that leaves the body unread (hyper's client).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.push(stream);
        }
    });
    let tls = EchoServer::start_tls().await.expect("tls echo");
    let node = node_for(upstream).await;
    let services = [
        ("stalled", format!("http://{upstream}"), "/stalled"),
        ("stalled-tls", format!("https://localhost:{}", tls.addr.port()), "/stalled-tls?stall_ms=20000"),
    ];
    for (name, url, path) in &services {
        node.create("/services", json!({"name": name, "url": url, "write_timeout": 500})).await;
        let route = json!({"paths": [path.split('?').next()], "strip_path": false, "request_buffering": false});
        node.create(&format!("/services/{name}/routes"), route).await;
    }
    let client = reqwest::Client::new();
    for (_, _, path) in services {
        let started = std::time::Instant::now();
        // Far more than the socket buffers on both sides hold.
        let upload = post_chunks(&client, &node, path, (0..1024).map(|_| vec![b'x'; 64 * 1024])).send();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(15), upload).await;
        let elapsed = started.elapsed();
        match ended {
            Ok(Ok(reply)) => assert_eq!(reply.status(), 504, "{path}: Kong's answer to proxy_send_timeout"),
            // The proxy may close while the client is still sending; it must still have waited.
            Ok(Err(_)) => {}
            Err(_) => panic!("{path}: a streamed upload to an upstream that stopped reading hung"),
        }
        assert!(elapsed >= std::time::Duration::from_millis(450), "{path}: ended after {elapsed:?}");
    }
    held.abort();
}

#[tokio::test]
async fn a_get_on_a_kept_alive_connection_the_upstream_closes_goes_again_on_a_fresh_one() {
    let node = node_for(scripted_upstream().await).await;
    let client = reqwest::Client::new();
    let (status, first, _) = get(&client, &node, "/plain").await;
    assert_eq!(status, 200);
    // Reuses the kept-alive connection, which the upstream closes unanswered: nginx (and so Kong) sends
    // an idempotent request again on another connection.
    let (status, answered_on, body) = get(&client, &node, "/vanish").await;
    assert_eq!((status, body.as_str()), (200, "ok"), "the GET went again");
    assert_ne!(answered_on, first, "answered on a fresh connection");
    // A POST is not idempotent: it is not sent twice.
    let reply = client.post(format!("{}/vanish", node.proxy_url())).send().await.expect("proxy answers");
    assert_eq!(reply.status(), 502);
}
