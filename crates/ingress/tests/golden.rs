//! KIC golden conformance: every case under `shared/conformance/kic-golden` (see its README) must translate to
//! exactly the declarative configuration KIC produced (compared as parsed YAML values).

use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, translate_excluding, ObjectRef, Settings};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/kic-golden")
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Loads the manifests. KIC (Go) tolerates line breaks inside base64 Secret data; if `Objects::from_yaml` does
/// not, the same documents are loaded through `Objects::add` with that whitespace removed.
fn load_objects(case: &str, text: &str) -> Objects {
    match Objects::from_yaml(text) {
        Ok(objects) => objects,
        Err(e) => {
            eprintln!("NOTICE {case}: Objects::from_yaml failed ({e}); loading with base64 whitespace stripped");
            let mut objects = Objects::default();
            for mut doc in yaml_documents(text) {
                if doc["kind"] == "Secret" {
                    if let Some(data) = doc.get_mut("data").and_then(Value::as_object_mut) {
                        for v in data.values_mut() {
                            if let Some(s) = v.as_str() {
                                *v = Value::String(s.chars().filter(|c| !c.is_whitespace()).collect());
                            }
                        }
                    }
                }
                objects.add(doc).expect("object loads");
            }
            objects
        }
    }
}

/// Objects annotated `test.konghq.com/broken: "true"`: the gateway rejects them on the first push.
fn broken_objects(text: &str) -> Vec<ObjectRef> {
    yaml_documents(text)
        .into_iter()
        .filter(|d| d["metadata"]["annotations"]["test.konghq.com/broken"] == "true")
        .map(|d| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            ObjectRef {
                kind: s(&d["kind"]),
                api_version: s(&d["apiVersion"]),
                namespace: s(&d["metadata"]["namespace"]),
                name: s(&d["metadata"]["name"]),
                uid: s(&d["metadata"]["uid"]),
            }
        })
        .collect()
}

/// Lists the differences between two values, one line per differing path.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => diff(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing (expected {ev})")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => diff(&format!("{path}[{i}]"), ev, av, out),
                    (Some(ev), None) => out.push(format!("{path}[{i}]: missing (expected {ev})")),
                    (None, Some(av)) => out.push(format!("{path}[{i}]: unexpected {av}")),
                    (None, None) => {}
                }
            }
        }
        _ if expected != actual => out.push(format!("{path}: expected {expected}, got {actual}")),
        _ => {}
    }
}

fn case_dirs() -> Option<Vec<PathBuf>> {
    let dir = golden_dir();
    if !dir.is_dir() {
        eprintln!("NOTICE: {} not found, skipping the KIC golden tests", dir.display());
        return None;
    }
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("readable").map(|e| e.expect("entry").path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    Some(cases)
}

/// Runs every case that has `<variant>_golden.yaml`; returns the failures.
fn run(variant: &str, settings: &Settings) -> (usize, Vec<String>) {
    let Some(cases) = case_dirs() else { return (0, Vec::new()) };
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases {
        let golden_path = case.join(format!("{variant}_golden.yaml"));
        if !golden_path.exists() {
            continue;
        }
        ran += 1;
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read_to_string(case.join("in.yaml")).expect("in.yaml");
        let objects = load_objects(&name, &input);
        let broken = broken_objects(&input);
        let translation = if broken.is_empty() {
            translate(&objects, settings)
        } else {
            let first = translate(&objects, settings);
            assert!(first.config.is_object(), "{name}: first translation yields a configuration");
            translate_excluding(&objects, settings, &broken)
        };
        let expected: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&golden_path).expect("golden")).expect("golden YAML");
        if expected != translation.config {
            let mut lines = Vec::new();
            diff("$", &expected, &translation.config, &mut lines);
            failures.push(format!(
                "--- {name} ({variant}) differs:\n  {}\n--- got:\n{}",
                lines.join("\n  "),
                serde_yaml_ng::to_string(&translation.config).unwrap_or_default()
            ));
        }
    }
    (ran, failures)
}

#[test]
fn kic_golden_default() {
    let (ran, failures) = run("default", &Settings::default());
    eprintln!("KIC golden (default): {ran} cases, {} failing", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn kic_golden_expression_routes() {
    let settings = Settings { expression_routes: true, ..Settings::default() };
    let (ran, failures) = run("expression-routes-on", &settings);
    eprintln!("KIC golden (expression-routes-on): {ran} cases, {} failing", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
