//! The `gatehouse` binary as users run it: version, check, migrations and start/stop on the embedded
//! SQLite default.

use gatehouse_testkit::{Node, NodeOptions, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(binary()).args(args).envs(env.iter().copied()).output().expect("run gatehouse");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gatehouse "), "{out}");
    for sub in
        [vec!["--help"], vec!["start", "--help"], vec!["migrations", "status", "--help"], vec!["check", "--help"]]
    {
        let (code, out, _) = run(&sub, &[]);
        assert_eq!(code, 0, "{sub:?}");
        assert!(out.contains("Usage:"), "{sub:?}: {out}");
    }
}

#[test]
fn check_reports_problems_with_line_numbers() {
    let dir = TempDir::new("check").expect("dir");
    let good = dir.path.join("good.conf");
    std::fs::write(
        &good,
        "# a comment\ndatabase = postgres\npg_host = db.internal # inline\nadmin_listen = 0.0.0.0:9001\n",
    )
    .expect("write");
    let (code, out, _) = run(&["check", good.to_str().unwrap_or_default()], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("configuration at {} is valid", good.display()));
    let bad = dir.path.join("bad.conf");
    std::fs::write(&bad, "pg_port = abc\nno_such_key = 1\nadmin_listen = nowhere\n").expect("write");
    let (code, _, err) = run(&["check", bad.to_str().unwrap_or_default()], &[]);
    assert_ne!(code, 0);
    let b = bad.display();
    assert!(err.contains(&format!("{b}:1: pg_port")), "{err}");
    assert!(err.contains(&format!("{b}:2: unknown property 'no_such_key'")), "{err}");
    assert!(err.contains(&format!("{b}:3: admin_listen must be of form")), "{err}");
}

#[test]
fn migrations_on_sqlite() {
    let dir = TempDir::new("migrations").expect("dir");
    let prefix = dir.path.to_string_lossy().to_string();
    let env = [("GATEHOUSE_PREFIX", prefix.as_str())];
    let (code, out, _) = run(&["migrations", "status"], &env);
    assert_eq!(code, 3, "an empty database needs bootstrapping: {out}");
    assert!(out.contains("\"needs_bootstrap\":true"), "{out}");
    let (code, out, _) = run(&["migrations", "bootstrap"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("000_base executed"), "{out}");
    let (code, out, _) = run(&["migrations", "status"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("\"executed_migrations\""), "{out}");
    assert!(out.contains("database is up to date"), "{out}");
    let (code, out, _) = run(&["migrations", "up"], &env);
    assert_eq!((code, out.trim()), (0, "database is already up to date"));
    let (code, _, err) = run(&["migrations", "reset"], &env);
    assert_ne!(code, 0, "reset asks for -y");
    assert!(err.contains("-y"), "{err}");
    let (code, _, _) = run(&["migrations", "reset", "-y"], &env);
    assert_eq!(code, 0);
    let (code, _, _) = run(&["migrations", "status"], &env);
    assert_eq!(code, 3);
}

#[tokio::test]
async fn start_serves_the_admin_api_and_stops_on_sigterm() {
    let mut node = Node::start(binary(), NodeOptions::default()).await.expect("node starts");
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/services", node.admin_url()))
        .form(&[("name", "x"), ("url", "http://example.com")])
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.expect("json");
    assert_eq!(body["host"], "example.com");
    let ready = client.get(format!("http://127.0.0.1:{}/status/ready", node.status_port)).send().await.expect("ready");
    assert_eq!(ready.status(), 200);
    let root: serde_json::Value = client.get(node.admin_url()).send().await.expect("root").json().await.expect("json");
    assert_eq!(root["configuration"]["database"], "sqlite");
    let log = node.log();
    assert!(log.contains(&format!("admin listener started on http://127.0.0.1:{}", node.admin_port)), "{log}");
    assert!(log.contains(&format!("status listener started on http://127.0.0.1:{}", node.status_port)), "{log}");
    let env_prefix = node.prefix.path.join("gatehouse.db");
    assert!(env_prefix.exists(), "the SQLite file lives under the prefix");
    node.terminate().expect("SIGTERM");
    let code = node.wait_exit(Duration::from_secs(10)).await.expect("exits");
    assert_eq!(code, Some(0));
    assert!(node.log().contains("stopped"), "{}", node.log());
}

#[tokio::test]
async fn secrets_never_reach_logs_or_the_admin_api() {
    let options = NodeOptions {
        env: vec![("GATEHOUSE_PG_PASSWORD".into(), "hunter2-secret".into())],
        args: vec![],
        ..Default::default()
    };
    let node = Node::start(binary(), options).await.expect("node starts");
    let root = reqwest::get(node.admin_url()).await.expect("root").text().await.expect("text");
    assert!(!root.contains("hunter2-secret"), "{root}");
    assert!(root.contains("\"pg_password\":\"******\""), "{root}");
    assert!(!node.log().contains("hunter2-secret"));
}

#[tokio::test]
async fn health_reports_a_running_node_and_a_missing_one() {
    let node = Node::start(binary(), NodeOptions::default()).await.expect("node starts");
    let status_listen = format!("127.0.0.1:{}", node.status_port);
    let admin_listen = format!("127.0.0.1:{}", node.admin_port);
    let env = [("GATEHOUSE_STATUS_LISTEN", status_listen.as_str()), ("GATEHOUSE_ADMIN_LISTEN", admin_listen.as_str())];
    let (code, out, _) = run(&["health"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("healthy"), "{out}");
    drop(node);
    let (code, _, err) = run(&["health"], &env);
    assert_ne!(code, 0);
    assert!(err.contains("not running"), "{err}");
}

#[tokio::test]
async fn two_processes_share_one_sqlite_file() {
    let shared = TempDir::new("shared-sqlite").expect("dir");
    let prefix = shared.path.to_string_lossy().to_string();
    let options =
        || NodeOptions { env: vec![("GATEHOUSE_PREFIX".into(), prefix.clone())], args: vec![], ..Default::default() };
    let a = Node::start(binary(), options()).await.expect("a");
    let b = Node::start(binary(), options()).await.expect("b");
    gatehouse_testkit::race_service_creates(&a, &b, 10).await.expect("one 201 and one 409 per round");
    let seen: serde_json::Value =
        reqwest::get(format!("{}/services", a.admin_url())).await.expect("get").json().await.expect("json");
    assert_eq!(seen["data"].as_array().map(Vec::len), Some(10));
}
