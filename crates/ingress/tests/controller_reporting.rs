//! What the running controller reports back into Kubernetes: Events on objects the translator rejects
//! and on the controller's own object, and Ingress status from `--publish-service`, written only once the
//! configuration is live on every gateway node.

#[allow(dead_code)]
mod e2e;

use e2e::{
    echo_ingress, events, eventually, gateway, has_event, ingress_addresses, kube_with_echo, namespace, proxy_status,
    Controller,
};
use gatehouse_testkit::PgCluster;
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(20);

/// A KongPlugin whose configuration Secret does not exist: the translator rejects it.
const PLUGIN_WITHOUT_SECRET: &str = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: from-missing, namespace: default}
plugin: key-auth
configFrom: {secretKeyRef: {name: absent, key: config}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_objects_and_successful_syncs_are_recorded_as_events() {
    let node = gateway(Vec::new(), None).await;
    let (_echo, kube) = kube_with_echo().await;
    kube.apply(&namespace("kong"));
    kube.apply(PLUGIN_WITHOUT_SECRET);
    kube.apply(&echo_ingress("default", "open", "open.test", "/", "", ""));
    let guarded = "  annotations: {konghq.com/plugins: from-missing}";
    kube.apply(&echo_ingress("default", "guarded", "guarded.test", "/", guarded, ""));
    let admin = [node.admin_url()];
    let mut controller =
        Controller::spawn(&kube, &admin, "controller-0", &["--event-object=Deployment/kong/gatehouse-ingress"]);

    eventually("the open Ingress is routed", CONVERGE, &[&controller], || async {
        proxy_status(&node, "open.test", "/", None).await == Some(200)
    })
    .await;
    let plugin_uid = kube
        .server
        .get("configuration.konghq.com/v1", "KongPlugin", "default", "from-missing")
        .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string))
        .expect("plugin uid");
    eventually("TranslationFailed on the plugin, Succeeded on --event-object", CONVERGE, &[&controller], || async {
        let events = events(&kube).await;
        let failed = events.iter().any(|e| {
            let regarding = e.regarding.clone().unwrap_or_default();
            e.reason.as_deref() == Some("KongConfigurationTranslationFailed")
                && e.type_.as_deref() == Some("Warning")
                && regarding.kind.as_deref() == Some("KongPlugin")
                && regarding.name.as_deref() == Some("from-missing")
                && regarding.uid.as_deref() == Some(plugin_uid.as_str())
                && e.note.as_deref().is_some_and(|n| n.contains("absent"))
        });
        failed && has_event(&events, "KongConfigurationSucceeded", "Deployment", "kong", "gatehouse-ingress")
    })
    .await;
    // As in KIC, only the rejected plugin is left out: the Ingress naming it is routed without it.
    assert_eq!(proxy_status(&node, "guarded.test", "/", None).await, Some(200));

    // Without --event-object the success Event goes to the pod named by POD_NAME in POD_NAMESPACE, even
    // when the election lock lives in another namespace.
    controller.signal("-TERM");
    assert!(controller.wait_exit(Duration::from_secs(15)).await, "the controller exits on SIGTERM");
    let pod = [("POD_NAME", "gatehouse-ingress-7f9c"), ("POD_NAMESPACE", "kong")];
    let controller = Controller::spawn_env(&kube, &admin, "controller-1", &[], &pod);
    eventually("Succeeded on the controller's pod", CONVERGE, &[&controller], || async {
        has_event(&events(&kube).await, "KongConfigurationSucceeded", "Pod", "kong", "gatehouse-ingress-7f9c")
    })
    .await;
}

/// The proxy Service: a LoadBalancer with an IP and a hostname provisioned, and a cluster IP.
fn proxy_service(kind: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: kong-proxy, namespace: kong}}
spec: {{type: {kind}, clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], ports: [{{port: 80}}]}}
status: {{loadBalancer: {{ingress: [{{ip: 203.0.113.7}}, {{hostname: proxy.example.net}}]}}}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_status_comes_from_the_publish_service_once_every_node_has_the_config() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("ingress_publish").expect("db");
    let a = gateway(cluster.node_env(&db), None).await;
    let b = gateway(cluster.node_env(&db), None).await;
    let (_echo, kube) = kube_with_echo().await;
    kube.apply(&namespace("kong"));
    kube.apply(&proxy_service("LoadBalancer"));
    kube.apply(&echo_ingress("default", "first", "first.test", "/", "", ""));
    let controller = Controller::spawn(&kube, &[a.admin_url()], "controller-0", &["--publish-service=kong/kong-proxy"]);
    let ctl = [&controller];

    eventually("a LoadBalancer publishes its IPs and hostnames", CONVERGE, &ctl, || async {
        ingress_addresses(&kube, "default", "first") == ["203.0.113.7", "proxy.example.net"]
    })
    .await;

    // Node b stops applying changes but still counts as live (its heartbeat is recent): the configuration
    // reaches node a, yet the status waits for node b.
    let b_pid = b.pid().expect("node b pid").to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill").args([name, &b_pid]).status().expect("kill");
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    let stopped = Instant::now();
    kube.apply(&echo_ingress("default", "second", "second.test", "/", "", ""));
    eventually("node a routes the new Ingress", CONVERGE, &ctl, || async {
        proxy_status(&a, "second.test", "/", None).await == Some(200)
    })
    .await;
    eventually("the controller sees that node b lags", CONVERGE, &ctl, || async {
        controller.log_text().contains("configuration not yet live on every node")
    })
    .await;
    // The following syncs write nothing, and must still not report the Ingress live.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let addresses = ingress_addresses(&kube, "default", "second");
        assert!(addresses.is_empty(), "status written while node b lags: {addresses:?}\n{}", controller.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped.elapsed() < Duration::from_secs(25), "node b may have been declared down meanwhile");
    signal("-CONT");
    eventually("the status follows once node b has the config", CONVERGE, &ctl, || async {
        ingress_addresses(&kube, "default", "second") == ["203.0.113.7", "proxy.example.net"]
    })
    .await;
    assert_eq!(proxy_status(&b, "second.test", "/", None).await, Some(200));

    // Other Service types publish their cluster IPs; the change reaches the status without a config change.
    kube.apply(&proxy_service("ClusterIP"));
    eventually("a ClusterIP Service publishes its cluster IPs", CONVERGE, &ctl, || async {
        ingress_addresses(&kube, "default", "first") == ["10.96.0.10"]
            && ingress_addresses(&kube, "default", "second") == ["10.96.0.10"]
    })
    .await;
}
