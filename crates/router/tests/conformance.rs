//! Kong's path-handling fixture (shared/conformance/kong-path-handling.json): one route per case, matched and
//! turned into an upstream path. Only `v0` cases run: Kong's traditional_compatible flavor always applies v0,
//! and v1 (`traditional` flavor only) is not implemented.

use std::path::PathBuf;

use gatehouse_router::{normalize_path, NoHeaders, Request, RouteSpec, Router};
use serde_json::Value;
use uuid::Uuid;

fn cases() -> Option<Vec<Value>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/kong-path-handling.json");
    let Ok(text) = std::fs::read_to_string(&p) else {
        println!("notice: {} not found, conformance cases skipped", p.display());
        return None;
    };
    let v: Value = serde_json::from_str(&text).expect("fixture is JSON");
    Some(v["cases"].as_array().expect("cases array").clone())
}

fn run(case: &Value, n: usize, as_regex: bool) -> Result<(), String> {
    let service_path = case["service_path"].as_str();
    let request = case["request_path"].as_str().expect("request_path");
    let expected = case["expected_upstream_path"].as_str().expect("expected path");
    let host = format!("localbin-{n}.com");
    let mut route = RouteSpec::new(Uuid::from_u128(n as u128 + 1));
    route.strip_path = case["strip_path"].as_bool().expect("strip_path");
    match case["route_path"].as_str() {
        Some(p) if as_regex => {
            route.paths = vec![format!("~/[0]?{}", &p[1..])];
            route.hosts = vec![host.clone()];
        }
        Some(p) => route.paths = vec![p.to_owned()],
        None => route.hosts = vec![host.clone()],
    }
    let router = Router::build(vec![route]);
    assert!(router.errors().is_empty(), "{:?}", router.errors());
    let path = normalize_path(request);
    let req =
        Request { method: "GET", host: &host, path: request, scheme: "http", port: 80, headers: &NoHeaders, sni: None };
    let m = router.find(&req).ok_or_else(|| format!("no match for {case}"))?;
    let got = m.upstream_uri(service_path, &path);
    if got != expected {
        return Err(format!("{case} (regex={as_regex}): got {got}"));
    }
    Ok(())
}

#[test]
fn path_handling_v0_cases() {
    let Some(cases) = cases() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for (n, case) in cases.iter().enumerate() {
        if case["path_handling"] != "v0" {
            continue; // v1 is traditional-flavor only; not implemented.
        }
        for as_regex in [false, true] {
            if as_regex && case["route_path"].is_null() {
                continue;
            }
            ran += 1;
            if let Err(e) = run(case, n, as_regex) {
                failures.push(e);
            }
        }
    }
    assert!(ran > 106, "expected plain and regex runs of the 106 v0 cases, ran {ran}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
