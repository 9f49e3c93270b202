//! The server through kube-rs, in process: CRUD, patches, watchers (including 410 relists and streaming
//! lists), optimistic concurrency, selectors, the status subresource, CRDs and simulated outages.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use kube_testserver::{ServerOptions, TestServer};
use serde_json::json;

async fn client(server: &TestServer) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).expect("kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    // kube-rs retries 503s (honouring Retry-After) by default; outage tests want to see them.
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

fn api_error(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no event within 10s")
        .expect("stream ended")
}

fn ingress(name: &str, host: &str) -> Ingress {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"ingressClassName": "kong", "rules": [{"host": host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}
        }]}}]}
    }))
    .unwrap()
}

fn config_map(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn ingress_crud_and_patches() {
    let server = TestServer::start().await.unwrap();
    let client = client(&server).await;
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    let created = api.create(&pp, &ingress("web", "a.example")).await.unwrap();
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert_eq!(created.metadata.generation, Some(1));
    let uid = created.uid().expect("uid");
    assert_eq!(uuid_version(&uid), Some('4'));
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();

    let (code, reason, _) = api_error(api.create(&pp, &ingress("web", "a.example")).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let got = api.get("web").await.unwrap();
    assert_eq!(got.uid(), Some(uid.clone()));
    let mut with_rv = ingress("other", "a.example");
    with_rv.metadata.resource_version = got.metadata.resource_version.clone();
    let (code, reason, _) = api_error(api.create(&pp, &with_rv).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));

    let mut generated = ingress("", "g.example");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("web-".into());
    let generated = api.create(&pp, &generated).await.unwrap();
    assert!(generated.name_any().starts_with("web-") && generated.name_any().len() == 9);

    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    let list_rv: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv > rv1);
    let all: Api<Ingress> = Api::all(client.clone());
    assert_eq!(all.list(&ListParams::default()).await.unwrap().items.len(), 2);
    let page = api.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name_any(), "web");
    let token = page.metadata.continue_.expect("continue token");
    let rest = api.list(&ListParams::default().limit(1).continue_token(&token)).await.unwrap();
    assert_eq!(rest.items[0].name_any(), generated.name_any());
    assert!(rest.metadata.continue_.is_none());

    // Label changes do not bump the generation; spec changes do.
    let labelled = api
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"tier": "edge"}}})))
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    assert_eq!(labelled.labels().get("tier").map(String::as_str), Some("edge"));
    let json_patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/rules/0/host", "value": "b.example"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(json_patched.metadata.generation, Some(2));
    assert_eq!(json_patched.spec.unwrap().rules.unwrap()[0].host.as_deref(), Some("b.example"));
    let strategic = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"metadata": {"annotations": {"a": "1"}}})))
        .await
        .unwrap();
    assert_eq!(strategic.annotations().get("a").map(String::as_str), Some("1"));

    // A no-op patch keeps the resourceVersion.
    let same = api.patch("web", &PatchParams::default(), &Patch::Merge(json!({}))).await.unwrap();
    assert_eq!(same.resource_version(), strategic.resource_version());

    // Server-side apply creates missing objects.
    let applied = api
        .patch("applied", &PatchParams::apply("test").force(), &Patch::Apply(ingress("applied", "c.example")))
        .await
        .unwrap();
    assert_eq!(applied.metadata.generation, Some(1));

    let deleted = api.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_left(), "delete returns the object");
    let (code, reason, message) = api_error(api.get("web").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "ingresses.networking.k8s.io \"web\" not found");
    let (code, _, _) = api_error(api.delete("web", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(code, 404);

    // Secrets: stringData becomes base64 data.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})).unwrap();
    let secret = secrets.create(&pp, &secret).await.unwrap();
    assert_eq!(secret.data.unwrap()["password"].0, b"hunter2");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
}

fn uuid_version(uid: &str) -> Option<char> {
    (uid.len() == 36).then(|| uid.chars().nth(14)).flatten()
}

#[tokio::test]
async fn watcher_sees_init_apply_and_delete() {
    let server = TestServer::start().await.unwrap();
    let client = client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    api.create(&pp, &config_map("before", json!({}))).await.unwrap();

    for config in [watcher::Config::default(), watcher::Config::default().streaming_lists()] {
        let mut stream = watcher::watcher(api.clone(), config).boxed();
        assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
        let mut initial = Vec::new();
        loop {
            match next(&mut stream).await.unwrap() {
                Event::InitApply(cm) => initial.push(cm.name_any()),
                Event::InitDone => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(initial, ["before"]);

        api.create(&pp, &config_map("during", json!({}))).await.unwrap();
        match next(&mut stream).await.unwrap() {
            Event::Apply(cm) => assert_eq!(cm.name_any(), "during"),
            other => panic!("unexpected {other:?}"),
        }
        api.patch("during", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "w"}}))).await.unwrap();
        match next(&mut stream).await.unwrap() {
            Event::Apply(cm) => assert_eq!(cm.data.unwrap()["k"], "w"),
            other => panic!("unexpected {other:?}"),
        }
        api.delete("during", &DeleteParams::default()).await.unwrap();
        match next(&mut stream).await.unwrap() {
            Event::Delete(cm) => assert_eq!(cm.name_any(), "during"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn lease_replace_with_stale_resource_version_conflicts() {
    let server = TestServer::start().await.unwrap();
    let api: Api<Lease> = Api::namespaced(client(&server).await, "kube-system");
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}})).unwrap();
    let created = api.create(&PostParams::default(), &lease).await.unwrap();

    let mut fresh = created.clone();
    fresh.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let updated = api.replace("leader", &PostParams::default(), &fresh).await.unwrap();
    assert_ne!(updated.resource_version(), created.resource_version());

    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let (code, reason, message) = api_error(api.replace("leader", &PostParams::default(), &stale).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"leader\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    // A patch carrying a stale resourceVersion conflicts too.
    let patch = Patch::Merge(json!({"metadata": {"resourceVersion": created.resource_version()}}));
    let (code, _, _) = api_error(api.patch("leader", &PatchParams::default(), &patch).await.unwrap_err());
    assert_eq!(code, 409);
    assert_eq!(api.get("leader").await.unwrap().spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn watcher_relists_after_410_gone() {
    let options =
        ServerOptions { history_limit: 3, bookmark_interval: Duration::from_secs(3600), ..Default::default() };
    let server = TestServer::start_with(options).await.unwrap();
    let client = client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &config_map("watched", json!({}))).await.unwrap();

    // A raw watch from a resourceVersion older than the history gets an ERROR event with 410/Expired.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).unwrap();
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    let mut raw = api.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    match next(&mut raw).await.unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 error event, got {other:?}"),
    }

    let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitApply(_)));
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitDone));
    // Let the watch connect, then push its resourceVersion out of the history with unrelated writes and
    // make it reconnect: the resumed watch gets 410 Gone and the watcher lists again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 5..10 {
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).unwrap();
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    server.close_watches();
    match next(&mut stream).await {
        Err(watcher::Error::WatchError(status)) => assert_eq!(status.code, 410),
        other => panic!("expected a 410 watch error, got {other:?}"),
    }
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    match next(&mut stream).await.unwrap() {
        Event::InitApply(cm) => assert_eq!(cm.name_any(), "watched"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitDone));
    api.create(&PostParams::default(), &config_map("after", json!({}))).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Apply(cm) if cm.name_any() == "after"));
}

#[tokio::test]
async fn label_and_field_selectors_on_list_and_watch() {
    let server = TestServer::start().await.unwrap();
    let client = client(&server).await;
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap();
    namespaces.create(&pp, &ns).await.unwrap();
    let default: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    default.create(&pp, &config_map("a", json!({"app": "web", "tier": "front"}))).await.unwrap();
    default.create(&pp, &config_map("b", json!({"app": "api"}))).await.unwrap();
    default.create(&pp, &config_map("c", json!({}))).await.unwrap();
    other.create(&pp, &config_map("a", json!({"app": "web"}))).await.unwrap();

    let all: Api<ConfigMap> = Api::all(client.clone());
    let names = |lp: ListParams| {
        let all = all.clone();
        async move {
            let list = all.list(&lp).await.unwrap();
            list.items.iter().map(|c| format!("{}/{}", c.namespace().unwrap(), c.name_any())).collect::<Vec<_>>()
        }
    };
    assert_eq!(names(ListParams::default().labels("app=web")).await, ["default/a", "other/a"]);
    assert_eq!(names(ListParams::default().labels("app==web,tier")).await, ["default/a"]);
    assert_eq!(names(ListParams::default().labels("app!=web")).await, ["default/b", "default/c"]);
    assert_eq!(names(ListParams::default().labels("app in (api,web),!tier")).await, ["default/b", "other/a"]);
    assert_eq!(names(ListParams::default().labels("app notin (web)")).await, ["default/b", "default/c"]);
    assert_eq!(names(ListParams::default().labels("app")).await.len(), 3);
    assert_eq!(names(ListParams::default().fields("metadata.name=a")).await, ["default/a", "other/a"]);
    assert_eq!(names(ListParams::default().fields("metadata.namespace=other")).await, ["other/a"]);
    assert_eq!(names(ListParams::default().fields("metadata.name=a,metadata.namespace!=other")).await, ["default/a"]);
    let (code, reason, _) = api_error(all.list(&ListParams::default().labels("app in (web")).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));

    // Watches follow objects into and out of the selection.
    let wp = WatchParams::default().labels("app=web");
    let mut stream = default.watch(&wp, "0").await.unwrap().boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(c) if c.name_any() == "a"));
    let relabel = |labels| Patch::Merge(json!({"metadata": {"labels": labels}}));
    default.patch("c", &PatchParams::default(), &relabel(json!({"app": "web"}))).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(c) if c.name_any() == "c"));
    default.patch("a", &PatchParams::default(), &relabel(json!({"app": null}))).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Deleted(c) if c.name_any() == "a"));
    other.patch("a", &PatchParams::default(), &relabel(json!({"x": "y"}))).await.unwrap();
    default.patch("c", &PatchParams::default(), &relabel(json!({"x": "y"}))).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Modified(c) if c.name_any() == "c"));

    let by_name = WatchParams::default().fields("metadata.name=b");
    let mut stream = default.watch(&by_name, "0").await.unwrap().boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(c) if c.name_any() == "b"));
    default.delete("c", &DeleteParams::default()).await.unwrap();
    default.delete("b", &DeleteParams::default()).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Deleted(c) if c.name_any() == "b"));
}

#[tokio::test]
async fn status_subresource() {
    let server = TestServer::start().await.unwrap();
    let api: Api<Ingress> = Api::namespaced(client(&server).await, "default");
    let mut ing = ingress("web", "a.example");
    ing.status = serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}})).unwrap();
    let created = api.create(&PostParams::default(), &ing).await.unwrap();
    assert!(created.status.is_none(), "status is not set on create");

    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}});
    let patched = api.patch_status("web", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    assert_eq!(patched.metadata.generation, Some(1));
    let ip = |i: &Ingress| {
        i.status.as_ref().unwrap().load_balancer.as_ref().unwrap().ingress.as_ref().unwrap()[0].ip.clone()
    };
    assert_eq!(ip(&patched).as_deref(), Some("192.0.2.1"));

    // Writes to the main resource ignore .status; writes to /status ignore everything else.
    let mut changed = patched.clone();
    changed.status = ing.status.clone();
    changed.spec.as_mut().unwrap().rules.as_mut().unwrap()[0].host = Some("b.example".into());
    let replaced = api.replace("web", &PostParams::default(), &changed).await.unwrap();
    assert_eq!(ip(&replaced).as_deref(), Some("192.0.2.1"));
    assert_eq!(replaced.metadata.generation, Some(2));

    let mut via_status = replaced.clone();
    via_status.status = ing.status.clone();
    via_status.spec.as_mut().unwrap().rules.as_mut().unwrap()[0].host = Some("ignored.example".into());
    let after = api.replace_status("web", &PostParams::default(), &via_status).await.unwrap();
    assert_eq!(ip(&after).as_deref(), Some("10.0.0.1"));
    assert_eq!(after.spec.unwrap().rules.unwrap()[0].host.as_deref(), Some("b.example"));
    assert_eq!(ip(&api.get_status("web").await.unwrap()).as_deref(), Some("10.0.0.1"));
}

#[tokio::test]
async fn crd_makes_custom_kind_served() {
    let server = TestServer::start().await.unwrap();
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "kongplugins.configuration.konghq.com"},
        "spec": {
            "group": "configuration.konghq.com",
            "scope": "Namespaced",
            "names": {"kind": "KongPlugin", "plural": "kongplugins", "singular": "kongplugin", "shortNames": ["kp"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = kube::runtime::conditions::is_crd_established();
    let wait = kube::runtime::wait::await_condition(crds.clone(), "kongplugins.configuration.konghq.com", established);
    tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap().unwrap();

    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery.get("configuration.konghq.com").expect("group discovered");
    let (ar, caps) = group.recommended_kind("KongPlugin").expect("kind discovered");
    assert_eq!(ar.plural, "kongplugins");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let gvk = GroupVersionKind::gvk("configuration.konghq.com", "v1", "KongPlugin");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "kongplugins");
    let plugins: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let plugin: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongPlugin",
        "metadata": {"name": "rate-limit"},
        "plugin": "rate-limiting",
        "config": {"minute": 5},
        "status": {"ignored": true}
    }))
    .unwrap();
    let created = plugins.create(&PostParams::default(), &plugin).await.unwrap();
    assert_eq!(created.data["plugin"], "rate-limiting");
    assert!(created.data.get("status").is_none());
    let status = Patch::Merge(json!({"status": {"conditions": [{"type": "Programmed", "status": "True"}]}}));
    let with_status = plugins.patch_status("rate-limit", &PatchParams::default(), &status).await.unwrap();
    assert_eq!(with_status.data["status"]["conditions"][0]["type"], "Programmed");
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data["config"]["minute"], 5);

    // Deleting the CRD removes the kind and its objects.
    crds.delete("kongplugins.configuration.konghq.com", &DeleteParams::default()).await.unwrap();
    let (code, _, _) = api_error(plugins.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(code, 404);
}

#[tokio::test]
async fn simulated_outage_and_namespace_deletion() {
    let server = TestServer::start().await.unwrap();
    let client = client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &config_map("x", json!({}))).await.unwrap();

    server.set_unavailable(true);
    let (code, reason, _) = api_error(api.get("x").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (503, "ServiceUnavailable"));
    // Seeding bypasses the outage.
    server.apply_manifest("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seeded\ndata:\n  a: b\n").unwrap();
    server.set_unavailable(false);
    assert_eq!(api.get("seeded").await.unwrap().data.unwrap()["a"], "b");

    server.set_availability(kube_testserver::Availability::Stall);
    let stalled = tokio::spawn({
        let api = api.clone();
        async move { api.get("x").await.map(|c| c.name_any()) }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stalled.is_finished(), "requests hang while stalled");
    server.set_availability(kube_testserver::Availability::Available);
    assert_eq!(stalled.await.unwrap().unwrap(), "x");

    server.set_availability(kube_testserver::Availability::Refuse);
    assert!(api.get("x").await.is_err());
    server.set_availability(kube_testserver::Availability::Available);
    api.get("x").await.unwrap();

    // A deleted namespace is Terminating for a moment, then gone together with its objects.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let doomed: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    doomed.create(&PostParams::default(), &config_map("inside", json!({}))).await.unwrap();
    let terminating = namespaces.delete("doomed", &DeleteParams::default()).await.unwrap().left().unwrap();
    let uid = terminating.uid().unwrap();
    assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
    let (code, reason, _) =
        api_error(doomed.create(&PostParams::default(), &config_map("late", json!({}))).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    let gone =
        kube::runtime::wait::await_condition(namespaces.clone(), "doomed", kube::runtime::conditions::is_deleted(&uid));
    tokio::time::timeout(Duration::from_secs(10), gone).await.unwrap().unwrap();
    let left: Vec<ConfigMap> = Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.namespace().as_deref() == Some("doomed"))
        .collect();
    assert!(left.is_empty());

    // Finalizers hold deletions until they are removed.
    let mut held = config_map("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    let pending = api.delete("held", &DeleteParams::default()).await.unwrap().left().unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn watch_bookmarks_and_timeout() {
    let options = ServerOptions { bookmark_interval: Duration::from_millis(100), ..Default::default() };
    let server = TestServer::start_with(options).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    let created = api.create(&PostParams::default(), &config_map("a", json!({}))).await.unwrap();
    let rv = created.resource_version().unwrap();
    let started = std::time::Instant::now();
    let mut stream = api.watch(&WatchParams::default().timeout(1).disable_bookmarks(), &rv).await.unwrap().boxed();
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().is_none());
    assert!(started.elapsed() >= Duration::from_millis(900), "the watch lasts timeoutSeconds");

    let mut stream = api.watch(&WatchParams::default().timeout(10), &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &config_map("b", json!({}))).await.unwrap();
    let added = next(&mut stream).await.unwrap();
    let added_rv = match added {
        WatchEvent::Added(c) => c.resource_version().unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.resource_version, added_rv);
            assert_eq!(b.types.kind, "ConfigMap");
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}
