//! TLS end to end: certificates created through the Admin API are served by SNI on the proxy's `ssl`
//! listener, swapped without a restart, and the Admin API itself answers on an `ssl` listener.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

struct Issued {
    cert: String,
    key: String,
}

fn issue(name: &str) -> Issued {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    Issued { cert: cert.pem(), key: key.serialize_pem() }
}

/// A client that trusts only `roots` and sends its requests for `hosts` to `addr`.
fn client(roots: &[&Issued], hosts: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().use_rustls_tls().tls_built_in_root_certs(false);
    for root in roots {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(root.cert.as_bytes()).expect("pem"));
    }
    for host in hosts {
        builder = builder.resolve(host, addr);
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn certificates_are_served_by_sni_and_swapped_live() {
    let echo = EchoServer::start().await.expect("echo");
    let node = Node::start(binary(), NodeOptions { tls: true, ..Default::default() }).await.expect("node");
    let (tls_port, admin_tls_port, admin_port) = (node.tls_proxy_port, node.tls_admin_port, node.admin_port);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let plain = reqwest::Client::new();
    let (a, wild) = (issue("a.test"), issue("*.wild.test"));
    let created: Value = plain
        .post(format!("{admin}/certificates"))
        .json(&json!({"cert": a.cert, "key": a.key, "snis": ["a.test"]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let a_id = created["id"].as_str().unwrap_or_default().to_string();
    let reply = plain
        .post(format!("{admin}/certificates"))
        .json(&json!({"cert": wild.cert, "key": wild.key, "snis": ["*.wild.test"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(reply.status(), 201);
    plain
        .post(format!("{admin}/services"))
        .json(&json!({"name": "echo", "url": echo.url()}))
        .send()
        .await
        .expect("service");
    let route = plain
        .post(format!("{admin}/services/echo/routes"))
        .json(&json!({"paths": ["/"], "protocols": ["https"]}))
        .send()
        .await
        .expect("route");
    assert_eq!(route.status(), 201);

    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().expect("addr");
    let exact = client(&[&a], &["a.test"], addr);
    let reply =
        exact.get(format!("https://a.test:{tls_port}/hello")).send().await.expect("the a.test certificate verifies");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.version(), reqwest::Version::HTTP_2, "ALPN negotiates h2 on an http2 listener");
    let echoed: Value = reply.json().await.expect("json");
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
    let wildcard = client(&[&wild], &["x.wild.test"], addr);
    let reply = wildcard.get(format!("https://x.wild.test:{tls_port}/")).send().await.expect("wildcard certificate");
    assert_eq!(reply.status(), 200);
    let unknown = client(&[&a, &wild], &["other.test"], addr);
    assert!(
        unknown.get(format!("https://other.test:{tls_port}/")).send().await.is_err(),
        "unknown names get the default certificate"
    );

    let deleted = plain.delete(format!("{admin}/certificates/{a_id}")).send().await.expect("delete");
    assert_eq!(deleted.status(), 204);
    let fresh = client(&[&a], &["a.test"], addr);
    assert!(
        fresh.get(format!("https://a.test:{tls_port}/")).send().await.is_err(),
        "after the delete returned, a.test gets the default certificate without a restart"
    );

    let insecure = reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("client");
    let root = insecure.get(format!("https://127.0.0.1:{admin_tls_port}/")).send().await.expect("admin over TLS");
    assert_eq!(root.status(), 200);
}

#[tokio::test]
async fn a_certificate_created_on_one_node_is_served_by_the_others() {
    let cluster = gatehouse_testkit::PgCluster::shared().expect("postgres");
    let db = cluster.create_database("tls_cluster").expect("db");
    let options = || NodeOptions {
        env: cluster.node_env(&db),
        args: vec!["--run-migrations".into()],
        tls: true,
        ..Default::default()
    };
    let a = Node::start(binary(), options()).await.expect("a");
    let b = Node::start(binary(), options()).await.expect("b");
    let echo = EchoServer::start().await.expect("echo");
    let cert = issue("shared.test");
    a.create("/certificates", json!({"cert": cert.cert, "key": cert.key, "snis": ["shared.test"]})).await;
    a.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    a.create("/services/echo/routes", json!({"paths": ["/"]})).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", b.tls_proxy_port).parse().expect("addr");
    let on_b = client(&[&cert], &["shared.test"], addr);
    let url = format!("https://shared.test:{}/", b.tls_proxy_port);
    gatehouse_testkit::wait_for(
        "node b to serve the certificate made on a",
        std::time::Duration::from_secs(2),
        || async { on_b.get(url.clone()).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) },
    )
    .await
    .expect("certificates propagate across nodes");
}
