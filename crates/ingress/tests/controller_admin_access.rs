//! How the running controller reaches a gateway's Admin API: with `--kong-admin-token` on every request
//! (checked by a token-enforcing proxy in front of the node, as Kong Enterprise's RBAC would), and over
//! https with a self-signed certificate, which needs `--kong-admin-tls-skip-verify`.

#[allow(dead_code)]
mod e2e;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use e2e::{echo_ingress, eventually, gateway, kube_with_echo, proxy_status, start_gateway, Controller, Kube};
use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(20);
const TOKEN: &str = "s3cr3t-admin-token";
const FAILED_SYNCS: &str = r#"gatehouse_ingress_syncs_total{result="failed"}"#;

/// Forwards Admin API requests carrying `Kong-Admin-Token: TOKEN` to a node; answers others 401.
struct TokenGate {
    upstream: String,
    http: reqwest::Client,
    forwarded: Mutex<usize>,
    refused: Mutex<Vec<String>>,
}

impl TokenGate {
    async fn start(upstream: String) -> (Arc<TokenGate>, String) {
        let gate = Arc::new(TokenGate {
            upstream,
            http: reqwest::Client::new(),
            forwarded: Mutex::new(0),
            refused: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new().fallback(forward).with_state(gate.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (gate, url)
    }

    fn forwarded(&self) -> usize {
        *self.forwarded.lock().unwrap()
    }

    fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

async fn forward(State(gate): State<Arc<TokenGate>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let line = format!("{} {}", parts.method, parts.uri);
    if parts.headers.get("kong-admin-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        gate.refused.lock().unwrap().push(line);
        let message = r#"{"message":"Invalid credentials. Token or User credentials required"}"#;
        return (axum::http::StatusCode::UNAUTHORIZED, message).into_response();
    }
    *gate.forwarded.lock().unwrap() += 1;
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream = gate.http.request(parts.method, format!("{}{path}", gate.upstream)).body(body);
    if let Some(kind) = parts.headers.get("content-type") {
        upstream = upstream.header("content-type", kind);
    }
    let Ok(reply) = upstream.send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::builder().status(reply.status());
    for (name, value) in reply.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap_or_default()
}

async fn cluster(node: &Node) -> (EchoServer, Kube) {
    let (echo, kube) = kube_with_echo().await;
    kube.apply(&echo_ingress("default", "web", "web.test", "/", "", ""));
    assert_eq!(proxy_status(node, "web.test", "/", None).await, Some(404));
    (echo, kube)
}

/// Waits until `controller` has failed a sync, with `evidence` in its log.
async fn fails_to_sync(controller: &Controller, evidence: &dyn Fn(&str) -> bool) {
    eventually("the controller fails to sync", CONVERGE, &[controller], || async {
        controller.metric(FAILED_SYNCS).await.is_some_and(|n| n >= 1.0) && evidence(&controller.log_text())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_request_carries_the_admin_token() {
    let node = gateway(Vec::new(), None).await;
    let (_echo, kube) = cluster(&node).await;
    let (gate, url) = TokenGate::start(node.admin_url()).await;
    let admin = [url];

    // Without the token the gate refuses the controller, which keeps retrying.
    let mut controller = Controller::spawn(&kube, &admin, "controller-0", &[]);
    fails_to_sync(&controller, &|_| !gate.refused().is_empty()).await;
    assert_eq!(gate.forwarded(), 0);
    assert_eq!(proxy_status(&node, "web.test", "/", None).await, Some(404));
    controller.signal("-TERM");
    assert!(controller.wait_exit(Duration::from_secs(15)).await, "the controller exits on SIGTERM");

    let refused_before = gate.refused().len();
    let token = format!("--kong-admin-token={TOKEN}");
    let controller = Controller::spawn(&kube, &admin, "controller-1", &[&token]);
    eventually("the Ingress is routed through the gate", CONVERGE, &[&controller], || async {
        proxy_status(&node, "web.test", "/", None).await == Some(200)
    })
    .await;
    // Status and conditions come after the propagation wait: by then every kind of request was made.
    eventually("the controller finished a sync", CONVERGE, &[&controller], || async {
        controller.metric(r#"gatehouse_ingress_syncs_total{result="ok"}"#).await.is_some_and(|n| n >= 1.0)
    })
    .await;
    let refused = gate.refused();
    assert_eq!(refused.len(), refused_before, "requests without the token: {:?}", &refused[refused_before..]);
    assert!(gate.forwarded() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_admin_api_needs_tls_skip_verify() {
    let node = start_gateway(NodeOptions { tls: true, ..Default::default() }).await;
    let (_echo, kube) = cluster(&node).await;
    let admin = [format!("https://127.0.0.1:{}", node.tls_admin_port)];

    let mut controller = Controller::spawn(&kube, &admin, "controller-0", &[]);
    fails_to_sync(&controller, &|log| log.contains("certificate")).await;
    assert_eq!(proxy_status(&node, "web.test", "/", None).await, Some(404));
    controller.signal("-TERM");
    assert!(controller.wait_exit(Duration::from_secs(15)).await, "the controller exits on SIGTERM");

    let controller = Controller::spawn(&kube, &admin, "controller-1", &["--kong-admin-tls-skip-verify"]);
    eventually("the Ingress is routed over the https Admin API", CONVERGE, &[&controller], || async {
        proxy_status(&node, "web.test", "/", None).await == Some(200)
    })
    .await;
}
