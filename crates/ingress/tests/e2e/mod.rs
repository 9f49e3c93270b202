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
            .arg("--log-level=info,kube=warn")
            .args(extra)
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .env("NO_COLOR", "1")
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
    let binary = workspace_binary("gatehouse-node", "gatehouse").expect("gatehouse binary");
    let options = NodeOptions { env, args: vec!["--run-migrations".into()], admin_port, ..Default::default() };
    Node::start(&binary, options).await.expect("gateway node")
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
