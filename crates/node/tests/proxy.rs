//! The proxy end to end: a real node process, configured through its Admin API, forwarding to a real
//! upstream that echoes what it received.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

struct Setup {
    node: Node,
    echo: EchoServer,
    client: reqwest::Client,
}

async fn setup() -> Setup {
    let echo = EchoServer::start().await.expect("echo upstream");
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Setup { node, echo, client }
}

impl Setup {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.node.admin(method, path, body).await
    }

    async fn create(&self, path: &str, body: Value) -> Value {
        self.node.create(path, body).await
    }

    fn proxy(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.node.proxy_url()))
    }
}

#[tokio::test]
async fn kong_path_handling_v0_cases_pass_end_to_end() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/kong-path-handling.json");
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("notice: {} not found; skipping the path-handling conformance cases", file.display());
        return;
    };
    let data: Value = serde_json::from_str(&text).expect("conformance JSON");
    let cases: Vec<Value> = data["cases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["path_handling"] == "v0")
        .collect();
    assert_eq!(cases.len(), 106);
    let s = setup().await;
    for (i, case) in cases.iter().enumerate() {
        let service = s
            .create(
                "/services",
                json!({"url": format!("{}{}", s.echo.url(), case["service_path"].as_str().unwrap_or("/"))}),
            )
            .await;
        let mut route = json!({
            "hosts": [format!("case{i}.test")],
            "strip_path": case["strip_path"],
            "path_handling": "v0",
            "service": {"id": service["id"]},
        });
        if let Some(path) = case["route_path"].as_str() {
            route["paths"] = json!([path]);
        }
        s.create("/routes", route).await;
    }
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let reply = s
            .proxy(reqwest::Method::GET, case["request_path"].as_str().unwrap_or("/"))
            .header("host", format!("case{i}.test"))
            .send()
            .await
            .expect("proxy request");
        let status = reply.status().as_u16();
        let echoed: Value = reply.json().await.unwrap_or(Value::Null);
        if status != 200 || echoed["path"] != case["expected_upstream_path"] {
            failures.push(format!("case {i} {case}: got {status} {}", echoed["path"]));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[tokio::test]
async fn forwards_with_kong_headers_and_streams_bodies() {
    let s = setup().await;
    let service = s.create("/services", json!({"name": "echo", "url": format!("{}/base", s.echo.url())})).await;
    s.create("/services/echo/routes", json!({"name": "api", "paths": ["/api"], "hosts": ["api.test"]})).await;
    s.create("/services/echo/routes", json!({"name": "kept", "paths": ["/kept"], "preserve_host": true})).await;
    let reply = s
        .proxy(reqwest::Method::POST, "/api/items?limit=5")
        .header("host", "api.test")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "secret")
        .header("x-forwarded-for", "203.0.113.9")
        .body(vec![b'x'; 300_000])
        .send()
        .await
        .expect("proxy");
    assert_eq!(reply.status(), 200);
    let headers = reply.headers().clone();
    let echoed: Value = reply.json().await.expect("echo json");
    assert_eq!(echoed["path"], "/base/items");
    assert_eq!(echoed["query"], "limit=5");
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["body_length"], 300_000);
    let up = &echoed["headers"];
    assert_eq!(up["host"], format!("127.0.0.1:{}", s.echo.addr.port()));
    assert_eq!(up["x-forwarded-for"], "203.0.113.9, 127.0.0.1", "extended, as Kong extends any client's");
    assert_eq!(up["x-forwarded-host"], "api.test");
    assert_eq!(up["x-forwarded-proto"], "http");
    assert_eq!(up["x-forwarded-port"], s.node.proxy_port.to_string());
    assert_eq!(up["x-forwarded-path"], "/api/items");
    assert_eq!(up["x-forwarded-prefix"], "/api");
    assert_eq!(up["x-real-ip"], "127.0.0.1");
    assert!(up.get("x-drop-me").is_none(), "headers named by Connection are hop-by-hop");
    assert!(up["x-kong-request-id"].as_str().is_some_and(|id| id.len() == 32));
    assert_eq!(headers["x-kong-request-id"].to_str().ok(), up["x-kong-request-id"].as_str());
    assert!(headers.contains_key("x-kong-upstream-latency"));
    assert!(headers.contains_key("x-kong-proxy-latency"));
    assert!(headers["via"].to_str().unwrap_or_default().contains("gatehouse/"));
    let kept: Value = s
        .proxy(reqwest::Method::GET, "/kept")
        .header("host", "client.test")
        .send()
        .await
        .expect("proxy")
        .json()
        .await
        .expect("json");
    assert_eq!(kept["headers"]["host"], "client.test", "preserve_host keeps the client's Host");
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("h2 client");
    let kept_h2: Value = h2
        .get(format!("http://127.0.0.1:{}/kept", s.node.proxy_port))
        .send()
        .await
        .expect("h2c proxy")
        .json()
        .await
        .expect("json");
    assert_eq!(
        kept_h2["headers"]["host"],
        format!("127.0.0.1:{}", s.node.proxy_port),
        "an h2 client's :authority is preserved too"
    );
    assert_eq!(service["name"], "echo");
}

#[tokio::test]
async fn errors_have_kong_status_codes_and_bodies() {
    let s = setup().await;
    let miss = s.proxy(reqwest::Method::GET, "/nowhere").send().await.expect("proxy");
    assert_eq!(miss.status(), 404);
    let body: Value = miss.json().await.expect("json");
    assert_eq!(body["message"], "no Route matched with those values");
    assert!(body["request_id"].is_string());
    s.create("/routes", json!({"paths": ["/orphan"]})).await;
    let orphan = s.proxy(reqwest::Method::GET, "/orphan").send().await.expect("proxy");
    assert_eq!(orphan.status(), 503);
    let dead_port = gatehouse_testkit::free_port();
    s.create("/services", json!({"name": "dead", "url": format!("http://127.0.0.1:{dead_port}"), "retries": 2})).await;
    s.create("/services/dead/routes", json!({"paths": ["/dead"]})).await;
    let dead = s.proxy(reqwest::Method::GET, "/dead").send().await.expect("proxy");
    assert_eq!(dead.status(), 502);
    let dead_body: Value = dead.json().await.expect("json");
    assert_eq!(dead_body["message"], "An invalid response was received from the upstream server");
    s.create("/services", json!({"name": "secure", "url": s.echo.url()})).await;
    s.create("/services/secure/routes", json!({"paths": ["/secure"], "protocols": ["https"]})).await;
    let https_only = s.proxy(reqwest::Method::GET, "/secure").send().await.expect("proxy");
    assert_eq!(https_only.status(), 426);
    s.create(
        "/services/secure/routes",
        json!({"paths": ["/moved"], "protocols": ["https"], "https_redirect_status_code": 301}),
    )
    .await;
    let moved = s.proxy(reqwest::Method::GET, "/moved?x=1").header("host", "shop.test").send().await.expect("proxy");
    assert_eq!(moved.status(), 301);
    assert_eq!(moved.headers()["location"], "https://shop.test/moved?x=1");
}

#[tokio::test]
async fn admin_writes_are_live_on_the_proxy_when_the_response_arrives() {
    let s = setup().await;
    s.create("/services", json!({"name": "live", "url": s.echo.url()})).await;
    for i in 0..20 {
        let route = s.create("/services/live/routes", json!({"paths": [format!("/live{i}")]})).await;
        let hit = s.proxy(reqwest::Method::GET, &format!("/live{i}")).send().await.expect("proxy");
        assert_eq!(hit.status(), 200, "route {i} is live as soon as its create returned");
        let id = route["id"].as_str().unwrap_or_default();
        let (status, _) = s.admin(reqwest::Method::DELETE, &format!("/routes/{id}"), Value::Null).await;
        assert_eq!(status, 204);
        let gone = s.proxy(reqwest::Method::GET, &format!("/live{i}")).send().await.expect("proxy");
        assert_eq!(gone.status(), 404, "route {i} is gone as soon as its delete returned");
    }
    let (status, _) = s.admin(reqwest::Method::PATCH, "/services/live", json!({"enabled": false})).await;
    assert_eq!(status, 200);
    s.create("/services/live/routes", json!({"paths": ["/off"]})).await;
    let off = s.proxy(reqwest::Method::GET, "/off").send().await.expect("proxy");
    assert_eq!(off.status(), 404, "routes of disabled services are not served");
}

/// Sends raw bytes to the proxy and returns what came back.
async fn raw_exchange(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = vec![0u8; 4096];
    let n = stream.read(&mut response).await.expect("read");
    String::from_utf8_lossy(&response[..n]).into_owned()
}

#[tokio::test]
async fn ambiguous_request_framing_cannot_smuggle() {
    let s = setup().await;
    s.create("/services", json!({"name": "svc", "url": s.echo.url()})).await;
    s.create("/services/svc/routes", json!({"paths": ["/"]})).await;
    let conflicting = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
    let text = raw_exchange(s.node.proxy_port, conflicting).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    // With both Content-Length and Transfer-Encoding, the chunked framing wins (RFC 9112 §6.3) and the
    // smuggled bytes after the empty chunk are a new, separate request: nothing of them reaches the upstream
    // inside the first one.
    let both = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let text = raw_exchange(s.node.proxy_port, both).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"body_length\":0"), "{text}");
    assert!(!text.contains("\"content-length\":\"30\""), "{text}");
}

#[tokio::test]
async fn header_names_are_spelled_as_kong_sends_them() {
    let s = setup().await;
    s.create("/services", json!({"name": "svc", "url": s.echo.url()})).await;
    s.create("/services/svc/routes", json!({"paths": ["/echo"]})).await;
    let port = s.node.proxy_port;
    let relayed = raw_exchange(port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(relayed.starts_with("HTTP/1.1 200"), "{relayed}");
    for name in ["X-Kong-Upstream-Latency: ", "X-Kong-Proxy-Latency: ", "Via: 1.1 gatehouse/", "X-Kong-Request-Id: "] {
        assert!(relayed.contains(&format!("\r\n{name}")), "{name:?} in {relayed}");
    }
    // The proxy's own answer; then the same through hyper's server, where a request with `Expect` goes.
    for extra in ["", "Expect: 100-continue\r\n"] {
        let request = format!("GET /nowhere HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let error = raw_exchange(port, &request).await;
        assert!(error.starts_with("HTTP/1.1 404"), "{error}");
        let names = ["Content-Type: application/json", "Server: gatehouse/", "X-Kong-Request-Id: ", "Content-Length: "];
        for name in names.into_iter().chain(["Date: "]) {
            assert!(error.contains(&format!("\r\n{name}")), "{name:?} in {error}");
        }
    }
    // Upstream, the forwarding headers are spelled as Kong's nginx template sets them.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream_url = format!("http://{}", upstream.local_addr().expect("addr"));
    s.create("/services", json!({"name": "raw", "url": upstream_url})).await;
    s.create("/services/raw/routes", json!({"paths": ["/raw"]})).await;
    let received = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = upstream.accept().await.expect("accept");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
        String::from_utf8_lossy(&head).into_owned()
    });
    let reply = raw_exchange(port, "GET /raw HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
    let head = received.await.expect("upstream");
    for name in ["X-Forwarded-For: ", "X-Real-IP: ", "X-Forwarded-Proto: ", "X-Kong-Request-Id: "] {
        assert!(head.contains(&format!("\r\n{name}")), "{name:?} in {head}");
    }
}

#[tokio::test]
async fn a_silent_upstream_times_out_with_504_after_read_timeout() {
    let s = setup().await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    s.create(
        "/services",
        json!({"name": "slow", "url": format!("http://127.0.0.1:{port}"), "read_timeout": 300, "connect_timeout": 300}),
    )
    .await;
    s.create("/services/slow/routes", json!({"paths": ["/slow"]})).await;
    let started = std::time::Instant::now();
    let reply = s.proxy(reqwest::Method::GET, "/slow").send().await.expect("proxy");
    assert_eq!(reply.status(), 504);
    let body: Value = reply.json().await.expect("json");
    assert_eq!(body["message"], "The upstream server is timing out");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    holder.abort();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_before_exiting() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = setup().await;
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = slow.local_addr().expect("addr").port();
    let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel::<()>();
    let upstream = tokio::spawn(async move {
        let Ok((mut stream, _)) = slow.accept().await else { return };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let _ = arrived_tx.send(());
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone").await;
    });
    s.create("/services", json!({"name": "slow", "url": format!("http://127.0.0.1:{port}")})).await;
    s.create("/services/slow/routes", json!({"paths": ["/slow"]})).await;
    let request = s.proxy(reqwest::Method::GET, "/slow").send();
    let in_flight = tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) });
    arrived_rx.await.expect("the request reached the upstream");
    s.node.terminate().expect("SIGTERM");
    let status = in_flight.await.expect("join").expect("the in-flight request completes");
    assert_eq!(status, 200);
    assert_eq!(s.node.wait_exit(std::time::Duration::from_secs(10)).await.expect("exit"), Some(0));
    upstream.abort();
}

#[tokio::test]
async fn upgrade_requests_become_a_two_way_tunnel() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup().await;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = upstream.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let Ok((mut stream, _)) = upstream.accept().await else { return };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.contains("upgrade: websocket"), "the upgrade reaches the upstream: {head}");
        let _ = stream
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n")
            .await;
        let mut buf = [0u8; 64];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    s.create("/services", json!({"name": "ws", "url": format!("http://127.0.0.1:{port}"), "read_timeout": 400})).await;
    s.create("/services/ws/routes", json!({"paths": ["/ws"]})).await;
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", s.node.proxy_port)).await.expect("connect");
    let request = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    client.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(
            client.read(&mut byte).await.expect("read") > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    for message in ["hello", "tunnel"] {
        client.write_all(message.as_bytes()).await.expect("send");
        let mut echoed = vec![0u8; message.len()];
        client.read_exact(&mut echoed).await.expect("echo");
        assert_eq!(echoed, message.as_bytes());
    }
    let mut rest = [0u8; 16];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), client.read(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "an idle tunnel is closed after read_timeout: {closed:?}");
    server.abort();
}

#[tokio::test]
async fn https_upstreams_and_grpc_with_trailers() {
    let s = setup().await;
    let secure = gatehouse_testkit::EchoServer::start_tls().await.expect("TLS upstream");
    s.create("/services", json!({"name": "secure", "url": format!("https://localhost:{}/", secure.addr.port())})).await;
    s.create("/services/secure/routes", json!({"paths": ["/secure"]})).await;
    let reply = s.proxy(reqwest::Method::GET, "/secure/x").send().await.expect("proxy");
    assert_eq!(reply.status(), 200, "https upstream");
    let echoed: Value = reply.json().await.expect("json");
    assert_eq!(echoed["path"], "/x");

    let port = secure.addr.port();
    s.create("/services", json!({"name": "strict", "url": format!("https://localhost:{port}/"), "tls_verify": true}))
        .await;
    s.create("/services/strict/routes", json!({"paths": ["/strict"]})).await;
    let unverified = s.proxy(reqwest::Method::GET, "/strict").send().await.expect("proxy");
    assert_eq!(unverified.status(), 502, "tls_verify without the issuing CA refuses the upstream");
    let ca = s.create("/ca_certificates", json!({"cert": secure.ca_pem.clone().unwrap_or_default()})).await;
    let (status, _) = s.admin(reqwest::Method::PATCH, "/services/strict", json!({"ca_certificates": [ca["id"]]})).await;
    assert_eq!(status, 200);
    let verified = s.proxy(reqwest::Method::GET, "/strict").send().await.expect("proxy");
    assert_eq!(verified.status(), 200, "verification succeeds against the service's CA certificate");

    s.create("/services", json!({"name": "grpc", "url": format!("grpc://127.0.0.1:{}", s.echo.addr.port())})).await;
    s.create("/services/grpc/routes", json!({"paths": ["/pkg.Echo/"], "protocols": ["grpc"]})).await;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", s.node.proxy_port)).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake with the proxy");
    tokio::spawn(connection);
    let request = hyper::Request::post("http://grpc.test/pkg.Echo/Say")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"\0\0\0\0\x05hello")))
        .expect("request");
    let response = sender.send_request(request).await.expect("gRPC call");
    assert_eq!(response.status(), 200);
    let collected = http_body_util::BodyExt::collect(response.into_body()).await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    assert_eq!(collected.to_bytes().as_ref(), b"\0\0\0\0\x05hello");
    assert_eq!(trailers.get("grpc-status").and_then(|v| v.to_str().ok()), Some("0"), "trailers pass through");
}

#[tokio::test]
async fn request_buffering_and_the_body_size_limit() {
    let echo = EchoServer::start().await.expect("echo");
    let options =
        NodeOptions { env: vec![("GATEHOUSE_CLIENT_MAX_BODY_SIZE".into(), "64k".into())], ..Default::default() };
    let node = Node::start(binary(), options).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/services/echo/routes", json!({"paths": ["/buffered"]})).await;
    node.create("/services/echo/routes", json!({"paths": ["/streamed"], "request_buffering": false})).await;
    let client = reqwest::Client::new();
    let chunked = |path: &str| {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b'a'; 1000]), Ok(vec![b'b'; 1000])];
        client
            .post(format!("{}{path}", node.proxy_url()))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
    };
    let buffered: Value = chunked("/buffered").send().await.expect("proxy").json().await.expect("json");
    assert_eq!(buffered["body_length"], 2000);
    assert_eq!(buffered["headers"]["content-length"], "2000", "a buffered body reaches the upstream with its length");
    assert!(buffered["headers"].get("transfer-encoding").is_none());
    let streamed: Value = chunked("/streamed").send().await.expect("proxy").json().await.expect("json");
    assert_eq!(streamed["body_length"], 2000);
    assert_eq!(streamed["body"], format!("{}{}", "a".repeat(1000), "b".repeat(1000)), "chunks arrive in order, whole");
    assert_eq!(streamed["headers"]["transfer-encoding"], "chunked", "request_buffering=false streams");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..70).map(|_| Ok(vec![b'c'; 1000])).collect();
    let chunked_too_big = client
        .post(format!("{}/buffered", node.proxy_url()))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .expect("proxy");
    assert_eq!(chunked_too_big.status(), 413, "a chunked body over the limit");
    for path in ["/buffered", "/streamed"] {
        let too_big =
            client.post(format!("{}{path}", node.proxy_url())).body(vec![0u8; 70_000]).send().await.expect("proxy");
        assert_eq!(too_big.status(), 413, "{path}");
    }
}

#[tokio::test]
async fn large_responses_stream_with_and_without_response_buffering() {
    let s = setup().await;
    s.create("/services", json!({"name": "big", "url": s.echo.url()})).await;
    s.create("/services/big/routes", json!({"paths": ["/read-ahead"]})).await;
    s.create("/services/big/routes", json!({"paths": ["/in-step"], "response_buffering": false})).await;
    let size = 3 * 1024 * 1024 + 5;
    for path in ["/read-ahead", "/in-step"] {
        let reply = s.proxy(reqwest::Method::GET, &format!("{path}?respond_bytes={size}")).send().await.expect("proxy");
        assert_eq!(reply.status(), 200, "{path}");
        let body = reply.bytes().await.expect("body");
        assert_eq!(body.len(), size, "{path}");
        assert!(body.iter().all(|b| *b == b'x'), "{path}");
    }
}
