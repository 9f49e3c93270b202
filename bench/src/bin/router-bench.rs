//! Router benchmark: per-request match time and build time of gatehouse-router vs the `atc-router` crate
//! (Kong's engine) running the expressions Kong's transform.lua generates for the same routes.
//! Run with `bench/router`; prints a markdown table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use atc_router::ast::{Type, Value};
use atc_router::context::Context;
use atc_router::router::Router as AtcRouter;
use atc_router::schema::Schema;
use gatehouse_router::{kong_expressions, NoHeaders, Request, RouteSpec, Router};
use uuid::Uuid;

fn schema() -> Schema {
    let mut s = Schema::default();
    for f in ["net.protocol", "tls.sni", "http.method", "http.host", "http.path", "http.headers.*"] {
        s.add_field(f, Type::String);
    }
    s.add_field("net.dst.port", Type::Int);
    s
}

fn routes(n: usize, with_host: bool) -> Vec<RouteSpec> {
    (0..n)
        .map(|i| {
            let mut r = RouteSpec::new(Uuid::from_u128(0x1000_0000 + i as u128));
            r.paths = vec![format!("/r{i}")];
            if with_host {
                r.hosts = vec![format!("h{i}.test")];
                r.hosts_is_array = true;
            }
            r
        })
        .collect()
}

fn build_atc<'s>(schema: &'s Schema, routes: &[RouteSpec]) -> Result<AtcRouter<'s>> {
    let mut r = AtcRouter::new(schema);
    for route in routes {
        for (id, prio, expr) in kong_expressions(route) {
            if expr.is_empty() {
                continue; // Kong logs "could not add route" and skips it; so does Router::build.
            }
            let prio = usize::try_from(prio).context("priority fits usize")?;
            r.add_matcher(prio, id, &expr).map_err(|e| anyhow::anyhow!("{expr}: {e}"))?;
        }
    }
    Ok(r)
}

struct Req {
    host: String,
    path: String,
}

/// Kong's `fill_atc_context`: only the fields the router's expressions use.
fn atc_find(r: &AtcRouter<'_>, ctx: &mut Context<'_>, req: &Req) -> Option<Uuid> {
    ctx.reset();
    for f in r.fields.keys() {
        match f.as_str() {
            "http.method" => ctx.add_value(f, Value::String("GET".into())),
            "http.host" => ctx.add_value(f, Value::String(req.host.clone())),
            "http.path" => ctx.add_value(f, Value::String(req.path.clone())),
            "net.dst.port" => ctx.add_value(f, Value::Int(80)),
            "net.protocol" => ctx.add_value(f, Value::String("http".into())),
            _ => {}
        }
    }
    if r.execute(ctx) {
        ctx.result.as_ref().map(|m| m.uuid)
    } else {
        None
    }
}

fn our_find(r: &Router, req: &Req) -> Option<Uuid> {
    let q = Request {
        method: "GET",
        host: &req.host,
        path: &req.path,
        scheme: "http",
        port: 80,
        headers: &NoHeaders,
        sni: None,
    };
    r.find(&q).map(|m| m.route.id)
}

fn per_op(iters: usize, mut f: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed() / iters as u32
}

/// Best time of `1 + extra` runs, with the value of the last run.
fn best_of<T>(extra: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let t = Instant::now();
    let mut last = f();
    let mut best = t.elapsed();
    for _ in 0..extra {
        let t = Instant::now();
        last = f();
        best = best.min(t.elapsed());
    }
    (best, last)
}

fn fmt(d: Duration) -> String {
    if d.as_micros() >= 10_000 {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else if d.as_nanos() >= 10_000 {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{} ns", d.as_nanos())
    }
}

/// A mixed route set (wildcards, host:port, methods, regexes, headers, split paths) checked against
/// atc-router on many requests, so the timing table compares two routers that agree.
fn parity(schema: &Schema) -> Result<(usize, usize)> {
    let mut specs = Vec::new();
    for i in 0..300u128 {
        let mut r = RouteSpec::new(Uuid::from_u128(0xabc0_0000 + (i * 7919) % 1000));
        let k = i % 10;
        if k % 3 == 0 {
            r.hosts = vec![format!("h{}.test", i % 7)];
        } else if k % 3 == 1 {
            r.hosts = vec![format!("*.w{}.test", i % 5), format!("p{}.*", i % 4)];
        }
        if k == 4 {
            r.hosts.push(format!("h{}.test:8080", i % 7));
        }
        if i % 4 == 0 {
            r.methods = vec!["GET".into()];
        }
        r.paths = match i % 6 {
            0 => vec![format!("/a{}", i % 9)],
            1 => vec![format!("~/a(?<n>\\d)/{}", i % 3)],
            2 => vec![format!("/a{}", i % 9), format!("/a{}/b", i % 9), "~/b.*".into()],
            3 => vec![],
            _ => vec![format!("/a{}/b", i % 9)],
        };
        if i % 11 == 0 {
            r.headers = vec![("x-v".into(), vec![format!("{}", i % 2), "~*^z".into()])];
        }
        if i % 13 == 0 {
            r.regex_priority = (i % 3) as i64;
        }
        r.hosts_is_array = !r.hosts.is_empty();
        specs.push(r);
    }
    let ours = Router::build(specs.clone());
    let atc = build_atc(schema, &specs)?;
    let owner: std::collections::HashMap<Uuid, Uuid> =
        specs.iter().flat_map(|r| kong_expressions(r).into_iter().map(move |(id, _, _)| (id, r.id))).collect();
    let mut ctx = Context::new(schema);
    let mut checked = 0;
    let mut matched = 0;
    for i in 0..4000usize {
        let host = match i % 4 {
            0 => format!("h{}.test", i % 7),
            1 => format!("x.w{}.test", i % 5),
            2 => format!("p{}.org:8080", i % 4),
            _ => format!("h{}.test:8080", i % 7),
        };
        let (host_part, port) = match host.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<i64>()?),
            None => (host.clone(), 80),
        };
        let path = match i % 5 {
            0 => format!("/a{}", i % 9),
            1 => format!("/a{}/b/c", i % 9),
            2 => format!("/a{}/{}", i % 10, i % 3),
            3 => "/bcd".into(),
            _ => "/zz".into(),
        };
        let method = if i % 2 == 0 { "GET" } else { "POST" };
        let hv = ["0", "1", "zeta", "q"][i % 4];
        ctx.reset();
        for f in atc.fields.keys() {
            match f.as_str() {
                "http.method" => ctx.add_value(f, Value::String(method.into())),
                "http.host" => ctx.add_value(f, Value::String(host_part.clone())),
                "http.path" => ctx.add_value(f, Value::String(path.clone())),
                "net.dst.port" => ctx.add_value(f, Value::Int(port)),
                "http.headers.x_v" => ctx.add_value(f, Value::String(hv.into())),
                _ => {}
            }
        }
        let a =
            if atc.execute(&mut ctx) { ctx.result.as_ref().and_then(|m| owner.get(&m.uuid).copied()) } else { None };
        let headers = [("x-v", hv)];
        let q =
            Request { method, host: &host, path: &path, scheme: "http", port: 80, headers: &&headers[..], sni: None };
        let o = ours.find(&q).map(|m| m.route.id);
        if a != o {
            bail!("parity mismatch {method} {host} {path} x-v={hv}: atc {a:?}, ours {o:?}");
        }
        checked += 1;
        matched += usize::from(o.is_some());
    }
    Ok((checked, matched))
}

fn main() -> Result<()> {
    let schema = schema();
    let (checked, matched) = parity(&schema)?;
    println!("parity: {checked} mixed requests ({matched} matched a route; wildcards, host:port, methods, regexes, headers, split paths) agree\n");
    println!("| routes | set | gatehouse match | atc-router match | ratio (atc/ours) | gatehouse build | atc-router build | ratio |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for with_host in [true, false] {
        for n in [1usize, 100, 10_000] {
            let specs = routes(n, with_host);
            let (our_build, ours) = best_of(4, || Router::build(specs.clone()));
            if !ours.errors().is_empty() {
                bail!("build errors: {:?}", ours.errors());
            }
            let (atc_build, atc) = best_of(if n > 1000 { 1 } else { 4 }, || build_atc(&schema, &specs));
            let atc = atc?;
            let reqs: Vec<Req> = (0..1000usize)
                .map(|k| {
                    let i = (k * 7919) % n;
                    Req {
                        host: if with_host { format!("h{i}.test") } else { "any.test".into() },
                        path: format!("/r{i}/items/{k}"),
                    }
                })
                .collect();
            let mut ctx = Context::new(&schema);
            for (k, req) in reqs.iter().enumerate() {
                let a = atc_find(&atc, &mut ctx, req);
                let o = our_find(&ours, req);
                if a != o || o != Some(specs[(k * 7919) % n].id) {
                    bail!("mismatch for {} {}: atc {a:?}, ours {o:?}", req.host, req.path);
                }
            }
            let iters_ours = 200_000;
            let iters_atc = if n >= 10_000 { 300 } else { 20_000 };
            let t_ours = per_op(iters_ours, |i| {
                black_box(our_find(&ours, &reqs[i % reqs.len()]));
            });
            let t_atc = per_op(iters_atc, |i| {
                black_box(atc_find(&atc, &mut ctx, &reqs[i % reqs.len()]));
            });
            let set = if with_host { "host + path" } else { "path only" };
            println!(
                "| {n} | {set} | {} | {} | {:.1}x | {} | {} | {:.1}x |",
                fmt(t_ours),
                fmt(t_atc),
                t_atc.as_secs_f64() / t_ours.as_secs_f64().max(1e-12),
                fmt(our_build),
                fmt(atc_build),
                atc_build.as_secs_f64() / our_build.as_secs_f64().max(1e-12),
            );
        }
    }
    println!("\nmatch = per request (context fill + match for atc-router, path normalisation + match for ours);");
    println!("build = best of several runs; gatehouse build includes cloning the Vec<RouteSpec> it consumes.");
    Ok(())
}
