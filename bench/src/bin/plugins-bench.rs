//! Plugin overhead: proxy requests/s with key-auth, then basic-auth, on 100 routes with 100 consumers,
//! against no plugins, measured side by side in one run.
//!
//! Two nodes run at once from the same binary, each on its own SQLite database and with the same service and
//! routes: one has no plugins at all (its plugin set is empty, so the baseline pays nothing for the plugin
//! machinery), the other has the plugin on every route and the consumers with their credentials. wrk then
//! alternates between them in short runs (A B, B A, A B, ...), so drift and noise from the rest of the
//! machine hit both sides alike; each pair gives one drop, and the median pair is reported along with the
//! drop over all requests. Requests cycle through the routes and the consumers' credentials (a wrk Lua
//! script), so every credential is looked up; the baseline sends the very same requests, headers included.
//!
//! Run with `bench/plugins` (needs `nginx` for the upstream and `wrk`; the script installs them with apt).
//! A first control row runs the same alternation with no plugin on either node: its drop shows how far
//! the two sides differ by chance.
//!
//! `BENCH_SECONDS` (3) is the length of one run, `BENCH_PAIRS` (16) the number of pairs per plugin.

use anyhow::Context as _;
use gatehouse_bench::{start_nginx, wait_port, wrk_script};
use gatehouse_testkit::{free_port, Node, NodeOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

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

    /// The service and its routes `/r0` .. `/r99`.
    async fn routes(&self, upstream_port: u16) -> anyhow::Result<()> {
        self.post("/services", json!({"name": "bench", "url": format!("http://127.0.0.1:{upstream_port}")})).await?;
        for i in 0..ROUTES {
            self.post("/services/bench/routes", json!({"name": format!("r{i}"), "paths": [format!("/r{i}")]})).await?;
        }
        Ok(())
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

/// A wrk script cycling through the routes, request i carrying consumer i's `header`.
fn script(name: &str, value: impl Fn(usize) -> String) -> String {
    let values: String = (0..ROUTES).map(|i| format!("values[{i}] = \"{}\"\n", value(i))).collect();
    format!(
        "values = {{}}\n{values}counter = 0\nrequest = function()\n  local i = counter % {ROUTES}\n  \
         counter = counter + 1\n  return wrk.format(\"GET\", \"/r\" .. i, {{[\"{name}\"] = values[i]}})\nend\n"
    )
}

async fn start_node(binary: &Path) -> anyhow::Result<(Node, Admin)> {
    let options =
        NodeOptions { env: vec![("GATEHOUSE_LOG_LEVEL".into(), "warn".into())], args: vec![], ..Default::default() };
    let node = Node::start(binary, options).await?;
    let admin = Admin { client: reqwest::Client::new(), url: node.admin_url() };
    Ok((node, admin))
}

/// One wrk run: requests/s and p99 (ms).
type Sample = (f64, f64);

/// One plugin's pairs of runs: (without, with).
struct Measured {
    pairs: Vec<(Sample, Sample)>,
}

impl Measured {
    fn drop_of((without, with): &(Sample, Sample)) -> f64 {
        (1.0 - with.0 / without.0) * 100.0
    }

    fn median_pair(&self) -> (Sample, Sample) {
        let mut sorted = self.pairs.clone();
        sorted.sort_by(|a, b| Self::drop_of(a).total_cmp(&Self::drop_of(b)));
        sorted[sorted.len() / 2]
    }

    /// The drop over every request of every pair (all runs are equally long).
    fn overall(&self) -> f64 {
        let without: f64 = self.pairs.iter().map(|p| p.0 .0).sum();
        let with: f64 = self.pairs.iter().map(|p| p.1 .0).sum();
        (1.0 - with / without) * 100.0
    }

    fn median_p99(&self, side: fn(&(Sample, Sample)) -> f64) -> f64 {
        let mut values: Vec<f64> = self.pairs.iter().map(side).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let env_or = |name: &str, default: u32| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (seconds, connections, pairs) =
        (env_or("BENCH_SECONDS", 3), env_or("BENCH_CONNECTIONS", 64), env_or("BENCH_PAIRS", 16).max(1));
    let (upstream_port, unused_port) = (free_port(), free_port());
    let _nginx = start_nginx(upstream_port, unused_port, 0)?;
    wait_port(upstream_port).await?;
    let (plain_node, plain) = start_node(&binary).await?;
    let (plugged_node, plugged) = start_node(&binary).await?;
    plain.routes(upstream_port).await?;
    plugged.routes(upstream_port).await?;
    for i in 0..ROUTES {
        plugged.post("/consumers", json!({"username": format!("user{i}")})).await?;
        plugged.post(&format!("/consumers/user{i}/key-auth"), json!({"key": format!("key-{i}")})).await?;
        let basic = json!({"username": format!("user{i}"), "password": format!("password-{i}")});
        plugged.post(&format!("/consumers/user{i}/basic-auth"), basic).await?;
    }
    let (plain_url, plugged_url) = (plain_node.proxy_url(), plugged_node.proxy_url());
    let keyed = script("apikey", |i| format!("key-{i}"));
    let basic = script("Authorization", |i| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("user{i}:password-{i}")))
    });
    let mut rows = Vec::new();
    // The control row runs both nodes without plugins: its drop is the measurement's noise floor.
    for (plugin, script) in [("none (control)", &keyed), ("basic-auth", &basic), ("key-auth", &keyed)] {
        let ids = match plugin.starts_with("none") {
            true => Vec::new(),
            false => plugged.plugin_on_routes(plugin).await?,
        };
        // Warm-up: connections, upstream pools and (on the plugged node) the credential cache; this also waits
        // out the plugin's arrival in the plugged node's snapshot.
        wrk_script(&plain_url, script, 2, connections)?;
        wrk_script(&plugged_url, script, 2, connections)?;
        let mut measured = Measured { pairs: Vec::new() };
        for pair in 0..pairs {
            let run = |url: &str| wrk_script(url, script, seconds, connections);
            let (without, with) = if pair % 2 == 0 {
                let without = run(&plain_url)?;
                (without, run(&plugged_url)?)
            } else {
                let with = run(&plugged_url)?;
                (run(&plain_url)?, with)
            };
            measured.pairs.push((without, with));
        }
        plugged.delete_all(&ids).await?;
        rows.push((plugin, measured));
    }
    println!(
        "Plugin overhead: wrk -t2 -c{connections}, {pairs} pairs of {seconds}s runs alternating between a node \
         without plugins and a node with the plugin on all {ROUTES} routes ({ROUTES} consumers); requests cycle \
         through routes and credentials; upstream nginx `return 200`"
    );
    println!();
    println!("| plugin | no plugins req/s | with plugin req/s | drop (median pair) | drop (all requests) | every pair | p99 without / with |");
    println!("|---|---|---|---|---|---|---|");
    for (plugin, measured) in rows {
        let (without, with) = measured.median_pair();
        let mut drops: Vec<f64> = measured.pairs.iter().map(Measured::drop_of).collect();
        drops.sort_by(f64::total_cmp);
        let drops: Vec<String> = drops.iter().map(|d| format!("{d:.1}%")).collect();
        println!(
            "| {plugin} | {:.0} | {:.0} | {:.1}% | {:.1}% | {} | {:.2} / {:.2} ms |",
            without.0,
            with.0,
            Measured::drop_of(&(without, with)),
            measured.overall(),
            drops.join(", "),
            measured.median_p99(|p| p.0 .1),
            measured.median_p99(|p| p.1 .1),
        );
    }
    Ok(())
}
