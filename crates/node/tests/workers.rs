//! Proxy workers of a real node process: Kong's `nginx_main_worker_cpu_affinity` pins them to CPUs as
//! nginx's `worker_cpu_affinity` does, and without it they are left to the scheduler.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::json;
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// The CPUs of a `Cpus_allowed_list` line: `0-3,6`.
fn cpu_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (usize, usize) = (first.parse().expect("cpu"), last.parse().expect("cpu"));
        cpus.extend(first..=last);
    }
    cpus
}

fn allowed_cpus(status: &str) -> Vec<usize> {
    let line = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list");
    cpu_list(line)
}

/// Each proxy worker thread of `pid` (`proxy-worker-N`, by N) with the CPUs it may run on.
fn worker_cpus(pid: u32) -> Vec<(usize, Vec<usize>)> {
    let mut workers = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if let Some(n) = comm.trim().strip_prefix("proxy-worker-") {
            let status = std::fs::read_to_string(task.path().join("status")).expect("status");
            workers.push((n.parse().expect("worker number"), allowed_cpus(&status)));
        }
    }
    workers.sort();
    workers
}

async fn node_with(env: &[(&str, &str)]) -> (Node, EchoServer) {
    let echo = EchoServer::start().await.expect("echo");
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/routes", json!({"paths": ["/echo"], "service": {"name": "echo"}})).await;
    (node, echo)
}

async fn proxied_status(node: &Node) -> u16 {
    let reply = reqwest::get(format!("{}/echo", node.proxy_url())).await.expect("proxy request");
    reply.status().as_u16()
}

#[tokio::test]
async fn kongs_worker_cpu_affinity_auto_pins_worker_n_to_the_nth_cpu() {
    let usable = allowed_cpus(&std::fs::read_to_string("/proc/self/status").expect("own status"));
    let env = [("KONG_NGINX_WORKER_PROCESSES", "3"), ("KONG_NGINX_MAIN_WORKER_CPU_AFFINITY", "auto")];
    let (node, _echo) = node_with(&env).await;
    let workers = worker_cpus(node.pid().expect("pid"));
    // Three workers on however many CPUs this machine has: nginx's `auto` wraps around.
    let expected: Vec<(usize, Vec<usize>)> = (0..3).map(|n| (n, vec![usable[n % usable.len()]])).collect();
    assert_eq!(workers, expected, "usable CPUs {usable:?}");
    assert_eq!(proxied_status(&node).await, 200, "pinned workers serve requests");
}

#[tokio::test]
async fn masks_pin_workers_and_by_default_the_scheduler_places_them() {
    let usable = allowed_cpus(&std::fs::read_to_string("/proc/self/status").expect("own status"));
    let (node, _echo) = node_with(&[("KONG_NGINX_WORKER_PROCESSES", "2")]).await;
    let workers = worker_cpus(node.pid().expect("pid"));
    assert_eq!(workers, vec![(0, usable.clone()), (1, usable.clone())], "no affinity unless configured, as in Kong");
    assert_eq!(proxied_status(&node).await, 200);
    drop(node);
    // One mask naming the first usable CPU: the last mask serves every worker past the list.
    let first = usable[0];
    let mask: String = (0..=first).rev().map(|cpu| if cpu == first { '1' } else { '0' }).collect();
    let env = [("KONG_NGINX_WORKER_PROCESSES", "2"), ("KONG_NGINX_MAIN_WORKER_CPU_AFFINITY", mask.as_str())];
    let (node, _echo) = node_with(&env).await;
    let workers = worker_cpus(node.pid().expect("pid"));
    assert_eq!(workers, vec![(0, vec![first]), (1, vec![first])], "mask {mask}");
    assert_eq!(proxied_status(&node).await, 200);
}
