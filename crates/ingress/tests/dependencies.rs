//! The controller never talks to the database: its crate must not depend on the store, directly or through
//! another crate. Checked on the workspace's resolved graph (Cargo.lock), which also covers dev-dependencies.

use std::collections::{HashMap, HashSet};

/// Package name -> dependency names, from Cargo.lock.
fn lock_graph(text: &str) -> HashMap<String, Vec<String>> {
    let mut graph = HashMap::new();
    for block in text.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines().map(str::trim) {
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_deps = !line.ends_with(']');
            } else if in_deps && line == "]" {
                in_deps = false;
            } else if in_deps {
                let dep = line.trim_matches(|c| c == '"' || c == ',');
                deps.push(dep.split(' ').next().unwrap_or(dep).to_string());
            }
        }
        if let Some(name) = name {
            graph.insert(name, deps);
        }
    }
    graph
}

#[test]
fn the_ingress_crate_does_not_depend_on_the_store() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).expect("Cargo.lock");
    let graph = lock_graph(&lock);
    let mut seen = HashSet::new();
    let mut stack = vec!["gatehouse-ingress".to_string()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    assert!(seen.contains("gatehouse-model") && seen.contains("kube-client"), "the walk works: {seen:?}");
    for forbidden in ["gatehouse-store", "sqlx", "gatehouse-node", "gatehouse-proxy"] {
        assert!(!seen.contains(forbidden), "gatehouse-ingress depends on {forbidden}");
    }
}
