//! The client's address behind a trusted load balancer, as Kong's nginx finds it (`trusted_ips`,
//! `real_ip_header`, `real_ip_recursive`): what the upstream is told in `X-Real-IP` and
//! `X-Forwarded-For` (the cases of Kong's `spec/02-integration/05-proxy/03-upstream_headers_spec.lua`),
//! also from the PROXY protocol header of a `proxy_protocol` listener.

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

/// A node with `env`, listening for the proxy on `proxy_port` when given (its `proxy_listen` is in `env`).
async fn node_with(env: &[(&str, &str)], echo: &EchoServer, proxy_port: Option<u16>) -> Node {
    let options = NodeOptions {
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..NodeOptions::default()
    };
    let node = match proxy_port {
        None => Node::start(binary(), options).await.expect("node"),
        Some(port) => {
            let mut node = Node::spawn(binary(), options).expect("node");
            node.proxy_port = port;
            node.wait_ready(Duration::from_secs(30)).await.expect("node ready");
            node
        }
    };
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
    let node = node_with(&[], &echo, None).await;
    assert_eq!(seen_upstream(&node, &[]).await, ("127.0.0.1".into(), "127.0.0.1".into()));
    let sent = [("X-Forwarded-For", "10.0.0.1"), ("X-Real-IP", "10.0.0.9")];
    assert_eq!(seen_upstream(&node, &sent).await, ("127.0.0.1".into(), "10.0.0.1, 127.0.0.1".into()));
}

#[tokio::test]
async fn a_trusted_balancer_names_the_client() {
    let echo = EchoServer::start().await.expect("echo");
    // Kong's default real_ip_header, X-Real-IP, from a trusted peer.
    let node = node_with(&[("KONG_TRUSTED_IPS", "127.0.0.1")], &echo, None).await;
    let sent = [("X-Real-IP", "10.0.0.1")];
    assert_eq!(seen_upstream(&node, &sent).await, ("10.0.0.1".into(), "10.0.0.1".into()));

    let recursive = [
        ("KONG_TRUSTED_IPS", "127.0.0.1,172.16.0.1,192.168.0.1"),
        ("KONG_REAL_IP_HEADER", "X-Forwarded-For"),
        ("KONG_REAL_IP_RECURSIVE", "on"),
    ];
    let node = node_with(&recursive, &echo, None).await;
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
    let node = node_with(&untrusted, &echo, None).await;
    let list = "10.0.0.1, 127.0.0.2, 10.0.0.1, 192.168.0.1, 172.16.0.1";
    let sent = [("X-Forwarded-For", list), ("X-Real-IP", "10.0.0.2")];
    assert_eq!(seen_upstream(&node, &sent).await, ("127.0.0.1".into(), format!("{list}, 127.0.0.1")));
}

/// Sends `bytes` (a PROXY header and a request with `Connection: close`) over `stream` and returns the
/// `X-Real-IP` and `X-Forwarded-For` the upstream saw, or `None` when the proxy closed without answering.
async fn over<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &str) -> Option<(String, String)> {
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    let body = reply.windows(4).position(|w| w == b"\r\n\r\n").map(|at| &reply[at + 4..])?;
    let echoed: Value = serde_json::from_slice(body).ok()?;
    let header = |name: &str| echoed["headers"][name].as_str().unwrap_or_default().to_string();
    Some((header("x-real-ip"), header("x-forwarded-for")))
}

#[tokio::test]
async fn a_proxy_protocol_listener_names_the_client_from_the_header() {
    let echo = EchoServer::start().await.expect("echo");
    let (plain, tls) = (gatehouse_testkit::free_port(), gatehouse_testkit::free_port());
    let listen = format!("127.0.0.1:{plain} proxy_protocol, 127.0.0.1:{tls} ssl proxy_protocol");
    let env = [
        ("GATEHOUSE_PROXY_LISTEN", listen.as_str()),
        ("KONG_TRUSTED_IPS", "127.0.0.1,172.16.0.1,192.168.0.1"),
        ("KONG_REAL_IP_HEADER", "proxy_protocol"),
        ("KONG_REAL_IP_RECURSIVE", "on"),
    ];
    let node = node_with(&env, &echo, Some(plain)).await;
    let connect = || async { TcpStream::connect(("127.0.0.1", plain)).await.expect("connect") };
    let v1 = format!("PROXY TCP4 192.168.0.1 127.0.0.1 56324 {plain}\r\n");
    let get = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    let seen = over(connect().await, &format!("{v1}{get}")).await;
    assert_eq!(seen, Some(("192.168.0.1".into(), "192.168.0.1".into())), "Kong's proxy protocol case");
    let list = "10.0.0.1, 127.0.0.2, 10.0.0.1, 192.168.0.1, 172.16.0.1";
    let with_list =
        format!("{v1}GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: {list}\r\nConnection: close\r\n\r\n");
    let seen = over(connect().await, &with_list).await;
    assert_eq!(seen, Some(("192.168.0.1".into(), format!("{list}, 127.0.0.1"))));
    // Version 2 (binary), as AWS's NLB sends it.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0, 12, 203, 0, 113, 7, 127, 0, 0, 1, 0xdb, 0xc4]);
    v2.extend_from_slice(&plain.to_be_bytes());
    let mut stream = connect().await;
    stream.write_all(&v2).await.expect("write");
    assert_eq!(over(stream, get).await, Some(("203.0.113.7".into(), "203.0.113.7".into())));
    // No header: closed unanswered, as nginx closes on a broken header.
    assert_eq!(over(connect().await, get).await, None);

    // TLS after the header: the handshake starts right where the header ends.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert =
        rcgen::CertificateParams::new(vec!["a.test".to_string()]).expect("params").self_signed(&key).expect("cert");
    node.create("/certificates", json!({"cert": cert.pem(), "key": key.serialize_pem(), "snis": ["a.test"]})).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut stream = TcpStream::connect(("127.0.0.1", tls)).await.expect("connect");
    stream.write_all(format!("PROXY TCP4 172.16.0.9 127.0.0.1 56324 {tls}\r\n").as_bytes()).await.expect("write");
    let name = rustls::pki_types::ServerName::try_from("a.test").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream).await.expect("handshake");
    assert_eq!(over(stream, get).await, Some(("172.16.0.9".into(), "172.16.0.9".into())));
}
