//! Leader election with real controller processes against kube-testserver, with both lock kinds. Each
//! replica pushes to a gateway node of its own, so the nodes show which replica wrote: only the leader's
//! node ever gets the configuration.

#[allow(dead_code)]
mod e2e;

use e2e::{eventually, gateway, proxy_status, Controller, Kube};
use gatehouse_testkit::{EchoServer, Node};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Short timings so the suite runs in seconds: lease 3 s, renew deadline 2 s, retry 0.5 s.
const TIMINGS: [&str; 3] =
    ["--election-lease-duration=3s", "--election-renew-deadline=2s", "--election-retry-period=500ms"];
const LEASE: Duration = Duration::from_secs(3);

fn manifests(echo_port: u16, path: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec: {{ports: [{{name: http, port: 80, protocol: TCP}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: echo-1, namespace: default, labels: {{kubernetes.io/service-name: echo}}}}
addressType: IPv4
ports: [{{name: http, port: {echo_port}, protocol: TCP}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: echo, namespace: default, annotations: {{kubernetes.io/ingress.class: kong}}}}
spec:
  rules:
  - host: echo.test
    http:
      paths:
      - {{path: {path}, pathType: Prefix, backend: {{service: {{name: echo, port: {{number: 80}}}}}}}}
"#
    )
}

struct Replica {
    controller: Controller,
    node: Node,
}

/// The holder recorded in the lock object.
fn holder(kube: &Kube, lock: &str) -> Option<String> {
    let name = "ingress-controller-leader-kong";
    match lock {
        "configmap" => {
            let map = kube.server.get("v1", "ConfigMap", "default", name)?;
            let record = map["metadata"]["annotations"]["control-plane.alpha.kubernetes.io/leader"].as_str()?;
            let record: Value = serde_json::from_str(record).ok()?;
            record["holderIdentity"].as_str().filter(|h| !h.is_empty()).map(str::to_string)
        }
        _ => {
            let lease = kube.server.get("coordination.k8s.io/v1", "Lease", "default", name)?;
            lease["spec"]["holderIdentity"].as_str().filter(|h| !h.is_empty()).map(str::to_string)
        }
    }
}

async fn configured(node: &Node, path: &str) -> bool {
    proxy_status(node, "echo.test", path, None).await == Some(200)
}

/// Which replicas report themselves leader right now.
async fn leaders(replicas: &[Replica]) -> Vec<String> {
    let mut out = Vec::new();
    for r in replicas {
        if r.controller.is_leader().await {
            out.push(r.controller.identity.clone());
        }
    }
    out
}

async fn start(kube: &Kube, lock: &str, count: usize) -> Vec<Replica> {
    let mut replicas = Vec::new();
    for i in 0..count {
        let node = gateway(Vec::new(), None).await;
        let mut args: Vec<&str> = TIMINGS.to_vec();
        let lock_flag = format!("--election-lock={lock}");
        args.push(&lock_flag);
        let controller = Controller::spawn(kube, &[node.admin_url()], &format!("replica-{i}"), &args);
        replicas.push(Replica { controller, node });
    }
    replicas
}

/// Waits for one leader and checks that it is the lock's holder and the only replica that wrote.
async fn single_leader(kube: &Kube, lock: &str, replicas: &[Replica], path: &str) -> usize {
    let all: Vec<&Controller> = replicas.iter().map(|r| &r.controller).collect();
    eventually("one leader, whose gateway is configured", Duration::from_secs(20), &all, || async {
        let current = leaders(replicas).await;
        if current.len() != 1 || holder(kube, lock).as_deref() != Some(current[0].as_str()) {
            return false;
        }
        let index = replicas.iter().position(|r| r.controller.identity == current[0]).unwrap_or(0);
        configured(&replicas[index].node, path).await
    })
    .await;
    let leader = leaders(replicas).await[0].clone();
    let index = replicas.iter().position(|r| r.controller.identity == leader).unwrap_or(0);
    for (i, r) in replicas.iter().enumerate() {
        if i != index {
            let (_, routes) = r.node.admin(reqwest::Method::GET, "/routes", Value::Null).await;
            assert_eq!(
                routes["data"],
                serde_json::json!([]),
                "follower {} wrote to its gateway",
                r.controller.identity
            );
        }
    }
    index
}

async fn election_suite(lock: &str) {
    let echo = EchoServer::start().await.expect("echo");
    let kube = Kube::start().await;
    kube.apply(&manifests(echo.addr.port(), "/one"));
    let mut replicas = start(&kube, lock, 3).await;

    let first = single_leader(&kube, lock, &replicas, "/one").await;
    let lock_kind = if lock == "configmap" { "ConfigMap" } else { "Lease" };
    let client = kube.client().await;
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::namespaced(client, "default");
    let all: Vec<&Controller> = replicas.iter().map(|r| &r.controller).collect();
    eventually("a LeaderElection Event on the lock", Duration::from_secs(10), &all, || async {
        let Ok(list) = events.list(&Default::default()).await else { return false };
        list.items.iter().any(|e| {
            e.reason.as_deref() == Some("LeaderElection")
                && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some(lock_kind)
                && e.note.as_deref().is_some_and(|n| n.contains("became leader"))
        })
    })
    .await;
    // Sampled over a while: never two leaders at once.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let current = leaders(&replicas).await;
        assert!(current.len() <= 1, "two leaders at once: {current:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGTERM: the leader releases the lock and another replica takes over well within a lease.
    replicas[first].controller.signal("-TERM");
    let stopped = Instant::now();
    assert!(replicas[first].controller.wait_exit(Duration::from_secs(10)).await, "the leader exits on SIGTERM");
    let released = replicas.remove(first);
    kube.apply(&manifests(echo.addr.port(), "/two"));
    let second = single_leader(&kube, lock, &replicas, "/two").await;
    let takeover = stopped.elapsed();
    assert!(takeover < Duration::from_secs(3), "takeover after SIGTERM took {takeover:?}");
    drop(released);

    // kill -9: no release, so the others wait for the lease to run out.
    let killed_at = Instant::now();
    replicas[second].controller.signal("-KILL");
    assert!(replicas[second].controller.wait_exit(Duration::from_secs(5)).await);
    replicas.remove(second);
    kube.apply(&manifests(echo.addr.port(), "/three"));
    let third = single_leader(&kube, lock, &replicas, "/three").await;
    let takeover = killed_at.elapsed();
    assert!(takeover >= LEASE - Duration::from_millis(500), "took over before the lease ran out: {takeover:?}");
    assert!(takeover < LEASE + Duration::from_secs(4), "took over long after the lease ran out: {takeover:?}");

    // The API server goes away: the leader stops leading within its renew deadline, before the lease ends.
    let leader = &replicas[third].controller;
    kube.server.set_availability(kube_testserver::Availability::Refuse);
    let outage = Instant::now();
    let all: Vec<&Controller> = replicas.iter().map(|r| &r.controller).collect();
    eventually("the leader steps down", Duration::from_secs(10), &all, || async { !leader.is_leader().await }).await;
    let stepped_down = outage.elapsed();
    assert!(stepped_down < LEASE, "still leading after the lease could have expired: {stepped_down:?}");
    kube.server.set_availability(kube_testserver::Availability::Available);
    eventually("a leader again once the API server is back", Duration::from_secs(20), &all, || async {
        leaders(&replicas).await.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lock_elects_exactly_one_leader() {
    election_suite("lease").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_lock_elects_exactly_one_leader() {
    election_suite("configmap").await;
}
