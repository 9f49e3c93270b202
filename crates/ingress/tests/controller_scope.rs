//! Which objects the running controller takes in: only those of `--watch-namespace`, and of unlabelled
//! Secrets only those a watched object references (read whole when the reference appears), the rest kept
//! as metadata.

#[allow(dead_code)]
mod e2e;

use e2e::{
    echo_backend, echo_ingress, events, eventually, gateway, kube_with_echo, namespace, proxy_status, Controller, Kube,
};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(20);

fn plugin(namespace: &str) -> String {
    format!(
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {{name: limit, namespace: {namespace}}}\n\
         plugin: rate-limiting\nconfig: {{minute: 100, policy: local}}\n"
    )
}

/// The `status` of the `limit` KongPlugin in `namespace`.
fn plugin_status(kube: &Kube, namespace: &str) -> Value {
    kube.server.get("configuration.konghq.com/v1", "KongPlugin", namespace, "limit").unwrap_or_default()["status"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outside_the_watched_namespaces_are_ignored() {
    let node = gateway(Vec::new(), None).await;
    let (echo, kube) = kube_with_echo().await;
    let with_limit = "  annotations: {konghq.com/plugins: limit}";
    for ns in ["a", "b", "c"] {
        kube.apply(&namespace(ns));
        kube.apply(&echo_backend(ns, echo.addr.port()));
        kube.apply(&plugin(ns));
        kube.apply(&echo_ingress(ns, "web", &format!("{ns}.test"), "/", with_limit, ""));
    }
    let controller = Controller::spawn(&kube, &[node.admin_url()], "controller-0", &["--watch-namespace=a,b"]);
    let ctl = [&controller];

    eventually("the Ingresses of a and b are routed", CONVERGE, &ctl, || async {
        proxy_status(&node, "a.test", "/", None).await == Some(200)
            && proxy_status(&node, "b.test", "/", None).await == Some(200)
    })
    .await;
    eventually("the plugins of a and b are Programmed", CONVERGE, &ctl, || async {
        ["a", "b"].iter().all(|ns| plugin_status(&kube, ns)["conditions"][0]["status"] == "True")
    })
    .await;
    assert_eq!(proxy_status(&node, "c.test", "/", None).await, Some(404));
    assert_eq!(plugin_status(&kube, "c"), Value::Null, "the controller wrote to an object it does not watch");

    // Objects created in c later are ignored too; one created in a after them arrives.
    kube.apply(&echo_ingress("c", "late", "late-c.test", "/", "", ""));
    kube.apply(&echo_ingress("a", "late", "late-a.test", "/", "", ""));
    eventually("the later Ingress of a is routed", CONVERGE, &ctl, || async {
        proxy_status(&node, "late-a.test", "/", None).await == Some(200)
    })
    .await;
    assert_eq!(proxy_status(&node, "late-c.test", "/", None).await, Some(404));
    for collection in ["services", "routes", "plugins", "upstreams"] {
        let (_, body) = node.admin(Method::GET, &format!("/{collection}?size=1000"), Value::Null).await;
        let tagged: Vec<&Value> = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "k8s-namespace:c")))
            .collect();
        assert!(tagged.is_empty(), "{collection} from namespace c reached the gateway: {tagged:?}");
    }
}

fn tls_secret(name: &str, cert: &str, key: &str) -> String {
    let b64 = |t: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, t);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: default}}\ntype: kubernetes.io/tls\n\
         data: {{tls.crt: {}, tls.key: {}}}\n",
        b64(cert),
        b64(key)
    )
}

/// The certificate the gateway has under `id` (its PEM), and the SNIs pointing at it.
async fn gateway_certificate(node: &gatehouse_testkit::Node, id: &str) -> Option<(String, Vec<String>)> {
    let (status, cert) = node.admin(Method::GET, &format!("/certificates/{id}"), Value::Null).await;
    if status != 200 {
        return None;
    }
    let (_, snis) = node.admin(Method::GET, "/snis?size=1000", Value::Null).await;
    let names = snis["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["certificate"]["id"] == id)
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    Some((normal(cert["cert"].as_str()?), names))
}

/// A PEM without carriage returns or surrounding blanks (rcgen writes CRLF).
fn normal(pem: &str) -> String {
    pem.replace('\r', "").trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_unlabelled_secret_is_read_whole_and_its_certificate_reaches_the_gateway() {
    let node = gateway(Vec::new(), None).await;
    let (_echo, kube) = kube_with_echo().await;
    let (cert, key) = gatehouse_testkit::self_signed_pem(&["secure.test"]).expect("certificate");
    kube.apply(&tls_secret("site-tls", &cert, &key));
    kube.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: unrelated, namespace: default}\nstringData: {a: b}\n");
    kube.apply(&echo_ingress("default", "plain", "plain.test", "/", "", ""));
    let controller = Controller::spawn(&kube, &[node.admin_url()], "controller-0", &[]);
    let ctl = [&controller];
    let whole = r#"gatehouse_ingress_cached_secrets{kept="whole"}"#;
    let metadata = r#"gatehouse_ingress_cached_secrets{kept="metadata"}"#;

    eventually("nothing references the Secrets: only their metadata is kept", CONVERGE, &ctl, || async {
        proxy_status(&node, "plain.test", "/", None).await == Some(200)
            && controller.metric(whole).await == Some(0.0)
            && controller.metric(metadata).await == Some(2.0)
    })
    .await;

    // An Ingress starts referencing the TLS Secret: it is read whole and becomes a certificate whose id is
    // the Secret's UID, with the Ingress's host as SNI.
    let tls = "  tls: [{hosts: [secure.test], secretName: site-tls}]";
    kube.apply(&echo_ingress("default", "secure", "secure.test", "/", "", tls));
    let uid = kube.server.get("v1", "Secret", "default", "site-tls").expect("secret")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    eventually("the certificate and its SNI reach the gateway", CONVERGE, &ctl, || async {
        gateway_certificate(&node, &uid).await == Some((normal(&cert), vec!["secure.test".to_string()]))
    })
    .await;
    eventually("the referenced Secret is kept whole, the other as metadata", CONVERGE, &ctl, || async {
        controller.metric(whole).await == Some(1.0) && controller.metric(metadata).await == Some(1.0)
    })
    .await;
    let reported: Vec<String> = events(&kube)
        .await
        .iter()
        .filter(|e| e.reason.as_deref() == Some("KongConfigurationTranslationFailed"))
        .map(|e| format!("{:?}: {:?}", e.regarding.as_ref().and_then(|r| r.name.clone()), e.note))
        .collect();
    assert!(reported.is_empty(), "the Secret was translated before it was read: {reported:?}");

    // A referenced Secret's updates are followed: a rotated certificate replaces the old one.
    let (rotated, rotated_key) = gatehouse_testkit::self_signed_pem(&["secure.test"]).expect("certificate");
    kube.apply(&tls_secret("site-tls", &rotated, &rotated_key));
    eventually("the rotated certificate reaches the gateway", CONVERGE, &ctl, || async {
        gateway_certificate(&node, &uid).await.is_some_and(|(pem, _)| pem == normal(&rotated))
    })
    .await;
}
