//! Client connections in HTTP/1.1 as a raw client sees them: keep-alive, pipelining, HEAD, `Connection:
//! close`, chunked responses, and the requests the proxy's own HTTP/1 path hands to hyper (bodies,
//! HTTP/1.0, malformed and oversized heads) on the same connection, over plain TCP and TLS alike. Also:
//! a client that leaves cancels its request upstream.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// One parsed response.
struct Reply {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A client connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// Where a test's connections go: the plain proxy listener, or the TLS one with the client's settings.
enum Connect {
    Plain(u16),
    Tls(u16, Arc<rustls::ClientConfig>),
}

impl Connect {
    async fn open(&self) -> RawClient {
        match self {
            Connect::Plain(port) => RawClient::connect(*port).await,
            Connect::Tls(port, config) => {
                let stream = TcpStream::connect(("127.0.0.1", *port)).await.expect("connect");
                let name = rustls::pki_types::ServerName::try_from("client.test").expect("name");
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let stream = connector.connect(name, stream).await.expect("TLS handshake");
                RawClient { stream: Box::new(stream), buf: Vec::new() }
            }
        }
    }
}

/// A client on one connection that reads responses as HTTP/1.1 frames them.
struct RawClient {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl RawClient {
    async fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        RawClient { stream: Box::new(stream), buf: Vec::new() }
    }

    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.expect("write");
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await;
        match read.expect("the proxy answers within 10 s") {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response; `head_only` for a HEAD request's.
    async fn response(&mut self, head_only: bool) -> Reply {
        let end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(self.fill().await, "connection closed before a response head");
        };
        let head = String::from_utf8(self.buf.drain(..end + 4).collect()).expect("utf-8 head");
        let mut lines = head.trim_end().split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut reply = Reply { status_line, headers, body: Vec::new() };
        if head_only {
            return reply;
        }
        if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                let size_end = self.until(b"\r\n").await;
                let size_line: Vec<u8> = self.buf.drain(..size_end + 2).collect();
                let size = usize::from_str_radix(String::from_utf8_lossy(&size_line).trim(), 16).expect("chunk size");
                while self.buf.len() < size + 2 {
                    assert!(self.fill().await, "connection closed inside a chunk");
                }
                reply.body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    return reply;
                }
            }
        }
        let length: usize = reply.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while self.buf.len() < length {
            assert!(self.fill().await, "connection closed inside a body");
        }
        reply.body = self.buf.drain(..length).collect();
        reply
    }

    async fn until(&mut self, pattern: &[u8]) -> usize {
        loop {
            if let Some(at) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return at;
            }
            assert!(self.fill().await, "connection closed early");
        }
    }

    /// Whether the proxy closed the connection (after any bytes still buffered).
    async fn closed(&mut self) -> bool {
        !self.fill().await && self.buf.is_empty()
    }
}

/// One proxy worker, so every connection of a test meets the same upstream pool.
async fn one_worker_node() -> Node {
    let options =
        NodeOptions { env: vec![("KONG_NGINX_WORKER_PROCESSES".into(), "1".into())], ..NodeOptions::default() };
    Node::start(binary(), options).await.expect("node")
}

async fn node_with_echo(echo: &EchoServer) -> Node {
    let node = one_worker_node().await;
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    let route = json!({"hosts": ["client.test"], "paths": ["/"], "strip_path": false});
    node.create("/services/echo/routes", route).await;
    node
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: client.test\r\n\r\n")
}

#[tokio::test]
async fn keep_alive_pipelining_head_and_close() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with_echo(&echo).await;
    keep_alive_pipelining_head_and_close_on(&Connect::Plain(node.proxy_port)).await;
}

async fn keep_alive_pipelining_head_and_close_on(connect: &Connect) {
    let mut client = connect.open().await;
    client.send(&get("/first")).await;
    let first = client.response(false).await;
    assert_eq!(first.status_line, "HTTP/1.1 200 OK");
    assert_eq!(first.json()["path"], "/first");
    assert!(first.header("date").is_some() && first.header("x-kong-request-id").is_some());
    assert!(first.header("content-length").is_some(), "a known length is sent as such");

    // Two requests in one write come back in order.
    client.send(&format!("{}{}", get("/p1"), get("/p2"))).await;
    assert_eq!(client.response(false).await.json()["path"], "/p1");
    assert_eq!(client.response(false).await.json()["path"], "/p2");

    // HEAD: the length of the body a GET would get, and no body (the next response starts right after).
    client.send("HEAD /head HTTP/1.1\r\nHost: client.test\r\n\r\n").await;
    let head = client.response(true).await;
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert!(head.header("content-length").and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > 0));
    client.send(&get("/after-head")).await;
    assert_eq!(client.response(false).await.json()["path"], "/after-head");

    // A body of unknown length is chunked.
    client.send(&get("/big?respond_bytes=200000")).await;
    let big = client.response(false).await;
    assert_eq!(big.header("transfer-encoding"), Some("chunked"));
    assert_eq!(big.body.len(), 200_000);
    assert!(big.body.iter().all(|&b| b == b'x'));

    // No route: Kong's 404, then the connection goes on.
    client.send("GET /x HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n").await;
    let missing = client.response(false).await;
    assert_eq!(missing.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(missing.json()["message"], "no Route matched with those values");

    client.send("GET /last HTTP/1.1\r\nHost: client.test\r\nConnection: close\r\n\r\n").await;
    let last = client.response(false).await;
    assert_eq!(last.json()["path"], "/last");
    assert_eq!(last.header("connection"), Some("close"));
    assert!(client.closed().await, "the proxy closes after `Connection: close`");
}

#[tokio::test]
async fn requests_hyper_serves_continue_the_same_connection() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with_echo(&echo).await;
    let mut client = RawClient::connect(node.proxy_port).await;
    client.send(&get("/before")).await;
    assert_eq!(client.response(false).await.json()["path"], "/before");
    // A body: hyper takes over the connection from here, with the bytes already read.
    client.send("POST /upload HTTP/1.1\r\nHost: client.test\r\nContent-Length: 5\r\n\r\nhello").await;
    let posted = client.response(false).await;
    assert_eq!((posted.json()["path"].as_str(), posted.json()["body"].as_str()), (Some("/upload"), Some("hello")));
    client.send(&get("/after")).await;
    let after = client.response(false).await;
    assert_eq!(after.json()["path"], "/after");
    assert_eq!(after.json()["headers"]["x-kong-request-id"].as_str().map(str::len), Some(32));

    // HTTP/1.0 gets an HTTP/1.0 answer and a closed connection.
    let mut old = RawClient::connect(node.proxy_port).await;
    old.send("GET /old HTTP/1.0\r\nHost: client.test\r\n\r\n").await;
    let reply = old.response(false).await;
    assert_eq!(reply.status_line, "HTTP/1.0 200 OK");
    assert_eq!(reply.json()["path"], "/old");
    assert!(old.closed().await);

    // A malformed head and a target in neither origin nor absolute form: 400, nothing reaches the upstream.
    for bad in ["GET / HTTP/1.1\r\nno colon\r\n\r\n", "GET a/b HTTP/1.1\r\nHost: client.test\r\n\r\n"] {
        let mut client = RawClient::connect(node.proxy_port).await;
        client.send(bad).await;
        assert_eq!(client.response(false).await.status_line, "HTTP/1.1 400 Bad Request", "{bad:?}");
        assert!(client.closed().await);
    }

    oversized_heads_get_kongs_answers(&Connect::Plain(node.proxy_port)).await;
}

/// Past large_client_header_buffers (4 x 8 KiB by default): a head too large in all, or one header line
/// longer than a buffer, gets Kong's 400 (nginx's 494); a request line that never ends gets 414.
async fn oversized_heads_get_kongs_answers(connect: &Connect) {
    let cases = [
        (format!("GET / HTTP/1.1\r\nHost: client.test\r\nx-big: {}\r\n\r\n", "a".repeat(64 * 1024)), 400),
        (format!("GET / HTTP/1.1\r\nHost: client.test\r\nCookie: {}\r\n\r\n", "a".repeat(9000)), 400),
        (format!("GET /{} HTTP/1.1\r\nHost: client.test\r\n\r\n", "a".repeat(64 * 1024)), 414),
    ];
    for (huge, status) in cases {
        let mut client = connect.open().await;
        let _ = client.stream.write_all(huge.as_bytes()).await;
        let reply = client.response(false).await;
        assert!(reply.status_line.starts_with(&format!("HTTP/1.1 {status} ")), "{}", reply.status_line);
        let message = if status == 400 { "Request header or cookie too large" } else { "URI too long" };
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert!(body.starts_with(&format!("{message}\n")), "{body}");
        // Kong's error handler exits through its header filter: the headers of a response it made.
        assert!(reply.header("server").is_some_and(|v| v.starts_with("gatehouse/")), "{:?}", reply.headers);
        assert!(reply.header("x-kong-response-latency").is_some(), "{:?}", reply.headers);
        assert_eq!(reply.header("x-kong-request-id").map(str::len), Some(32), "{:?}", reply.headers);
        assert!(body.contains(reply.header("x-kong-request-id").unwrap_or("-")), "{body}");
        assert!(client.closed().await);
    }
}

/// Targets nginx takes as they come but the `http` crate refuses (`<`, `>`, a backtick; `"` in a query)
/// are routed on their decoded path, as Kong's `normalize` does, and go upstream escaped, as Kong's
/// `escape` sends them.
#[tokio::test]
async fn targets_nginx_takes_as_they_come_are_routed_and_escaped() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with_echo(&echo).await;
    node.create("/services", json!({"name": "odd", "url": format!("{}/odd-service", echo.url())})).await;
    node.create(
        "/services/odd/routes",
        json!({"hosts": ["client.test"], "paths": ["~/odd/a<b>`$"], "strip_path": false}),
    )
    .await;
    let mut client = RawClient::connect(node.proxy_port).await;
    client.send("GET /odd/a<b>` HTTP/1.1\r\nHost: client.test\r\n\r\n").await;
    let reply = client.response(false).await;
    assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
    assert_eq!(reply.json()["path"], "/odd-service/odd/a%3Cb%3E%60", "{}", reply.json());
    client.send("GET /plain/x<y>?q=\"<b>\"&r=1 HTTP/1.1\r\nHost: client.test\r\n\r\n").await;
    let reply = client.response(false).await;
    assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
    assert_eq!(reply.json()["uri"], "/plain/x%3Cy%3E?q=%22%3Cb%3E%22&r=1", "{}", reply.json());
    // Still a 400: a target in neither origin nor absolute form.
    client.send("GET plain HTTP/1.1\r\nHost: client.test\r\n\r\n").await;
    assert_eq!(client.response(false).await.status_line, "HTTP/1.1 400 Bad Request");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_request_upstream() {
    // An upstream that reads a request, never answers, and reports when the proxy closes on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr");
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let events_tx = events_tx.clone();
            tokio::spawn(async move {
                let (mut buffer, mut seen) = ([0u8; 4096], Vec::new());
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            seen.extend_from_slice(&buffer[..n]);
                            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                                let _ = events_tx.send("request");
                                seen.clear();
                            }
                        }
                    }
                }
                let _ = events_tx.send("closed");
            });
        }
    });
    let node = one_worker_node().await;
    node.create("/services", json!({"name": "silent", "url": format!("http://{upstream}"), "read_timeout": 60000}))
        .await;
    node.create("/services/silent/routes", json!({"paths": ["/"]})).await;
    let mut client = RawClient::connect(node.proxy_port).await;
    client.send(&get("/wait")).await;
    let within = Duration::from_secs(10);
    let event = tokio::time::timeout(within, events.recv()).await.ok().flatten();
    assert_eq!(event, Some("request"), "the request reached the upstream");
    drop(client);
    let event = tokio::time::timeout(within, events.recv()).await.ok().flatten();
    assert_eq!(event, Some("closed"), "the proxy gave up the request once the client left");
}

#[tokio::test]
async fn the_header_timeout_follows_kongs_nginx_http_client_header_timeout() {
    let env = vec![
        ("KONG_NGINX_WORKER_PROCESSES".into(), "1".into()),
        ("KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT".into(), "1s".into()),
    ];
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    let mut client = RawClient::connect(node.proxy_port).await;
    let started = std::time::Instant::now();
    client.send("GET /slow HTTP/1.1\r\nHost: client.test\r\n").await;
    // The default (60 s) would outlast the client's 10 s read limit.
    assert!(client.closed().await, "a head not finished within the timeout closes the connection");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_after_kongs_nginx_http_client_body_timeout() {
    let echo = EchoServer::start().await.expect("echo");
    let env = vec![
        ("KONG_NGINX_WORKER_PROCESSES".into(), "1".into()),
        ("KONG_NGINX_HTTP_CLIENT_BODY_TIMEOUT".into(), "1s".into()),
    ];
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    // An https upstream goes through hyper's client rather than the proxy's own pool.
    let tls_echo = EchoServer::start_tls().await.expect("tls echo");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    let tls_url = format!("https://localhost:{}", tls_echo.addr.port());
    node.create("/services", json!({"name": "tls", "url": tls_url})).await;
    let routes = [("client.test", "echo", true), ("stream.test", "echo", false), ("tls.test", "tls", false)];
    for (host, service, request_buffering) in routes {
        let route =
            json!({"hosts": [host], "paths": ["/"], "strip_path": false, "request_buffering": request_buffering});
        node.create(&format!("/services/{service}/routes"), route).await;
    }
    for (host, _, _) in routes {
        let mut client = RawClient::connect(node.proxy_port).await;
        let started = std::time::Instant::now();
        let head =
            format!("POST /upload HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nContent-Length: 10\r\n\r\n");
        client.send(&format!("{head}abc")).await;
        // The default (60 s) would outlast the client's 10 s read limit.
        let reply = client.response(false).await;
        assert_eq!(reply.status_line, "HTTP/1.1 408 Request Timeout", "{host}");
        assert_eq!(reply.json()["message"], "Request timeout", "{host}");
        assert!(started.elapsed() >= Duration::from_millis(900), "{host}: answered after {:?}", started.elapsed());
        assert!(client.closed().await, "{host}: the connection closes after a 408");
    }
}

#[tokio::test]
async fn a_request_line_longer_than_one_header_buffer_gets_414() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with_echo(&echo).await;
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: client.test\r\nAccept: application/json\r\n\r\n");
    let long = format!("/{}", "a".repeat(9000));
    let mut client = RawClient::connect(node.proxy_port).await;
    client.send(&request(&long)).await;
    let reply = client.response(false).await;
    assert_eq!(reply.status_line, "HTTP/1.1 414 URI Too Long");
    assert_eq!(reply.json()["message"], "URI too long");
    assert!(client.closed().await, "nginx closes the connection after a 414");
    // A line that fits in one 8k buffer (large_client_header_buffers' default) is served.
    let mut client = RawClient::connect(node.proxy_port).await;
    client.send(&request(&format!("/{}", "a".repeat(8000)))).await;
    assert_eq!(client.response(false).await.status_line, "HTTP/1.1 200 OK");
    // Larger buffers, set by Kong's name for the directive, let the long line through.
    let env = vec![
        ("KONG_NGINX_WORKER_PROCESSES".into(), "1".into()),
        ("KONG_NGINX_HTTP_LARGE_CLIENT_HEADER_BUFFERS".into(), "4 16k".into()),
    ];
    let roomy = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    roomy.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    roomy.create("/services/echo/routes", json!({"hosts": ["client.test"], "paths": ["/"]})).await;
    let mut client = RawClient::connect(roomy.proxy_port).await;
    client.send(&request(&long)).await;
    assert_eq!(client.response(false).await.status_line, "HTTP/1.1 200 OK");
}

/// TLS connections get the same HTTP/1.1 handling and head limits as plain ones, with the connection's
/// scheme and SNI reaching routing (before, hyper's server answered an oversized TLS head with 431).
#[tokio::test]
async fn tls_connections_get_the_same_http1_handling() {
    let echo = EchoServer::start().await.expect("echo");
    let env = vec![("KONG_NGINX_WORKER_PROCESSES".into(), "1".into())];
    let node = Node::start(binary(), NodeOptions { env, tls: true, ..NodeOptions::default() }).await.expect("node");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let certificate = json!({"cert": cert.pem(), "key": key.serialize_pem(), "snis": ["client.test"]});
    node.create("/certificates", certificate).await;
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/services/echo/routes", json!({"hosts": ["client.test"], "paths": ["/"], "strip_path": false})).await;
    let https_only = json!({"hosts": ["client.test"], "snis": ["client.test"], "protocols": ["https"],
        "paths": ["/by-sni"], "strip_path": true});
    node.create("/services/echo/routes", https_only).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connect = Connect::Tls(node.tls_proxy_port, Arc::new(config));

    let mut client = connect.open().await;
    client.send(&get("/by-sni/x")).await;
    let reply = client.response(false).await;
    assert_eq!(reply.json()["path"], "/x", "the https-only route with the client's SNI matched");
    assert_eq!(reply.json()["headers"]["x-forwarded-proto"], "https");
    assert_eq!(reply.json()["headers"]["x-forwarded-port"], node.tls_proxy_port.to_string());
    // A body hands the TLS connection to hyper, which goes on serving it.
    client.send("POST /upload HTTP/1.1\r\nHost: client.test\r\nContent-Length: 5\r\n\r\nhello").await;
    assert_eq!(client.response(false).await.json()["body"], "hello");
    client.send(&get("/after")).await;
    assert_eq!(client.response(false).await.json()["path"], "/after");

    keep_alive_pipelining_head_and_close_on(&connect).await;
    oversized_heads_get_kongs_answers(&connect).await;
    // The plain listener refuses the https-only route as Kong does.
    let mut plain = Connect::Plain(node.proxy_port).open().await;
    plain.send(&get("/by-sni/x")).await;
    assert_eq!(plain.response(false).await.status_line, "HTTP/1.1 426 Upgrade Required");
}
