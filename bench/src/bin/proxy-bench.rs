//! Proxy benchmark: Gatehouse against nginx on the same machine, the same small upstream (an nginx server
//! block answering `200 ok`, in an instance of its own) and the same wrk settings, with 1 route and with
//! 10,000 routes. A second reference, nginx setting the headers Kong's nginx template sets, shows what the
//! header work every Kong-compatible proxy does costs. Reports requests/s and p99 of each, the ratios,
//! each proxy's CPU time per request (user and kernel, steadier than requests/s on a shared machine), and
//! the node's RSS idle and with 10,000 routes. Another table splits the machine's CPU per request between
//! the client (wrk), the upstream and the proxy, which shows how much of each request's cost the proxy's
//! own code can change. Each setting runs `BENCH_ROUNDS` (7) rounds of one run of each proxy, the order
//! rotating from round to round; the median round by ratio is reported, with how many rounds Gatehouse
//! was ahead on requests/s, on p99 and on CPU per request.
//!
//! Run with `bench/proxy` (needs `nginx` and `wrk`; the script installs them with apt when missing).

use anyhow::Context as _;
use gatehouse_bench::{
    children_cpu_seconds, cpu_seconds, rss_mb, start_nginx, start_nginx_proxy, start_nginx_proxy_with_kong_headers,
    wait_port, wrk, wrk_counted, WrkRun,
};
use gatehouse_testkit::{free_port, Node, NodeOptions};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

async fn create_routes(node: &Node, upstream_port: u16, routes: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let admin = node.admin_url();
    let reply = client
        .post(format!("{admin}/services"))
        .json(&json!({"name": "bench", "url": format!("http://127.0.0.1:{upstream_port}")}))
        .send()
        .await?;
    anyhow::ensure!(reply.status() == 201, "service create failed");
    let chunks: Vec<Vec<usize>> =
        (0..routes).collect::<Vec<_>>().chunks(routes.div_ceil(16).max(1)).map(|c| c.to_vec()).collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let (client, admin) = (client.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let body = json!({"paths": [format!("/r{i}")], "service": {"name": "bench"}});
                let reply = client.post(format!("{admin}/routes")).json(&body).send().await?;
                anyhow::ensure!(reply.status() == 201, "route create failed: {}", reply.status());
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// One side's wrk run with the CPU time its proxy, the upstream and wrk itself used meanwhile.
#[derive(Clone, Copy)]
struct Measured {
    run: WrkRun,
    /// CPU seconds (user, kernel) per request, of the proxy.
    cpu_per_request: (f64, f64),
    /// The same for the upstream and for the client (wrk).
    upstream_cpu: (f64, f64),
    client_cpu: (f64, f64),
}

fn cpu_text((user, kernel): (f64, f64)) -> String {
    format!("{:.1} + {:.1} µs", user * 1e6, kernel * 1e6)
}

fn measure(url: &str, (pids, upstream): (&[u32], &[u32]), seconds: u32, connections: u32) -> anyhow::Result<Measured> {
    let before = (cpu_seconds(pids), cpu_seconds(upstream), children_cpu_seconds());
    let run = wrk_counted(url, seconds, connections)?;
    let after = (cpu_seconds(pids), cpu_seconds(upstream), children_cpu_seconds());
    let per = |a: (f64, f64), b: (f64, f64)| ((b.0 - a.0) / run.requests.max(1.0), (b.1 - a.1) / run.requests.max(1.0));
    Ok(Measured {
        run,
        cpu_per_request: per(before.0, after.0),
        upstream_cpu: per(before.1, after.1),
        client_cpu: per(before.2, after.2),
    })
}

/// Requests/s, p99 and CPU per request of a reference proxy and Gatehouse, one row per route count.
fn print_ratio_table(reference: &str, rows: &[(usize, Compared)]) {
    println!(
        "| routes | {reference} req/s | gatehouse req/s | ratio | every round | {reference} p99 | gatehouse p99 \
         | {reference} CPU/req | gatehouse CPU/req | rounds ahead: req/s, p99, CPU/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (routes, Compared { theirs, ours, every, ahead }) in rows {
        let (n, g) = (theirs.run, ours.run);
        println!(
            "| {routes} | {:.0} | {:.0} | {:.2}x | {every} | {:.2} ms | {:.2} ms | {} | {} | {ahead} |",
            n.rps,
            g.rps,
            g.rps / n.rps,
            n.p99_ms,
            g.p99_ms,
            cpu_text(theirs.cpu_per_request),
            cpu_text(ours.cpu_per_request)
        );
    }
}

/// The reference side (`against`: 0 plain nginx, 1 nginx with Kong's headers) and Gatehouse in the
/// median round by their ratio, every round's ratio, and in how many rounds Gatehouse was ahead on
/// requests/s, on p99 and on CPU per request: one round swings with the machine, the counts show
/// whether the median's side is the usual one.
fn median_round(measured: &mut [[Measured; 3]], against: usize) -> Compared {
    let ratio = |round: &[Measured; 3]| round[2].run.rps / round[against].run.rps;
    measured.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let every: Vec<String> = measured.iter().map(|round| format!("{:.2}x", ratio(round))).collect();
    let cpu = |m: &Measured| m.cpu_per_request.0 + m.cpu_per_request.1;
    let ahead = |test: &dyn Fn(&Measured, &Measured) -> bool| {
        let count = measured.iter().filter(|round| test(&round[2], &round[against])).count();
        format!("{count}/{}", measured.len())
    };
    let counts = [
        ahead(&|ours, theirs| ours.run.rps >= theirs.run.rps),
        ahead(&|ours, theirs| ours.run.p99_ms <= theirs.run.p99_ms),
        ahead(&|ours, theirs| cpu(ours) <= cpu(theirs)),
    ];
    let median = &measured[measured.len() / 2];
    Compared { theirs: median[against], ours: median[2], every: every.join(", "), ahead: counts.join(", ") }
}

/// A reference proxy and Gatehouse in the median round, with every round's ratio and the rounds ahead.
struct Compared {
    theirs: Measured,
    ours: Measured,
    every: String,
    ahead: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary =
        PathBuf::from(std::env::var("GATEHOUSE_BIN").context("set GATEHOUSE_BIN to a release gatehouse binary")?);
    let seconds: u32 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let connections: u32 = std::env::var("BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7).max(1);
    let (mut rows, mut kong_rows) = (Vec::new(), Vec::new());
    let mut memory = Vec::new();
    for routes in [1usize, 10_000] {
        let (upstream_port, nginx_port, kong_port) = (free_port(), free_port(), free_port());
        // The upstream and the nginx proxies are separate instances, so a proxy's CPU time is its own.
        let upstream = start_nginx(upstream_port, free_port(), 0)?;
        let nginx = start_nginx_proxy(upstream_port, nginx_port, routes)?;
        let nginx_kong = start_nginx_proxy_with_kong_headers(upstream_port, kong_port, routes)?;
        for port in [upstream_port, nginx_port, kong_port] {
            wait_port(port).await?;
        }
        let options = NodeOptions {
            env: vec![("GATEHOUSE_LOG_LEVEL".into(), "warn".into())],
            args: vec![],
            ..Default::default()
        };
        let node = Node::start(&binary, options).await?;
        let pid = node.pid().context("node pid")?;
        if routes == 1 {
            memory.push(("idle, no routes", rss_mb(pid)));
        }
        create_routes(&node, upstream_port, routes).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let target = format!("/r{}", routes / 2);
        // Warm each up, then measure side by side: rounds of every proxy, the median round (by ratio)
        // reported, since one run alone swings by 20% on a shared 2-core machine.
        let urls = [
            format!("http://127.0.0.1:{nginx_port}{target}"),
            format!("http://127.0.0.1:{kong_port}{target}"),
            format!("{}{target}", node.proxy_url()),
        ];
        for url in &urls {
            let _ = wrk(url, 2, connections)?;
        }
        let mut measured: Vec<[Measured; 3]> = Vec::new();
        for round in 0..rounds {
            // Read each time: nginx starts its workers after the port opens.
            let upstream_pids = upstream.pids();
            let pids = [nginx.pids(), nginx_kong.pids(), vec![pid]];
            // Rotate which side goes first, so drift during a round favours none.
            let mut results: [Option<Measured>; 3] = [None; 3];
            for step in 0..3 {
                let side = (round + step) % 3;
                results[side] = Some(measure(&urls[side], (&pids[side], &upstream_pids), seconds, connections)?);
            }
            let [Some(plain), Some(kong), Some(ours)] = results else { anyhow::bail!("a side was not measured") };
            measured.push([plain, kong, ours]);
        }
        memory.push((if routes == 1 { "1 route, after load" } else { "10,000 routes, after load" }, rss_mb(pid)));
        rows.push((routes, median_round(&mut measured, 0)));
        kong_rows.push((routes, median_round(&mut measured, 1)));
        drop(node);
        drop(nginx);
        drop(nginx_kong);
        drop(upstream);
    }
    println!(
        "Proxy vs nginx: wrk -t2 -c{connections} -d{seconds}s, same upstream (nginx `return 200 ok`), each proxy \
         with 2 workers; {rounds} rounds, the median round shown"
    );
    println!();
    print_ratio_table("nginx", &rows);
    println!();
    println!(
        "CPU/req: the proxy's CPU time (user + kernel, all its threads) over the run, per request. Rounds \
         ahead: in how many rounds Gatehouse had at least the requests/s, at most the p99 and at most the \
         CPU per request of the other proxy."
    );
    println!();
    println!(
        "Against nginx doing the header work of Kong's nginx template (X-Forwarded-*, X-Real-IP and \
         X-Kong-Request-Id up; latencies, Via and the request id down), which Gatehouse does too:"
    );
    println!();
    print_ratio_table("nginx + Kong's headers", &kong_rows);
    println!();
    println!("Where the machine's CPU goes per request in the median rounds (user + kernel):");
    println!();
    println!("| routes | proxy under test | client (wrk) | upstream | proxy | proxy's share |");
    println!("|---|---|---|---|---|---|");
    for ((routes, plain), (_, kong)) in rows.iter().zip(&kong_rows) {
        let (nginx, ours, kong) = (&plain.theirs, &plain.ours, &kong.theirs);
        for (name, side) in [("nginx", nginx), ("nginx + Kong's headers", kong), ("gatehouse", ours)] {
            let total = |(u, k): (f64, f64)| u + k;
            let all = total(side.client_cpu) + total(side.upstream_cpu) + total(side.cpu_per_request);
            println!(
                "| {routes} | {name} | {} | {} | {} | {:.0}% |",
                cpu_text(side.client_cpu),
                cpu_text(side.upstream_cpu),
                cpu_text(side.cpu_per_request),
                100.0 * total(side.cpu_per_request) / all.max(f64::MIN_POSITIVE)
            );
        }
    }
    println!();
    println!("| gatehouse node RSS | MB |");
    println!("|---|---|");
    for (what, mb) in memory {
        println!("| {what} | {mb:.1} |");
    }
    Ok(())
}
