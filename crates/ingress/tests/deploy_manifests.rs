//! The deployment manifests parse and apply: `kubectl apply` of `deploy/all-in-one.yaml` and of the
//! kustomization against kube-testserver, and the Helm chart renders when `helm` is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args).output().expect("kubectl");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_apply_to_a_kubernetes_api() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        println!("notice: kubectl not installed; skipping the deployment manifest check");
        return;
    }
    let server = kube_testserver::TestServer::start().await.expect("kube-testserver");
    let dir = gatehouse_testkit::TempDir::new("deploy").expect("temp dir");
    let kubeconfig = dir.path.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let all_in_one = repo().join("deploy/all-in-one.yaml");
    let (ok, text) = kubectl(&kubeconfig, &["apply", "-f", &all_in_one.to_string_lossy()]);
    assert!(ok, "kubectl apply -f deploy/all-in-one.yaml:\n{text}");
    let (ok, text) = kubectl(&kubeconfig, &["get", "deployments", "-n", "gatehouse", "-o", "name"]);
    assert!(ok && text.lines().count() >= 2, "gateway and controller Deployments: {text}");
    let (ok, text) = kubectl(&kubeconfig, &["get", "crd", "-o", "name"]);
    assert!(ok && text.contains("kongplugins.configuration.konghq.com"), "{text}");
    let (ok, text) = kubectl(&kubeconfig, &["get", "ingressclass", "kong", "-o", "jsonpath={.spec.controller}"]);
    assert_eq!((ok, text.trim()), (true, "ingress-controllers.konghq.com/kong"));
    // The kustomization renders the same objects.
    let (ok, text) = kubectl(&kubeconfig, &["apply", "-k", &repo().join("deploy").to_string_lossy()]);
    assert!(ok, "kubectl apply -k deploy:\n{text}");
    // The generated files are current.
    let check = Command::new("sh").arg(repo().join("deploy/render.sh")).arg("--check").current_dir(repo()).output();
    if let Ok(output) = check {
        assert!(output.status.success(), "deploy/render.sh --check: {}", String::from_utf8_lossy(&output.stdout));
    }
    if Command::new("helm").arg("version").output().is_ok() {
        let chart = repo().join("deploy/helm/gatehouse");
        let output = Command::new("helm").args(["template", "gatehouse"]).arg(&chart).output().expect("helm");
        assert!(output.status.success(), "helm template: {}", String::from_utf8_lossy(&output.stderr));
        let rendered = dir.path.join("rendered.yaml");
        std::fs::write(&rendered, &output.stdout).expect("write");
        let (ok, text) = kubectl(&kubeconfig, &["apply", "-f", &rendered.to_string_lossy()]);
        assert!(ok, "kubectl apply of the rendered chart:\n{text}");
    } else {
        println!("notice: helm not installed; the chart was not rendered");
    }
}
