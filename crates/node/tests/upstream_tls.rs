//! Upstream TLS end to end, as Kong does it: the server name sent and verified is the upstream `Host`
//! (`proxy_ssl_name $upstream_host`), also when a balancer connects to a target's IP, and `tls_verify_depth`
//! bounds the intermediates in the verified chain (nginx's default depth 1 when unset).

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

#[tokio::test]
async fn balancer_targets_get_the_upstream_host_as_server_name() {
    let secure = EchoServer::start_tls().await.expect("TLS upstream");
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    let ca = node.create("/ca_certificates", json!({"cert": secure.ca_pem.clone().unwrap_or_default()})).await;
    node.create("/upstreams", json!({"name": "secure-pool", "host_header": "localhost"})).await;
    let target = format!("127.0.0.1:{}", secure.addr.port());
    node.create("/upstreams/secure-pool/targets", json!({"target": target})).await;
    node.create(
        "/services",
        json!({"name": "pool", "url": "https://secure-pool/", "tls_verify": true, "ca_certificates": [ca["id"]]}),
    )
    .await;
    node.create("/services/pool/routes", json!({"paths": ["/pool"]})).await;

    let (status, echoed) = node.proxy_get("/pool").await;
    assert_eq!(status, 200, "the certificate is verified against the host_header, not the target IP: {echoed}");
    assert_eq!(echoed["sni"], "localhost");
    assert_eq!(echoed["headers"]["host"], "localhost");

    // Without host_header the target's IP is the upstream host: no SNI, and the certificate (issued for
    // `localhost`) does not match it.
    let (status, _) = node.admin(Method::PATCH, "/upstreams/secure-pool", json!({"host_header": null})).await;
    assert_eq!(status, 200);
    let (status, _) = node.proxy_get("/pool").await;
    assert_eq!(status, 502);
    let (status, _) = node.admin(Method::PATCH, "/services/pool", json!({"tls_verify": false})).await;
    assert_eq!(status, 200);
    let (status, echoed) = node.proxy_get("/pool").await;
    assert_eq!(status, 200);
    assert_eq!(echoed["sni"], Value::Null, "an IP is never sent as a server name");
}

#[tokio::test]
async fn preserve_host_sends_the_client_host_as_server_name() {
    let secure = EchoServer::start_tls().await.expect("TLS upstream");
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    let url = format!("https://127.0.0.1:{}/", secure.addr.port());
    node.create("/services", json!({"name": "kept", "url": url})).await;
    node.create("/services/kept/routes", json!({"paths": ["/kept"], "preserve_host": true})).await;
    let reply = reqwest::Client::new()
        .get(format!("{}/kept", node.proxy_url()))
        .header("host", "client.example:8443")
        .send()
        .await
        .expect("proxy");
    assert_eq!(reply.status(), 200);
    let echoed: Value = reply.json().await.expect("json");
    assert_eq!(echoed["sni"], "client.example", "the port is not part of the server name");
    assert_eq!(echoed["headers"]["host"], "client.example:8443");
}

#[tokio::test]
async fn tls_verify_depth_bounds_the_chain() {
    let secure = EchoServer::start_tls_chain(2).await.expect("TLS upstream with two intermediates");
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
    let ca = node.create("/ca_certificates", json!({"cert": secure.ca_pem.clone().unwrap_or_default()})).await;
    let url = format!("https://localhost:{}/", secure.addr.port());
    node.create("/services", json!({"name": "deep", "url": url, "tls_verify": true, "ca_certificates": [ca["id"]]}))
        .await;
    node.create("/services/deep/routes", json!({"paths": ["/deep"]})).await;

    let (status, _) = node.proxy_get("/deep").await;
    assert_eq!(status, 502, "nginx's default depth 1 refuses two intermediates");
    let (status, _) = node.admin(Method::PATCH, "/services/deep", json!({"tls_verify_depth": 2})).await;
    assert_eq!(status, 200);
    let (status, echoed) = node.proxy_get("/deep").await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed["sni"], "localhost");
}

#[tokio::test]
async fn https_health_checks_verify_against_lua_ssl_trusted_certificate() {
    let secure = EchoServer::start_tls().await.expect("TLS upstream");
    let options = NodeOptions {
        env: vec![("KONG_LUA_SSL_TRUSTED_CERTIFICATE".into(), secure.ca_pem.clone().unwrap_or_default())],
        ..NodeOptions::default()
    };
    let node = Node::start(binary(), options).await.expect("node");
    let target = format!("127.0.0.1:{}", secure.addr.port());
    let checked = |sni: &str, verify: bool| {
        json!({"active": {"type": "https", "https_sni": sni, "https_verify_certificate": verify,
            "healthy": {"interval": 0.1, "successes": 1},
            "unhealthy": {"interval": 0.1, "tcp_failures": 1, "http_failures": 1}}})
    };
    let cases = [
        ("trusted", "localhost", true, "HEALTHY"),
        ("mismatch", "other.test", true, "UNHEALTHY"),
        ("unverified", "other.test", false, "HEALTHY"),
    ];
    for (name, sni, verify, _) in cases {
        node.create("/upstreams", json!({"name": name, "healthchecks": checked(sni, verify)})).await;
        node.create(&format!("/upstreams/{name}/targets"), json!({"target": target})).await;
    }
    for (name, _, _, expected) in cases {
        let path = format!("/upstreams/{name}/health");
        gatehouse_testkit::wait_for(name, std::time::Duration::from_secs(10), || async {
            let (_, health) = node.admin(Method::GET, &path, Value::Null).await;
            (health["data"][0]["health"] == expected).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{name} should be {expected}: {e}"));
    }
}

#[tokio::test]
async fn the_client_certificate_comes_from_the_service_or_else_its_upstream() {
    let mtls = EchoServer::start_mtls().await.expect("mTLS upstream");
    // One worker: every request meets the TLS profile it remembers, so a stale one would show.
    let options = NodeOptions { env: vec![("KONG_NGINX_WORKER_PROCESSES".into(), "1".into())], ..Default::default() };
    let node = Node::start(binary(), options).await.expect("node");
    let (cert, key) = mtls.client_pem.clone().unwrap_or_default();
    let certificate = node.create("/certificates", json!({"cert": cert, "key": key})).await;
    let url = format!("https://127.0.0.1:{}/", mtls.addr.port());
    node.create("/services", json!({"name": "direct", "url": url})).await;
    node.create("/services/direct/routes", json!({"paths": ["/direct"]})).await;
    node.create("/upstreams", json!({"name": "mtls-pool"})).await;
    node.create("/upstreams/mtls-pool/targets", json!({"target": format!("127.0.0.1:{}", mtls.addr.port())})).await;
    node.create("/services", json!({"name": "pooled", "url": "https://mtls-pool/"})).await;
    node.create("/services/pooled/routes", json!({"paths": ["/pooled"]})).await;

    assert_eq!(node.proxy_get("/direct").await.0, 502, "the upstream refuses a client without a certificate");
    assert_eq!(node.proxy_get("/pooled").await.0, 502);
    let with_cert = json!({"client_certificate": {"id": certificate["id"]}});
    let (status, _) = node.admin(Method::PATCH, "/services/direct", with_cert.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(node.proxy_get("/direct").await.0, 200, "the service's client_certificate is presented");
    let (status, _) = node.admin(Method::PATCH, "/upstreams/mtls-pool", with_cert).await;
    assert_eq!(status, 200);
    assert_eq!(node.proxy_get("/pooled").await.0, 200, "the upstream's client_certificate stands in for the service's");

    // Rotated in place (same id) to a certificate the upstream does not trust, and back: the next requests
    // present whichever is current.
    let (other_cert, other_key) = gatehouse_testkit::self_signed_pem(&["client.test"]).expect("certificate");
    let path = format!("/certificates/{}", certificate["id"].as_str().unwrap_or_default());
    for (cert, key, expected) in [(other_cert, other_key, 502), (cert, key, 200)] {
        let (status, _) = node.admin(Method::PATCH, &path, json!({"cert": cert, "key": key})).await;
        assert_eq!(status, 200);
        gatehouse_testkit::wait_for("the rotated certificate", std::time::Duration::from_secs(5), || async {
            (node.proxy_get("/direct").await.0 == expected).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("after the rotation /direct should answer {expected}: {e}"));
    }
}
