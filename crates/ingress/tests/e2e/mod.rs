//! What the controller's end-to-end tests share: a Kubernetes API (kube-testserver) with Kong's CRDs
//! installed, gateway node processes, and `gatehouse-ingress` processes.

use gatehouse_testkit::{free_port, wait_for, workspace_binary, Node, NodeOptions, TempDir};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Kubernetes API with the configuration.konghq.com CRDs from `deploy/crds`.
pub struct Kube {
    pub server: kube_testserver::TestServer,
    pub kubeconfig: PathBuf,
    _dir: TempDir,
}

impl Kube {
    pub async fn start() -> Kube {
        let server = kube_testserver::TestServer::start().await.expect("kube-testserver");
        let dir = TempDir::new("kube").expect("temp dir");
        let kubeconfig = dir.path.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&crds)
            .expect("deploy/crds")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml"))
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).expect("CRD file");
            server.apply_manifest(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        }
        Kube { server, kubeconfig, _dir: dir }
    }

    pub fn apply(&self, manifest: &str) {
        self.server.apply_manifest(manifest).unwrap_or_else(|e| panic!("apply: {e:?}\n{manifest}"));
    }

    /// A kube-rs client for assertions.
    pub async fn client(&self) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let config = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig yaml");
        let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("config");
        kube::Client::try_from(config).expect("client")
    }
}

/// A `gatehouse-ingress` process.
pub struct Controller {
    child: Option<Child>,
    pub identity: String,
    pub health_port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Controller {
    pub fn spawn(kube: &Kube, admin_urls: &[String], identity: &str, extra: &[&str]) -> Controller {
        Controller::spawn_env(kube, admin_urls, identity, extra, &[])
    }

    /// `spawn` with extra environment (e.g. `POD_NAME`), set after the inherited one is cleared.
    pub fn spawn_env(
        kube: &Kube,
        admin_urls: &[String],
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Controller {
        let binary = workspace_binary("gatehouse-ingress", "gatehouse-ingress").expect("controller binary");
        let dir = TempDir::new("controller").expect("temp dir");
        let log = dir.path.join("controller.log");
        let file = std::fs::File::create(&log).expect("log file");
        let health_port = free_port();
        let child = Command::new(binary)
            .arg("--kubeconfig")
            .arg(&kube.kubeconfig)
            .arg(format!("--kong-admin-url={}", admin_urls.join(",")))
            .arg("--proxy-sync-seconds=0.5")
            .arg(format!("--health-probe-bind-address=127.0.0.1:{health_port}"))
            .arg("--election-namespace=default")
            .arg(format!("--election-identity={identity}"))
            .args((!extra.iter().any(|a| a.starts_with("--log-level"))).then_some("--log-level=info,kube=warn"))
            .args(extra)
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn gatehouse-ingress");
        Controller { child: Some(child), identity: identity.to_string(), health_port, log, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Waits for the process to exit after a signal.
    pub async fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/metrics` of the controller, or empty when it does not answer.
    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.health_port);
        match reqwest::get(url).await {
            Ok(reply) => reply.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of an unlabelled metric, or of a labelled one given as `name{label="value"}`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics().await;
        let prefix = format!("{name} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
    }

    pub async fn is_leader(&self) -> bool {
        self.metrics().await.contains(&format!("gatehouse_ingress_leader{{identity=\"{}\"}} 1", self.identity))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A gateway node (SQLite unless `env` points it at PostgreSQL), on `admin_port` when given.
pub async fn gateway(env: Vec<(String, String)>, admin_port: Option<u16>) -> Node {
    start_gateway(NodeOptions { env, admin_port, ..Default::default() }).await
}

/// A gateway node with `options` (migrations are run first).
pub async fn start_gateway(mut options: NodeOptions) -> Node {
    let binary = workspace_binary("gatehouse-node", "gatehouse").expect("gatehouse binary");
    options.args.push("--run-migrations".into());
    Node::start(&binary, options).await.expect("gateway node")
}

/// The IngressClass `kong`, served by the controller.
pub const KONG_CLASS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: kong}
spec: {controller: ingress-controllers.konghq.com/kong}
"#;

/// A Namespace.
pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

/// A Service `echo` in `namespace` whose one endpoint is `echo_port` on loopback.
pub fn echo_backend(namespace: &str, echo_port: u16) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: {namespace}}}
spec: {{ports: [{{name: http, port: 80, targetPort: 8080, protocol: TCP}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: echo-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: echo}}}}
addressType: IPv4
ports: [{{name: http, port: {echo_port}, protocol: TCP}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
"#
    )
}

/// An Ingress of class `kong` sending `host` and the `path` prefix to the `echo` Service, with extra
/// `metadata` lines (e.g. annotations) and `spec` lines (e.g. `tls`) indented by two spaces.
pub fn echo_ingress(namespace: &str, name: &str, host: &str, path: &str, metadata: &str, spec: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: {namespace}
{metadata}
spec:
  ingressClassName: kong
{spec}
  rules:
  - host: {host}
    http:
      paths:
      - {{path: {path}, pathType: Prefix, backend: {{service: {{name: echo, port: {{number: 80}}}}}}}}
"#
    )
}

/// An echo upstream and a Kubernetes API with the `kong` IngressClass and the `echo` Service of `default`
/// pointing at it.
pub async fn kube_with_echo() -> (gatehouse_testkit::EchoServer, Kube) {
    let echo = gatehouse_testkit::EchoServer::start().await.expect("echo");
    let kube = Kube::start().await;
    kube.apply(KONG_CLASS);
    kube.apply(&echo_backend("default", echo.addr.port()));
    (echo, kube)
}

/// `status.loadBalancer.ingress` of an Ingress, as `ip` or `hostname` strings.
pub fn ingress_addresses(kube: &Kube, namespace: &str, name: &str) -> Vec<String> {
    let ingress = kube.server.get("networking.k8s.io/v1", "Ingress", namespace, name).unwrap_or_default();
    let entries = ingress["status"]["loadBalancer"]["ingress"].as_array().cloned().unwrap_or_default();
    entries.iter().filter_map(|e| e["ip"].as_str().or(e["hostname"].as_str()).map(str::to_string)).collect()
}

/// Every `events.k8s.io/v1` Event, in all namespaces.
pub async fn events(kube: &Kube) -> Vec<k8s_openapi::api::events::v1::Event> {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::all(kube.client().await);
    api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default()
}

/// Whether an Event with `reason` regards the object `kind`/`namespace`/`name`.
pub fn has_event(
    events: &[k8s_openapi::api::events::v1::Event],
    reason: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> bool {
    events.iter().any(|e| {
        let Some(regarding) = e.regarding.as_ref() else { return false };
        e.reason.as_deref() == Some(reason)
            && regarding.kind.as_deref() == Some(kind)
            && regarding.namespace.as_deref() == Some(namespace)
            && regarding.name.as_deref() == Some(name)
    })
}

/// Ids of the entities the gateway lists at `path` (e.g. `/routes`).
pub async fn entity_ids(node: &Node, path: &str) -> std::collections::HashSet<String> {
    let (_, body) = node.admin(reqwest::Method::GET, &format!("{path}?size=1000"), serde_json::Value::Null).await;
    body["data"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str().map(str::to_string)).collect()
}

/// The status of a proxy request to `node` with `host` and `path` (and an optional API key).
pub async fn proxy_status(node: &Node, host: &str, path: &str, apikey: Option<&str>) -> Option<u16> {
    let mut request = reqwest::Client::new().get(format!("{}{path}", node.proxy_url())).header("host", host);
    if let Some(key) = apikey {
        request = request.header("apikey", key);
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}

/// Waits until `check` holds, failing with `what` and the controllers' logs.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, controllers: &[&Controller], mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let result = wait_for(what, timeout, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await;
    if let Err(error) = result {
        let logs: Vec<String> =
            controllers.iter().map(|c| format!("--- {} ---\n{}", c.identity, c.log_text())).collect();
        panic!("{error}\n{}", logs.join("\n"));
    }
}
