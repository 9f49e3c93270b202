//! Upstreams and targets end to end: a service whose host names an upstream is balanced over its targets,
//! dead targets are retried around, health checks take targets out and put them back, and the Admin API's
//! health endpoints report and override target health.

use gatehouse_testkit::{free_port, wait_for, EchoServer, Node, NodeOptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

struct Setup {
    node: Node,
    client: reqwest::Client,
}

impl Setup {
    async fn start() -> Setup {
        let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
        Setup { node, client: reqwest::Client::new() }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let reply = self
            .client
            .request(method, format!("{}{path}", self.node.admin_url()))
            .json(&body)
            .send()
            .await
            .expect("admin");
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.admin(reqwest::Method::POST, path, body).await;
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    /// Sends `n` requests and counts them by the upstream `Host` each target saw (`127.0.0.1:PORT`).
    async fn spread(&self, n: usize) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for _ in 0..n {
            let reply = self.client.get(format!("{}/lb", self.node.proxy_url())).send().await.expect("proxy");
            assert_eq!(reply.status(), 200);
            let echoed: Value = reply.json().await.expect("json");
            *seen.entry(echoed["headers"]["host"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        seen
    }
}

#[tokio::test]
async fn requests_are_balanced_and_health_can_be_overridden() {
    let (a, b) = (EchoServer::start().await.expect("a"), EchoServer::start().await.expect("b"));
    let s = Setup::start().await;
    s.post("/upstreams", json!({"name": "backend.test"})).await;
    let dead = free_port();
    for target in [a.addr.to_string(), b.addr.to_string(), format!("127.0.0.1:{dead}")] {
        s.post("/upstreams/backend.test/targets", json!({"target": target})).await;
    }
    s.post("/services", json!({"name": "lb", "host": "backend.test", "retries": 3})).await;
    s.post("/services/lb/routes", json!({"paths": ["/lb"]})).await;

    let seen = s.spread(30).await;
    assert_eq!(seen.len(), 2, "both live targets serve, the dead one is retried around: {seen:?}");
    assert!(seen.values().all(|n| *n >= 5), "{seen:?}");

    let (status, _) = s
        .admin(reqwest::Method::PUT, &format!("/upstreams/backend.test/targets/{}/unhealthy", a.addr), Value::Null)
        .await;
    assert_eq!(status, 204);
    let only_b = s.spread(10).await;
    assert_eq!(only_b.keys().collect::<Vec<_>>(), vec![&b.addr.to_string()], "{only_b:?}");
    let (status, health) = s.admin(reqwest::Method::GET, "/upstreams/backend.test/health", Value::Null).await;
    assert_eq!(status, 200);
    let a_report = health["data"]
        .as_array()
        .and_then(|d| d.iter().find(|t| t["target"] == a.addr.to_string()))
        .cloned()
        .unwrap_or(Value::Null);
    // Without health checks configured Kong reports HEALTHCHECKS_OFF, and the override shows in the weights.
    assert_eq!(a_report["health"], "HEALTHCHECKS_OFF", "{health}");
    assert_eq!(a_report["data"]["weight"]["available"], 0, "{health}");
    assert!(health["node_id"].is_string());

    s.admin(reqwest::Method::PUT, &format!("/upstreams/backend.test/targets/{}/unhealthy", b.addr), Value::Null).await;
    s.admin(reqwest::Method::PUT, &format!("/upstreams/backend.test/targets/127.0.0.1:{dead}/unhealthy"), Value::Null)
        .await;
    let none = s.client.get(format!("{}/lb", s.node.proxy_url())).send().await.expect("proxy");
    assert_eq!(none.status(), 503);
    let body: Value = none.json().await.expect("json");
    assert_eq!(body["message"], "failure to get a peer from the ring-balancer");

    s.admin(reqwest::Method::PUT, &format!("/upstreams/backend.test/targets/{}/healthy", a.addr), Value::Null).await;
    assert_eq!(s.spread(3).await.keys().collect::<Vec<_>>(), vec![&a.addr.to_string()]);
}

#[tokio::test]
async fn active_checks_take_a_dead_target_out_and_bring_it_back() {
    let a = EchoServer::start().await.expect("a");
    let s = Setup::start().await;
    let flaky_port = free_port();
    let checks = json!({"active": {
        "type": "tcp",
        "healthy": {"interval": 0.1, "successes": 1},
        "unhealthy": {"interval": 0.1, "tcp_failures": 1, "timeouts": 1}
    }});
    s.post("/upstreams", json!({"name": "checked.test", "healthchecks": checks})).await;
    s.post("/upstreams/checked.test/targets", json!({"target": a.addr.to_string()})).await;
    s.post("/upstreams/checked.test/targets", json!({"target": format!("127.0.0.1:{flaky_port}")})).await;
    let target_health = |health: &Value, target: &str| {
        health["data"]
            .as_array()
            .and_then(|d| d.iter().find(|t| t["target"] == target))
            .and_then(|t| t["health"].as_str())
            .map(String::from)
    };
    let flaky = format!("127.0.0.1:{flaky_port}");
    wait_for("the closed target to be marked unhealthy", Duration::from_secs(10), || async {
        let (_, health) = s.admin(reqwest::Method::GET, "/upstreams/checked.test/health", Value::Null).await;
        (target_health(&health, &flaky).as_deref() == Some("UNHEALTHY")).then_some(())
    })
    .await
    .expect("active checks mark the closed port unhealthy");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", flaky_port)).await.expect("reopen the port");
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    wait_for("the reopened target to be healthy again", Duration::from_secs(10), || async {
        let (_, health) = s.admin(reqwest::Method::GET, "/upstreams/checked.test/health", Value::Null).await;
        (target_health(&health, &flaky).as_deref() == Some("HEALTHY")).then_some(())
    })
    .await
    .expect("active checks bring the target back");
    accept.abort();
}

/// Kong's algorithms retry differently: round-robin comes back round to addresses that failed, so a
/// request to dead targets ends with the last failure (502) once its retries are spent; latency retries
/// each address once and then has no peer left, which Kong's balancer phase answers with 503.
#[tokio::test]
async fn retries_end_as_each_algorithm_ends_them_in_kong() {
    let s = Setup::start().await;
    let dead = [free_port(), free_port()];
    for (name, algorithm) in [("rr.test", "round-robin"), ("latency.test", "latency"), ("lc.test", "least-connections")]
    {
        s.post("/upstreams", json!({"name": name, "algorithm": algorithm})).await;
        for port in dead {
            s.post(&format!("/upstreams/{name}/targets"), json!({"target": format!("127.0.0.1:{port}")})).await;
        }
        let service = s.post("/services", json!({"host": name, "retries": 4})).await;
        let path = format!("/{}", algorithm);
        s.post(&format!("/services/{}/routes", service["id"].as_str().unwrap_or_default()), json!({"paths": [path]}))
            .await;
    }
    let expected = [
        ("/round-robin", 502, "An invalid response was received from the upstream server"),
        ("/least-connections", 502, "An invalid response was received from the upstream server"),
        ("/latency", 503, "The upstream server is currently unavailable"),
    ];
    for (path, status, message) in expected {
        let reply = s.client.get(format!("{}{path}", s.node.proxy_url())).send().await.expect("proxy");
        assert_eq!(reply.status().as_u16(), status, "{path}");
        let body: Value = reply.json().await.expect("json");
        assert_eq!(body["message"], message, "{path}");
    }
}
