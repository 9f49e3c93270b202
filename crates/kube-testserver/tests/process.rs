//! The `kube-testserver` binary as a process: its kubeconfig through kubectl (skipped when kubectl is not
//! installed) and through kube-rs, and its command-line flags.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::ResourceExt;
use serde_json::{json, Value};

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "kube-testserver-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server binary, killed on drop.
struct ServerProcess {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
    dir: TempDir,
}

impl ServerProcess {
    fn start(extra: &[&str]) -> ServerProcess {
        let dir = TempDir::new("proc");
        let kubeconfig = dir.0.join("kubeconfig.yaml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
            .args(["--listen", "127.0.0.1:0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting kube-testserver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_string();
        assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
        let written = std::fs::read_to_string(&kubeconfig).unwrap();
        assert!(written.contains(&format!("server: {url}")), "{written}");
        ServerProcess { child, url, kubeconfig, dir }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::var_os("KUBECTL").map(PathBuf::from).into_iter().collect();
    candidates.extend(std::env::split_paths(&path).map(|d| d.join("kubectl")));
    candidates.push(PathBuf::from("/usr/bin/kubectl"));
    candidates.into_iter().find(|p| {
        p.is_file() && Command::new(p).args(["version", "--client"]).output().is_ok_and(|o| o.status.success())
    })
}

struct Kubectl<'a> {
    bin: PathBuf,
    server: &'a ServerProcess,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.server.kubeconfig)
            .arg("--cache-dir")
            .arg(self.server.dir.0.join("kube-cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .expect("running kubectl");
        eprintln!(
            "$ kubectl {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs kubectl, asserting success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
type: Opaque
stringData:
  password: hunter2
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    konghq.com/plugins: rate-limit
spec:
  ingressClassName: kong
  rules:
  - host: HOST
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: kong
spec:
  controller: ingress-controllers.konghq.com/kong
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kongplugins.configuration.konghq.com
spec:
  group: configuration.konghq.com
  scope: Namespaced
  names:
    kind: KongPlugin
    plural: kongplugins
    singular: kongplugin
    shortNames: [kp]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const PLUGIN: &str = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: rate-limit
  namespace: shop
plugin: rate-limiting
config:
  minute: MINUTE
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn kubectl_create_get_replace_apply_delete() {
    let Some(bin) = find_kubectl() else {
        println!("NOTICE: kubectl is not installed; skipping the kubectl test");
        return;
    };
    let server = ServerProcess::start(&[]);
    let k = Kubectl { bin, server: &server };
    let dir = &server.dir.0;
    let manifests = write(dir, "manifests.yaml", &MANIFESTS.replace("HOST", "shop.example"));
    let plugin = write(dir, "plugin.yaml", &PLUGIN.replace("MINUTE", "5"));

    let created = k.ok(&["create", "-f", &manifests]);
    for line in [
        "namespace/shop created",
        "service/web created",
        "secret/creds created",
        "ingress.networking.k8s.io/web created",
        "ingressclass.networking.k8s.io/kong created",
        "customresourcedefinition.apiextensions.k8s.io/kongplugins.configuration.konghq.com created",
    ] {
        assert!(created.lines().any(|l| l == line), "missing {line:?} in {created}");
    }
    k.ok(&["wait", "--for", "condition=established", "--timeout=10s", "crd/kongplugins.configuration.konghq.com"]);
    assert_eq!(k.ok(&["create", "-f", &plugin]).trim(), "kongplugin.configuration.konghq.com/rate-limit created");

    let ingresses = k.json(&["get", "ingresses", "-A"]);
    let items = ingresses["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["namespace"], "shop");
    assert_eq!(items[0]["metadata"]["name"], "web");
    assert_eq!(items[0]["spec"]["rules"][0]["host"], "shop.example");
    assert_eq!(items[0]["metadata"]["generation"], 1);
    assert_eq!(items[0]["metadata"]["uid"].as_str().unwrap().len(), 36);
    let table = k.ok(&["get", "ingresses", "-A"]);
    assert!(table.lines().any(|l| l.starts_with("shop") && l.contains("web")), "{table}");

    let secret = k.json(&["get", "secret", "creds", "-n", "shop"]);
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    let plugins = k.json(&["get", "kp", "-n", "shop"]);
    assert_eq!(plugins["items"][0]["config"]["minute"], 5);
    assert_eq!(plugins["items"][0]["kind"], "KongPlugin");

    let replaced = write(dir, "replaced.yaml", &MANIFESTS.replace("HOST", "store.example"));
    let out = k.ok(&["replace", "-f", &replaced]);
    assert!(out.lines().any(|l| l == "ingress.networking.k8s.io/web replaced"), "{out}");
    let ingress = k.json(&["get", "ingress", "web", "-n", "shop"]);
    assert_eq!(ingress["spec"]["rules"][0]["host"], "store.example");
    assert_eq!(ingress["metadata"]["generation"], 2);

    // Client-side apply (strategic merge for built-ins, merge patch for custom kinds) and server-side apply.
    let plugin10 = write(dir, "plugin10.yaml", &PLUGIN.replace("MINUTE", "10"));
    assert!(k.ok(&["apply", "-f", &plugin10]).contains("kongplugin.configuration.konghq.com/rate-limit configured"));
    let plugin20 = write(dir, "plugin20.yaml", &PLUGIN.replace("MINUTE", "20"));
    assert!(k.ok(&["apply", "--server-side", "-f", &plugin20]).contains("serverside-applied"));
    assert_eq!(k.json(&["get", "kongplugin", "rate-limit", "-n", "shop"])["config"]["minute"], 20);
    // The first apply records the last-applied configuration; the second one replaces port 80 by 81.
    k.ok(&["apply", "-f", &replaced]);
    let svc = write(dir, "svc.yaml", &MANIFESTS.replace("HOST", "store.example").replace("port: 80\n", "port: 81\n"));
    let out = k.ok(&["apply", "-f", &svc]);
    assert!(out.lines().any(|l| l == "service/web configured"), "{out}");
    assert!(out.lines().any(|l| l == "ingress.networking.k8s.io/web unchanged"), "{out}");
    let ports = &k.json(&["get", "service", "web", "-n", "shop"])["spec"]["ports"];
    assert_eq!(ports, &json!([{"name": "http", "port": 81, "targetPort": 8080}]));

    // Imperative creates send protobuf bodies.
    assert_eq!(k.ok(&["create", "namespace", "extra"]).trim(), "namespace/extra created");
    k.ok(&["create", "configmap", "settings", "-n", "extra", "--from-literal=mode=fast"]);
    k.ok(&["create", "secret", "generic", "token", "-n", "extra", "--from-literal=value=s3cret"]);
    let cm = k.json(&["get", "configmap", "settings", "-n", "extra"]);
    assert_eq!(cm["data"], json!({"mode": "fast"}));
    assert!(cm["metadata"].get("generateName").is_none(), "{cm}");
    assert_eq!(k.json(&["get", "secret", "token", "-n", "extra"])["data"]["value"], "czNjcmV0");
    k.ok(&["delete", "namespace", "extra"]);

    let deleted = k.ok(&["delete", "-f", &plugin]);
    assert_eq!(deleted.trim(), "kongplugin.configuration.konghq.com \"rate-limit\" deleted");
    let deleted = k.ok(&["delete", "-f", &manifests]);
    assert!(deleted.contains("namespace \"shop\" deleted"), "{deleted}");
    assert!(deleted.contains("ingress.networking.k8s.io \"web\" deleted"), "{deleted}");
    let missing = k.run(&["get", "namespace", "shop"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NotFound"));
    let gone = k.run(&["get", "kongplugins", "-A"]);
    assert!(!gone.status.success(), "the custom kind is no longer served");
}

#[tokio::test]
async fn binary_serves_kube_rs_with_history_limit() {
    let dir = TempDir::new("load");
    let seed =
        write(&dir.0, "seed.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seeded\ndata:\n  a: b\n");
    let server = ServerProcess::start(&["--history-limit", "2", "--load", &seed]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), server.url);
    let client = kube::Client::try_from(config).unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");

    let api: Api<ConfigMap> = Api::default_namespaced(client);
    assert_eq!(api.get("seeded").await.unwrap().data.unwrap()["a"], "b");
    let start: u64 = api.get("seeded").await.unwrap().resource_version().unwrap().parse().unwrap();
    for i in 0..4 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let mut stream = api.watch(&WatchParams::default(), &start.to_string()).await.unwrap().boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first, WatchEvent::Error(ref e) if e.code == 410), "{first:?}");

    // The admin endpoint simulates an outage that ends by itself.
    let admin = raw_http(&server.url, "POST", "/_testserver/availability?mode=unavailable&forMs=500");
    assert!(admin.starts_with("HTTP/1.1 200"), "{admin}");
    let during = raw_http(&server.url, "GET", "/api/v1/namespaces");
    assert!(during.starts_with("HTTP/1.1 503") && during.contains("\"reason\":\"ServiceUnavailable\""), "{during}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(raw_http(&server.url, "GET", "/api/v1/namespaces").starts_with("HTTP/1.1 200"));

    let current: u64 = api.get("c3").await.unwrap().resource_version().unwrap().parse().unwrap();
    let mut stream = api.watch(&WatchParams::default(), &(current - 1).to_string()).await.unwrap().boxed();
    let replayed = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(replayed, WatchEvent::Added(ref c) if c.name_any() == "c3"), "{replayed:?}");
}

/// A minimal HTTP/1.1 exchange; returns the whole response.
fn raw_http(url: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}
