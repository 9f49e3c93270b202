//! Kubeconfig files pointing kubectl and kube-rs at the server.

use serde_json::json;

/// The name used for the cluster, user and context entries.
pub const CONTEXT: &str = "kube-testserver";

/// A kubeconfig (YAML) for `url` (`http://127.0.0.1:PORT`): one cluster, one user with a dummy token (the
/// server does no authentication) and a current context whose namespace is `default`.
pub fn kubeconfig_yaml(url: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": "kube-testserver"}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_yaml_ng::to_string(&config).expect("kubeconfig serializes")
}

/// Writes [`kubeconfig_yaml`] to `path` (atomically: a temporary file renamed into place).
pub fn write_kubeconfig(path: &std::path::Path, url: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, kubeconfig_yaml(url))?;
    std::fs::rename(&tmp, path)
}
