//! The whole path end to end: kube-testserver, a `gatehouse-ingress` process, two gateway nodes on one
//! PostgreSQL, and a real upstream. Objects applied to Kubernetes become routes on both nodes.

#[allow(dead_code)]
mod e2e;

use e2e::{echo_ingress, entity_ids, eventually, gateway, kube_with_echo, proxy_status, Controller};
use gatehouse_testkit::PgCluster;
use kube::api::{Api, ListParams};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(20);

fn ingress(name: &str, host: &str, path: &str, plugins: Option<&str>) -> String {
    let annotations = match plugins {
        Some(p) => format!("  annotations: {{konghq.com/strip-path: \"true\", konghq.com/plugins: {p}}}"),
        None => "  annotations: {konghq.com/strip-path: \"true\"}".to_string(),
    };
    echo_ingress("default", name, host, path, &annotations, "")
}

const AUTH: &str = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: require-key, namespace: default}
plugin: key-auth
---
apiVersion: v1
kind: Secret
metadata:
  name: alice-key
  namespace: default
  labels: {konghq.com/credential: key-auth}
stringData: {key: alice-secret-key}
---
apiVersion: configuration.konghq.com/v1
kind: KongConsumer
metadata:
  name: alice
  namespace: default
  annotations: {kubernetes.io/ingress.class: kong}
username: alice
credentials: [alice-key]
"#;

const BROKEN: &str = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: broken, namespace: default}
plugin: key-auth
config: {key_names: 5}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_objects_become_routes_on_every_node() {
    let cluster = PgCluster::shared().expect("postgres");
    let db = cluster.create_database("ingress_e2e").expect("db");
    let mut a = gateway(cluster.node_env(&db), None).await;
    let b = gateway(cluster.node_env(&db), None).await;
    let (_echo, kube) = kube_with_echo().await;
    kube.apply(&ingress("echo", "echo.test", "/echo", None));
    let admin = vec![a.admin_url()];
    let mut controller = Controller::spawn(&kube, &admin, "controller-0", &["--publish-status-address=10.0.0.9"]);
    let ctl = [&controller];

    eventually("the Ingress is routed on both nodes", CONVERGE, &ctl, || async {
        proxy_status(&a, "echo.test", "/echo", None).await == Some(200)
            && proxy_status(&b, "echo.test", "/echo", None).await == Some(200)
    })
    .await;
    let client = kube.client().await;
    let ingresses: Api<k8s_openapi::api::networking::v1::Ingress> = Api::namespaced(client.clone(), "default");
    eventually("the Ingress status shows the published address", CONVERGE, &ctl, || async {
        let Ok(found) = ingresses.get("echo").await else { return false };
        let entries = found.status.and_then(|s| s.load_balancer).and_then(|lb| lb.ingress).unwrap_or_default();
        entries.first().and_then(|e| e.ip.as_deref()) == Some("10.0.0.9")
    })
    .await;

    // A change, then authentication through a KongPlugin and a KongConsumer with a credential Secret.
    kube.apply(AUTH);
    kube.apply(&ingress("echo", "echo.test", "/v2", Some("require-key")));
    eventually("the changed path and key-auth apply on both nodes", CONVERGE, &ctl, || async {
        let mut ok = true;
        for node in [&a, &b] {
            ok &= proxy_status(node, "echo.test", "/echo", None).await == Some(404);
            ok &= proxy_status(node, "echo.test", "/v2", None).await == Some(401);
            ok &= proxy_status(node, "echo.test", "/v2", Some("alice-secret-key")).await == Some(200);
        }
        ok
    })
    .await;

    eventually("the KongPlugin and the KongConsumer are Programmed", CONVERGE, &ctl, || async {
        ["KongPlugin/require-key", "KongConsumer/alice"].iter().all(|object| {
            let (kind, name) = object.split_once('/').unwrap_or_default();
            kube.server
                .get("configuration.konghq.com/v1", kind, "default", name)
                .and_then(|o| o["status"]["conditions"].as_array().cloned())
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Programmed" && c["status"] == "True"))
        })
    })
    .await;

    // A broken plugin: only the Ingress using it is left out, and the rejection is reported as an Event.
    kube.apply(BROKEN);
    kube.apply(&ingress("other", "other.test", "/other", Some("broken")));
    kube.apply(&ingress("third", "third.test", "/third", None));
    eventually(
        "objects not using the broken plugin still sync, the one using it is left out",
        CONVERGE,
        &ctl,
        || async {
            proxy_status(&b, "third.test", "/third", None).await == Some(200)
                && proxy_status(&b, "echo.test", "/v2", Some("alice-secret-key")).await == Some(200)
                && proxy_status(&b, "other.test", "/other", None).await == Some(404)
        },
    )
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    eventually("an Event names the broken plugin, which is not Programmed", CONVERGE, &ctl, || async {
        let Ok(list) = events.list(&ListParams::default()).await else { return false };
        let event = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("KongConfigurationApplyFailed")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
        });
        let condition = kube
            .server
            .get("configuration.konghq.com/v1", "KongPlugin", "default", "broken")
            .and_then(|o| o["status"]["conditions"].as_array().cloned())
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Programmed" && c["status"] == "False"));
        event && condition
    })
    .await;

    // Restarting the controller deletes nothing in between.
    let routes_before = entity_ids(&a, "/routes").await;
    assert!(!routes_before.is_empty());
    controller.signal("-TERM");
    assert!(controller.wait_exit(Duration::from_secs(15)).await, "the controller exits on SIGTERM");
    let mut controller = Controller::spawn(&kube, &admin, "controller-1", &["--publish-status-address=10.0.0.9"]);
    let watch_started = std::time::Instant::now();
    while watch_started.elapsed() < Duration::from_secs(3) {
        let now = entity_ids(&a, "/routes").await;
        assert!(routes_before.is_subset(&now), "routes disappeared while the controller restarted: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ctl = [&controller];

    // The gateway the controller pushes to goes away: the controller retries and converges when it is back.
    let admin_port = a.admin_port;
    a.terminate().expect("stop node a");
    assert!(a.wait_exit(Duration::from_secs(30)).await.is_ok());
    kube.apply(&ingress("third", "third.test", "/third-v2", None));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, routes) = b.admin(reqwest::Method::GET, "/routes?size=1000", serde_json::Value::Null).await;
    assert_eq!(
        proxy_status(&b, "third.test", "/third-v2", None).await,
        Some(404),
        "nothing can be pushed yet: {routes}\n{}",
        controller.log_text()
    );
    let a = gateway(cluster.node_env(&db), Some(admin_port)).await;
    eventually("the change lands once the gateway is back", CONVERGE, &ctl, || async {
        proxy_status(&a, "third.test", "/third-v2", None).await == Some(200)
            && proxy_status(&b, "third.test", "/third-v2", None).await == Some(200)
    })
    .await;

    // Deleting the objects removes their routes from every node.
    let ingress_api: Api<k8s_openapi::api::networking::v1::Ingress> = Api::namespaced(client, "default");
    for name in ["echo", "third", "other"] {
        ingress_api.delete(name, &Default::default()).await.expect("delete ingress");
    }
    eventually("deleted Ingresses leave both nodes", CONVERGE, &ctl, || async {
        proxy_status(&a, "echo.test", "/v2", Some("alice-secret-key")).await == Some(404)
            && proxy_status(&b, "third.test", "/third-v2", None).await == Some(404)
    })
    .await;
    controller.signal("-TERM");
    assert!(controller.wait_exit(Duration::from_secs(15)).await);
}
