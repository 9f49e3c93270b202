//! The running controller's watches when the API server has forgotten their resourceVersion: they get
//! `410 Gone`, list again, and the controller carries on from the new list without ever wiping the
//! gateway in between.

#[allow(dead_code)]
mod e2e;

use e2e::{echo_ingress, entity_ids, eventually, gateway, kube_with_echo, proxy_status, Controller};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_relist_after_410_gone_and_nothing_is_wiped() {
    let node = gateway(Vec::new(), None).await;
    let (_echo, kube) = kube_with_echo().await;
    for name in ["keep", "change", "remove"] {
        kube.apply(&echo_ingress("default", name, &format!("{name}.test"), "/", "", ""));
    }
    let controller = Controller::spawn(&kube, &[node.admin_url()], "controller-0", &[]);
    let ctl = [&controller];
    eventually("the three Ingresses are routed", CONVERGE, &ctl, || async {
        let mut ok = true;
        for host in ["keep.test", "change.test", "remove.test"] {
            ok &= proxy_status(&node, host, "/", None).await == Some(200);
        }
        ok
    })
    .await;
    let keep_route = "default.keep.echo.keep.test.80";
    let routes_before = entity_ids(&node, "/routes").await;

    // The watches end and cannot come back while the API is down; meanwhile objects change and the
    // history is compacted, so the watches resume from a resourceVersion that is gone.
    kube.server.set_unavailable(true);
    kube.apply(&echo_ingress("default", "change", "change.test", "/v2", "", ""));
    kube.server.delete("networking.k8s.io/v1", "Ingress", "default", "remove").expect("delete");
    kube.server.compact_history();
    kube.server.set_unavailable(false);

    eventually("the watches got 410 Gone and listed again", CONVERGE, &ctl, || async {
        controller.log_text().contains("too old resource version")
    })
    .await;
    // A change after the relist arrives through the new watches.
    kube.apply(&echo_ingress("default", "late", "late.test", "/", "", ""));
    let mut landed = false;
    let deadline = std::time::Instant::now() + CONVERGE;
    while !landed && std::time::Instant::now() < deadline {
        let routes = entity_ids(&node, "/routes").await;
        let keep_id = routes_before.iter().find(|id| routes.contains(*id));
        assert!(keep_id.is_some(), "routes were wiped during the relist: {routes:?}\n{}", controller.log_text());
        assert_eq!(proxy_status(&node, "keep.test", "/", None).await, Some(200), "{keep_route} disappeared");
        landed = proxy_status(&node, "change.test", "/v2", None).await == Some(200)
            && proxy_status(&node, "change.test", "/", None).await == Some(404)
            && proxy_status(&node, "remove.test", "/", None).await == Some(404)
            && proxy_status(&node, "late.test", "/", None).await == Some(200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(landed, "changes made around the relist did not all land\n{}", controller.log_text());
}
