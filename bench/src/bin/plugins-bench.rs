//! Plugin overhead: proxy requests/s with key-auth, then basic-auth, on 100 routes with 100 consumers,
//! against the same node and routes without plugins, measured side by side in one run. Requests cycle
//! through the routes and the consumers' credentials (a wrk Lua script), so every credential is looked up;
//! the baseline runs send the same requests, credentials included, so both sides load wrk alike.
//! The baseline is measured before and after each plugin run and averaged, to cancel drift on noisy machines,
//! over `BENCH_ROUNDS` rounds (3) whose median is reported.
//!
//! Run with `bench/plugins` (needs `nginx` for the upstream and `wrk`; the script installs them with apt).

use anyhow::Context as _;
use gatehouse_bench::{start_nginx, wait_port, wrk_script};
use gatehouse_testkit::{free_port, Node, NodeOptions};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const ROUTES: usize = 100;

struct Admin {
    client: reqwest::Client,
    url: String,
}

impl Admin {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let reply = self.client.request(method, format!("{}{path}", self.url)).json(&body).send().await?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Puts `plugin` on every route; returns the plugin ids.
    async fn plugin_on_routes(&self, plugin: &str) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        for i in 0..ROUTES {
            let created = self.post(&format!("/routes/r{i}/plugins"), json!({"name": plugin})).await?;
            ids.push(created["id"].as_str().unwrap_or_default().to_string());
        }
        Ok(ids)
    }

    async fn delete_all(&self, ids: &[String]) -> anyhow::Result<()> {
        for id in ids {
            self.send(reqwest::Method::DELETE, &format!("/plugins/{id}"), json!({})).await?;
        }
        Ok(())
    }
}

/// A wrk script cycling through the routes, each request carrying consumer i's `header`.
fn script(header: Option<(&str, &dyn Fn(usize) -> String)>) -> String {
    let mut values = String::new();
    if let Some((_, value)) = header {
        for i in 0..ROUTES {
            values += &format!("values[{i}] = \"{}\"\n", value(i));
        }
    }
    let headers = match header {
        Some((name, _)) => format!("{{[\"{name}\"] = values[i]}}"),
        None => "{}".to_string(),
    };
    format!(
        "values = {{}}\n{values}counter = 0\nrequest = function()\n  local i = counter % {ROUTES}\n  \
         counter = counter + 1\n  return wrk.format(\"GET\", \"/r\" .. i, {headers})\nend\n"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let seconds: u32 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let connections: u32 = std::env::var("BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let (upstream_port, unused_port) = (free_port(), free_port());
    let _nginx = start_nginx(upstream_port, unused_port, 0)?;
    wait_port(upstream_port).await?;
    let options =
        NodeOptions { env: vec![("GATEHOUSE_LOG_LEVEL".into(), "warn".into())], args: vec![], ..Default::default() };
    let node = Node::start(&binary, options).await?;
    let admin = Admin { client: reqwest::Client::new(), url: node.admin_url() };
    admin.post("/services", json!({"name": "bench", "url": format!("http://127.0.0.1:{upstream_port}")})).await?;
    for i in 0..ROUTES {
        admin.post("/services/bench/routes", json!({"name": format!("r{i}"), "paths": [format!("/r{i}")]})).await?;
        admin.post("/consumers", json!({"username": format!("user{i}")})).await?;
        admin.post(&format!("/consumers/user{i}/key-auth"), json!({"key": format!("key-{i}")})).await?;
        let basic = json!({"username": format!("user{i}"), "password": format!("password-{i}")});
        admin.post(&format!("/consumers/user{i}/basic-auth"), basic).await?;
    }
    let url = node.proxy_url();
    let plain = script(None);
    let key = |i: usize| format!("key-{i}");
    let keyed = script(Some(("apikey", &key)));
    let basic_value = |i: usize| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("user{i}:password-{i}")))
    };
    let basic = script(Some(("Authorization", &basic_value)));
    let run = |script: &str| wrk_script(&url, script, seconds, connections);
    // Warm-up: connections, the router and (with plugins) the credential cache.
    run(&plain)?;
    // Several rounds of baseline / plugin / baseline; each round's drop is against the mean of the baselines
    // around it, and the median round is reported (one round's baseline alone swings by 20% here).
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let mut rows = Vec::new();
    for (name, plugin, script) in [("key-auth", "key-auth", &keyed), ("basic-auth", "basic-auth", &basic)] {
        // The baseline sends the very same requests (credential header included) to the same routes without
        // the plugin, so the drop is the plugin's alone, not the load generator's extra header work.
        let mut before = run(script)?;
        let mut measured = Vec::new();
        for _ in 0..rounds {
            let ids = admin.plugin_on_routes(plugin).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            wrk_script(&url, script, 2, connections)?;
            let with = run(script)?;
            admin.delete_all(&ids).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = run(script)?;
            measured.push((before, with, after));
            before = after;
        }
        measured.sort_by(|a, b| drop_of(a).total_cmp(&drop_of(b)));
        let drops: Vec<String> = measured.iter().map(|m| format!("{:.1}%", drop_of(m))).collect();
        let (before, with, after) = measured[measured.len() / 2];
        rows.push((name, before, with, after, drops.join(", ")));
    }
    println!(
        "Plugin overhead: wrk -t2 -c{connections} -d{seconds}s, {ROUTES} routes and {ROUTES} consumers, requests \
         cycling through routes and credentials; upstream nginx `return 200`"
    );
    println!();
    println!(
        "| plugin | no plugins req/s (before / after) | with plugin req/s | drop (median round) | every round | p99 without / with |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, before, with, after, drops) in rows {
        let drop = drop_of(&(before, with, after));
        println!(
            "| {name} | {:.0} / {:.0} | {:.0} | {drop:.1}% | {drops} | {:.2} / {:.2} ms |",
            before.0,
            after.0,
            with.0,
            (before.1 + after.1) / 2.0,
            with.1
        );
    }
    Ok(())
}

/// One wrk run: requests/s and p99 (ms).
type Sample = (f64, f64);

/// A round's drop in requests/s against the mean of the baselines around it, in percent.
fn drop_of((before, with, after): &(Sample, Sample, Sample)) -> f64 {
    (1.0 - with.0 / ((before.0 + after.0) / 2.0)) * 100.0
}
