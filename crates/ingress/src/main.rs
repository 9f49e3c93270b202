//! `gatehouse-ingress`: watches Kubernetes, translates as Kong's controller does, and syncs a gateway node
//! through its Admin API. Replicas elect a leader; only the leader writes.

use anyhow::Context as _;
use clap::Parser;
use gatehouse_ingress::cli::Flags;
use gatehouse_ingress::controller::Controller;
use gatehouse_ingress::election::{default_identity, ElectionConfig, Elector};
use gatehouse_ingress::health::{self, Metrics};
use gatehouse_ingress::report::{StatusReporter, Subject};
use gatehouse_ingress::sync::{AdminClient, AdminClientConfig, SyncOptions, Syncer};
use gatehouse_ingress::translate::Settings;
use gatehouse_ingress::watch::Cache;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&flags.log_level).unwrap_or_else(|_| "info".into()))
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube_client(&flags).await?;
    let identity = default_identity(flags.election_identity.as_deref());
    let namespace = flags.election_namespace.clone().unwrap_or_else(|| "default".into());

    let cache = Cache::start(client.clone(), &watched_namespaces(&flags));
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(&flags.health_address)
        .await
        .with_context(|| format!("binding the health address {}", flags.health_address))?;
    tokio::spawn(health::serve(listener, metrics.clone(), identity.clone()));

    let mut admin = AdminClientConfig::new(flags.kong_admin_url.clone());
    admin.token = flags.kong_admin_token.clone();
    admin.tls_skip_verify = flags.kong_admin_tls_skip_verify;
    let syncer = Syncer::new(
        AdminClient::new(admin)?,
        SyncOptions { concurrency: flags.kong_admin_concurrency.max(1), ..SyncOptions::default() },
    );
    let elector = Arc::new(Elector::new(
        client.clone(),
        ElectionConfig {
            lock: flags.election_lock,
            namespace: namespace.clone(),
            name: flags.election_object_name(),
            identity: identity.clone(),
            lease_duration: flags.election_lease_duration,
            renew_deadline: flags.election_renew_deadline,
            retry_period: flags.election_retry_period,
        },
    ));
    let controller_object = match &flags.event_object {
        Some(text) => Some(
            Subject::parse(text)
                .with_context(|| format!("--event-object '{text}' is not Kind/namespace/name or Kind/name"))?,
        ),
        // The pod lives in POD_NAMESPACE even when the election lock is elsewhere (--election-namespace).
        None => std::env::var("POD_NAME").ok().map(|pod| Subject {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some(std::env::var("POD_NAMESPACE").unwrap_or_else(|_| namespace.clone())),
            name: pod,
            uid: None,
        }),
    };
    let settings =
        Settings { ingress_class: flags.ingress_class.clone(), stub_upstream_when_empty: false, ..Settings::default() };
    let controller = Arc::new(Controller {
        reporter: StatusReporter::new(client.clone(), &identity, controller_object),
        flags,
        cache,
        syncer,
        metrics: metrics.clone(),
        elector: Some(elector.clone()),
        settings,
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let leader_metrics = {
        let (elector, metrics) = (elector.clone(), metrics.clone());
        let mut changes = elector.subscribe();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let leading = *changes.borrow();
                metrics.leader.store(leading, Ordering::Relaxed);
                metrics.leader_transitions.store(elector.transitions(), Ordering::Relaxed);
            }
        })
    };
    let sync_loop = tokio::spawn({
        let (controller, stop) = (controller.clone(), stop_rx.clone());
        async move { controller.run(stop).await }
    });
    let election = tokio::spawn({
        let elector = elector.clone();
        async move { elector.run(release_rx).await }
    });
    shutdown_signal().await;
    tracing::info!("shutting down");
    // Finish the sync in flight first, then release the lock so a follower takes over at once: the new
    // leader never pushes while this replica still does.
    let _ = stop_tx.send(true);
    let _ = sync_loop.await;
    let _ = release_tx.send(true);
    let _ = election.await;
    leader_metrics.abort();
    Ok(())
}

/// `--watch-namespace`, plus the publish Service's namespace as KIC adds it (all namespaces when empty).
fn watched_namespaces(flags: &Flags) -> Vec<String> {
    let mut namespaces = flags.watch_namespace.clone();
    let publish = flags.publish_service.as_deref().and_then(|s| s.split_once('/')).map(|(ns, _)| ns.to_string());
    if let Some(namespace) = publish.filter(|ns| !namespaces.is_empty() && !namespaces.contains(ns)) {
        namespaces.push(namespace);
    }
    namespaces
}

async fn kube_client(flags: &Flags) -> anyhow::Result<kube::Client> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await.context("no in-cluster config and no kubeconfig")?,
    };
    Ok(kube::Client::try_from(config)?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
