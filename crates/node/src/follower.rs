//! Keeps the proxy's snapshot in step with the database by following the change log.
//!
//! A full resync loads every route and service once; after that, each catch-up reads the change events
//! after the last one applied, re-reads the changed rows and publishes a new snapshot when anything the
//! proxy uses changed. The node's own Admin API writes call `catch_up` before answering (read-your-writes);
//! a background task polls every `db_update_frequency` for other nodes' writes.
//!
//! Sequence numbers are handed out at insert time but become visible at commit, so a transaction holding a
//! lower number can commit after a higher one was read. The follower therefore only advances its
//! watermark over contiguous numbers and re-reads above it; a hole that stays open longer than
//! `HOLE_TIMEOUT` belongs to a transaction that rolled back and is skipped.

use anyhow::Context as _;
use gatehouse_model::schema_by_name;
use gatehouse_proxy::{Proxy, ServiceSpec, Snapshot};
use gatehouse_router::RouteSpec;
use gatehouse_store::Store;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const HOLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a skipped hole is still watched: longer than any write transaction can stay open.
const LATE_COMMIT_WINDOW: Duration = Duration::from_secs(600);
const BATCH: i64 = 1000;
const RESYNC_LOOKBACK: i64 = 256;
/// Change events are kept this long (Kong keeps cluster events for an hour).
const CHANGE_RETENTION_SECS: i64 = 3600;
/// How often the change log is trimmed and this node's position checked against retention.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// The delta layer is folded into the base router when idle, and at least this often when busy.
const COMPACT_EVERY: Duration = Duration::from_secs(10);
/// How often an idle node refreshes its heartbeat (it also reports whenever its position moves).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// Changed routes served from the delta layer before the base router is rebuilt with them.
const DELTA_LIMIT: usize = 512;

struct State {
    /// Every event with a sequence number up to here has been applied (or skipped as rolled back).
    watermark: i64,
    /// Applied events above the watermark.
    seen_above: BTreeSet<i64>,
    /// When the hole right above the watermark was first noticed.
    hole_since: Option<Instant>,
    /// Holes the watermark moved past, watched for late commits until `LATE_COMMIT_WINDOW` ends.
    skipped: std::collections::BTreeMap<i64, Instant>,
    routes: HashMap<Uuid, Arc<RouteSpec>>,
    services: gatehouse_proxy::Services,
    /// Routes changed since the base router was built; they are served from the delta layer.
    delta: std::collections::HashSet<Uuid>,
    balancers: Arc<gatehouse_proxy::Balancers>,
    /// The upstream and target rows the balancers are built from.
    balancer_rows: crate::balancer_state::BalancerState,
    ca_certificates: Arc<HashMap<Uuid, String>>,
    version: u64,
    /// The position and time of the last heartbeat written.
    reported: Option<(i64, Instant)>,
    /// Digest of the entities the snapshot was built from, comparable with the database's.
    digest: gatehouse_store::digest::ConfigDigest,
    plugins: crate::plugin_state::PluginState,
}

/// What a catch-up changed.
#[derive(Default)]
struct Applied {
    routes: bool,
    services: bool,
    /// Rebuild the base router rather than layering (a service's `enabled` flag flipped, or a resync).
    full: bool,
    /// Upstreams or targets changed.
    balancers: bool,
    /// Plugin entities changed.
    plugins: bool,
}

/// The change follower of one node.
pub struct Follower {
    store: Store,
    proxy: Arc<Proxy>,
    /// The certificate served when no SNI matches (`ssl_cert`, or a generated one).
    default_certificate: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Ends the balancers' active health checks at shutdown.
    stop: tokio::sync::watch::Receiver<bool>,
    /// Hostname and version written into this node's `cluster_nodes` row.
    identity: (String, String),
    state: tokio::sync::Mutex<State>,
    /// Sync requests made so far, and the newest request a finished catch-up covers: a catch-up that
    /// starts after a request was made has read that request's committed write.
    requested: std::sync::atomic::AtomicU64,
    /// Set while a catch-up serves a waiting writer: it reads the primary, since a read replica may not have
    /// the write yet.
    primary_reads: std::sync::atomic::AtomicBool,
    covered: tokio::sync::watch::Sender<u64>,
    wake: tokio::sync::Notify,
}

impl Follower {
    /// Where reads go: the read replica for polling, the primary while a writer waits (read-your-writes).
    fn reader(&self) -> Store {
        if self.primary_reads.load(std::sync::atomic::Ordering::Acquire) {
            self.store.primary()
        } else {
            self.store.clone()
        }
    }

    /// Loads the whole configuration and publishes the first snapshot.
    pub async fn start(
        store: Store,
        proxy: Arc<Proxy>,
        default_certificate: Option<Arc<rustls::sign::CertifiedKey>>,
        stop: tokio::sync::watch::Receiver<bool>,
        identity: (String, String),
        (cache, enabled_plugins): (Arc<gatehouse_plugins::EntityCache>, Vec<String>),
    ) -> anyhow::Result<Arc<Follower>> {
        let state = State {
            watermark: 0,
            seen_above: BTreeSet::new(),
            hole_since: None,
            skipped: Default::default(),
            routes: HashMap::new(),
            services: Default::default(),
            delta: std::collections::HashSet::new(),
            balancers: Arc::new(gatehouse_proxy::Balancers::default()),
            balancer_rows: Default::default(),
            ca_certificates: Arc::new(HashMap::new()),
            version: 0,
            reported: None,
            digest: Default::default(),
            plugins: crate::plugin_state::PluginState::new(cache, enabled_plugins),
        };
        let follower = Arc::new(Follower {
            store,
            proxy,
            default_certificate,
            stop,
            identity,
            state: tokio::sync::Mutex::new(state),
            requested: std::sync::atomic::AtomicU64::new(0),
            primary_reads: std::sync::atomic::AtomicBool::new(false),
            covered: tokio::sync::watch::channel(0).0,
            wake: tokio::sync::Notify::new(),
        });
        // The first load reads the primary: a read replica may not even have replayed the migrations yet.
        follower.primary_reads.store(true, std::sync::atomic::Ordering::Release);
        let loaded = follower.resync().await;
        follower.primary_reads.store(false, std::sync::atomic::Ordering::Release);
        loaded?;
        Ok(follower)
    }

    /// Reloads everything from the tables (start-up, and later after gaps the log cannot fill).
    pub async fn resync(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let started = Instant::now();
        let watermark = self.reader().latest_change_seq().await?;
        let routes_schema = schema_by_name("routes").context("routes schema")?;
        let services_schema = schema_by_name("services").context("services schema")?;
        let routes = self.reader().all_entities(routes_schema).await?;
        let services = self.reader().all_entities(services_schema).await?;
        for (entity, rows) in [("routes", &routes), ("services", &services)] {
            state.digest.clear(entity);
            for row in rows.iter() {
                let id = row.get("id").and_then(|v| v.as_str()).unwrap_or_default();
                state.digest.set(entity, id, row);
            }
        }
        state.routes = routes
            .iter()
            .filter_map(|e| RouteSpec::from_entity(e).map_err(|err| tracing::warn!(%err, "route skipped")).ok())
            .map(|r| (r.id, Arc::new(r)))
            .collect();
        state.services = Arc::new(
            services
                .iter()
                .filter_map(|e| ServiceSpec::from_entity(e).map_err(|err| tracing::warn!(%err, "service skipped")).ok())
                .map(|s| (s.id, Arc::new(s)))
                .collect(),
        );
        // Transactions that took a number below the newest one may still commit after this read; starting a
        // little below it makes the first catch-up re-read them (re-applying an event is harmless).
        self.reload_certificates().await?;
        self.reload_ca_certificates(&mut state).await?;
        self.reload_balancers(&mut state).await?;
        let plugins = self.reader().all_entities(schema_by_name("plugins").context("plugins schema")?).await?;
        state.plugins.replace_all(plugins);
        // Changes to consumers and credentials may have been missed: nothing cached can be trusted.
        state.plugins.cache().clear();
        // Transactions that took a number below the newest one may still commit after this read; starting a
        // little below it makes the first catch-up re-read them (re-applying an event is harmless). Events
        // retention already deleted cannot be re-read, and the tables just read include their effects.
        let trimmed = self.reader().trimmed_through().await?;
        state.watermark = (watermark - RESYNC_LOOKBACK).max(trimmed).max(0);
        state.seen_above.clear();
        // Watched holes stay watched: a late commit into one is still applied after the resync.
        state.hole_since = None;
        self.publish(&mut state, Applied { routes: true, services: true, full: true, balancers: true, plugins: true });
        self.report(&mut state).await?;
        tracing::info!(
            routes = state.routes.len(),
            services = state.services.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "configuration loaded"
        );
        Ok(())
    }

    /// The digest of the entities the published snapshot was built from.
    pub async fn digest(&self) -> String {
        self.state.lock().await.digest.hex()
    }

    /// Returns once the proxy serves every change committed before the call. Concurrent callers share one
    /// catch-up (and one router rebuild), like a group commit, so a write storm does not rebuild per write.
    pub async fn sync(&self) {
        let ticket = self.requested.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let mut covered = self.covered.subscribe();
        self.wake.notify_one();
        let _ = covered.wait_for(|c| *c >= ticket).await;
    }

    /// Applies every change event committed so far and publishes a snapshot if the proxy's view changed.
    async fn catch_up(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let mut changed = Applied::default();
        // Holes skipped earlier may still fill if their transaction was merely slow: look for them again.
        if !state.skipped.is_empty() {
            let wanted: Vec<i64> = state.skipped.keys().copied().take(BATCH as usize).collect();
            let late = self.reader().changes_in(&wanted).await?;
            for event in &late {
                state.skipped.remove(&event.seq);
            }
            self.apply_events(&mut state, &late, &mut changed).await?;
            state.skipped.retain(|_, since| since.elapsed() < LATE_COMMIT_WINDOW);
        }
        let mut cursor = state.watermark;
        loop {
            let events = self.reader().changes_since(cursor, BATCH).await?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            cursor = last;
            let count = events.len();
            let fresh: Vec<_> = events.into_iter().filter(|e| !state.seen_above.contains(&e.seq)).collect();
            self.apply_events(&mut state, &fresh, &mut changed).await?;
            for event in fresh {
                state.seen_above.insert(event.seq);
            }
            if (count as i64) < BATCH {
                break;
            }
        }
        advance(&mut state);
        if changed.routes || changed.services || changed.balancers || changed.plugins {
            self.publish(&mut state, changed);
        }
        self.report(&mut state).await
    }

    /// Applies a batch of events to the follower's state (not yet published).
    async fn apply_events(
        &self,
        state: &mut State,
        events: &[gatehouse_store::Change],
        changed: &mut Applied,
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        if events.iter().any(|e| e.entity_name == "certificates" || e.entity_name == "snis") {
            self.reload_certificates().await?;
        }
        if events.iter().any(|e| e.entity_name == "ca_certificates") {
            self.reload_ca_certificates(state).await?;
            changed.services = true;
        }
        if events.iter().any(|e| e.entity_name == "upstreams" || e.entity_name == "targets") {
            self.apply_balancer_events(state, events).await?;
            changed.balancers = true;
        }
        for event in events.iter().filter(|e| e.entity_name == gatehouse_store::HealthOverride::EVENT) {
            apply_health_override(state, event);
        }
        for entity in ["routes", "services"] {
            let ids: Vec<String> =
                events.iter().filter(|e| e.entity_name == entity).map(|e| e.entity_id.clone()).collect();
            self.apply(state, entity, &ids, changed).await?;
        }
        self.apply_plugin_events(state, events, changed).await
    }

    /// Recompiles plugins when plugin entities changed, and drops cached consumers and credentials that
    /// changed (under their old and new keys) so every node refuses a deleted credential at once.
    async fn apply_plugin_events(
        &self,
        state: &mut State,
        events: &[gatehouse_store::Change],
        changed: &mut Applied,
    ) -> anyhow::Result<()> {
        let ids_of = |table: &str| -> Vec<String> {
            events.iter().filter(|e| e.entity_name == table).map(|e| e.entity_id.clone()).collect()
        };
        let plugin_ids = ids_of("plugins");
        if !plugin_ids.is_empty() {
            let rows =
                self.reader().get_many(schema_by_name("plugins").context("plugins schema")?, &plugin_ids).await?;
            state.plugins.apply(&plugin_ids, rows);
            changed.plugins = true;
        }
        for table in gatehouse_plugins::cache::CACHED_TABLES {
            let ids = ids_of(table);
            if ids.is_empty() {
                continue;
            }
            let rows = self.reader().get_many(schema_by_name(table).context("schema")?, &ids).await?;
            let by_id: HashMap<&str, &serde_json::Map<String, serde_json::Value>> =
                rows.iter().filter_map(|r| Some((r.get("id")?.as_str()?, r))).collect();
            for id in &ids {
                state.plugins.cache().invalidate(table, id, by_id.get(id.as_str()).copied()).await;
            }
        }
        Ok(())
    }

    /// Writes this node's heartbeat row when its applied position moved, or when the last heartbeat is
    /// older than the poll interval, so `/clustering/status` can tell live nodes and their lag.
    async fn report(&self, state: &mut State) -> anyhow::Result<()> {
        let due = match state.reported {
            None => true,
            Some((seq, at)) => seq != state.watermark || at.elapsed() >= HEARTBEAT_EVERY,
        };
        if due {
            let (hostname, version) = &self.identity;
            self.store.heartbeat(hostname, version, state.watermark).await?;
            state.reported = Some((state.watermark, Instant::now()));
        }
        Ok(())
    }

    /// Re-reads changed entities of one type (one query) into the follower's state, noting what changed.
    async fn apply(
        &self,
        state: &mut State,
        entity: &str,
        ids: &[String],
        changed: &mut Applied,
    ) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let schema = schema_by_name(entity).context("schema")?;
        let rows = self.reader().get_many(schema, ids).await?;
        let present: HashMap<Uuid, &serde_json::Map<String, serde_json::Value>> = rows
            .iter()
            .filter_map(|e| {
                e.get("id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok()).map(|id| (id, e))
            })
            .collect();
        for id in ids.iter().filter_map(|id| Uuid::parse_str(id).ok()) {
            let row = present.get(&id);
            match row {
                Some(r) => state.digest.set(entity, &id.to_string(), r),
                None => state.digest.remove(entity, &id.to_string()),
            }
            match entity {
                "routes" => {
                    match row.map(|e| RouteSpec::from_entity(e)) {
                        Some(Ok(spec)) => {
                            state.routes.insert(id, Arc::new(spec));
                        }
                        Some(Err(err)) => {
                            tracing::warn!(%err, "route skipped");
                            state.routes.remove(&id);
                        }
                        None => {
                            state.routes.remove(&id);
                        }
                    }
                    state.delta.insert(id);
                    changed.routes = true;
                }
                _ => {
                    let was_enabled = state.services.get(&id).map(|s| s.enabled);
                    match row.map(|e| ServiceSpec::from_entity(e)) {
                        Some(Ok(spec)) => {
                            Arc::make_mut(&mut state.services).insert(id, Arc::new(spec));
                        }
                        _ => {
                            Arc::make_mut(&mut state.services).remove(&id);
                        }
                    }
                    // Routes of a disabled service leave the router, so flipping `enabled` rebuilds it.
                    let now_enabled = state.services.get(&id).map(|s| s.enabled);
                    // A service that appears disabled (or was unreadable) also takes its routes out.
                    let flipped = match (was_enabled, now_enabled) {
                        (Some(a), Some(b)) => a != b,
                        (None, Some(false)) => true,
                        _ => false,
                    };
                    changed.routes |= flipped;
                    changed.full |= flipped;
                    changed.services = true;
                }
            }
        }
        Ok(())
    }

    /// Wakes the catch-up loop whenever PostgreSQL notifies a commit, so other nodes' writes apply within
    /// milliseconds instead of at the next poll. Reconnects with a backoff; on SQLite there is nothing to
    /// listen to and polling alone follows the log.
    async fn listen(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.listen_changes().await {
                Ok(None) => return,
                Ok(Some(mut listener)) => {
                    backoff = Duration::from_millis(100);
                    // A catch-up after (re)connecting covers anything committed while not listening.
                    self.wake.notify_one();
                    loop {
                        tokio::select! {
                            received = listener.recv() => match received {
                                Ok(()) => self.wake.notify_one(),
                                Err(e) => {
                                    tracing::debug!(error = %e, "change notifications interrupted");
                                    break;
                                }
                            },
                            _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot listen for change notifications"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Rebuilds the TLS certificate store from the tables. Certificates are few and change rarely, so a
    /// full reload is simpler than tracking them one by one; the swap is atomic for new handshakes.
    async fn reload_certificates(&self) -> anyhow::Result<()> {
        let certificates = self.reader().all_entities(schema_by_name("certificates").context("schema")?).await?;
        let snis = self.reader().all_entities(schema_by_name("snis").context("schema")?).await?;
        let store = gatehouse_proxy::tls::CertStore::build(&certificates, &snis, self.default_certificate.clone());
        self.proxy.certificates().store(store);
        Ok(())
    }

    /// Reloads the CA certificates services verify their upstreams against.
    async fn reload_ca_certificates(&self, state: &mut State) -> anyhow::Result<()> {
        let rows = self.reader().all_entities(schema_by_name("ca_certificates").context("schema")?).await?;
        let map = rows
            .iter()
            .filter_map(|r| {
                let id = r.get("id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok())?;
                Some((id, r.get("cert").and_then(|v| v.as_str())?.to_string()))
            })
            .collect();
        state.ca_certificates = Arc::new(map);
        Ok(())
    }

    /// Rebuilds every upstream's balancer from the tables, carrying health state over by address (a
    /// configuration change must not reset health), and starts their active checks.
    /// Loads every upstream and target and builds every balancer (start-up and resync).
    async fn reload_balancers(&self, state: &mut State) -> anyhow::Result<()> {
        let upstreams = self.reader().all_entities(schema_by_name("upstreams").context("schema")?).await?;
        let targets = self.reader().all_entities(schema_by_name("targets").context("schema")?).await?;
        for (entity, rows) in [("upstreams", &upstreams), ("targets", &targets)] {
            state.digest.clear(entity);
            for row in rows.iter() {
                let id = row.get("id").and_then(|v| v.as_str()).unwrap_or_default();
                state.digest.set(entity, id, row);
            }
        }
        state.balancer_rows.replace_all(upstreams, targets);
        self.rebuild_balancers(state, None).await
    }

    /// Re-reads the changed upstreams and targets and rebuilds only their balancers.
    async fn apply_balancer_events(&self, state: &mut State, events: &[gatehouse_store::Change]) -> anyhow::Result<()> {
        let mut affected = std::collections::HashSet::new();
        for entity in ["upstreams", "targets"] {
            let ids: Vec<String> =
                events.iter().filter(|e| e.entity_name == entity).map(|e| e.entity_id.clone()).collect();
            if ids.is_empty() {
                continue;
            }
            let rows = self.reader().get_many(schema_by_name(entity).context("schema")?, &ids).await?;
            let present: std::collections::HashSet<&str> =
                rows.iter().filter_map(|r| r.get("id").and_then(|v| v.as_str())).collect();
            for id in &ids {
                if !present.contains(id.as_str()) {
                    state.digest.remove(entity, id);
                }
            }
            for row in &rows {
                state.digest.set(entity, row.get("id").and_then(|v| v.as_str()).unwrap_or_default(), row);
            }
            let uuids: Vec<Uuid> = ids.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect();
            affected.extend(if entity == "upstreams" {
                state.balancer_rows.apply_upstreams(&uuids, rows)
            } else {
                state.balancer_rows.apply_targets(&uuids, rows)
            });
        }
        self.rebuild_balancers(state, Some(affected)).await
    }

    /// Builds the balancers of `affected` upstreams (all when `None`) on a blocking thread, since hostname
    /// targets are resolved with blocking system calls, and starts active health checks for the new ones.
    async fn rebuild_balancers(
        &self,
        state: &mut State,
        affected: Option<std::collections::HashSet<Uuid>>,
    ) -> anyhow::Result<()> {
        let mut rows = std::mem::take(&mut state.balancer_rows);
        let previous = state.balancers.clone();
        let resolver = gatehouse_proxy::balancer::DnsResolver::new(self.proxy.dns(), tokio::runtime::Handle::current());
        let (rows, (built, rebuilt)) = tokio::task::spawn_blocking(move || {
            let result = rows.build(&previous, affected.as_ref(), &resolver);
            (rows, result)
        })
        .await?;
        state.balancer_rows = rows;
        for balancer in rebuilt {
            if balancer.uses_healthchecks() {
                balancer.spawn_active_checks(self.stop.clone(), self.proxy.probe_tls());
            }
        }
        state.balancers = Arc::new(built);
        Ok(())
    }

    /// Resolves hostname targets again once their DNS answers expire, as Kong's balancer does, checking
    /// every second (answers live for their TTL, which is independent of the change-log poll).
    async fn refresh_expired_targets(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            let mut state = self.state.lock().await;
            let expired = state.balancer_rows.dns_due(Instant::now());
            if expired.is_empty() {
                continue;
            }
            match self.rebuild_balancers(&mut state, Some(expired)).await {
                Ok(()) => self.publish(&mut state, Applied { balancers: true, ..Applied::default() }),
                Err(e) => tracing::warn!(error = %e, "re-resolving balancer targets failed"),
            }
        }
    }

    /// Deletes change events past retention (any node may; the work is idempotent and batched) and
    /// resyncs if this node's position fell behind what was deleted, since it cannot prove it missed nothing.
    async fn maintain_change_log(&self) {
        match self.store.trim_changes(CHANGE_RETENTION_SECS, 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "change log trimmed"),
            Err(e) => tracing::debug!(error = %e, "change log trim failed"),
        }
        let watermark = self.state.lock().await.watermark;
        match self.reader().trimmed_through().await {
            Ok(trimmed) if watermark < trimmed => {
                tracing::warn!(watermark, trimmed, "fell behind the change log's retention; resyncing");
                if let Err(e) = self.resync().await {
                    tracing::warn!(error = %e, "resync failed");
                }
            }
            _ => {}
        }
    }

    /// Folds the delta layer into a fresh base router while nothing else is happening.
    async fn compact(&self) {
        let mut state = self.state.lock().await;
        if !state.delta.is_empty() {
            self.publish(&mut state, Applied { routes: true, services: true, full: true, ..Default::default() });
        }
    }

    fn publish(&self, state: &mut State, changed: Applied) {
        let started = Instant::now();
        state.version += 1;
        let mut snapshot = if changed.full || state.delta.len() > DELTA_LIMIT {
            state.delta.clear();
            let routes: Vec<Arc<RouteSpec>> = state.routes.values().cloned().collect();
            Snapshot::from_shared(routes, state.services.clone(), state.version)
        } else if changed.routes {
            let layer: Vec<Arc<RouteSpec>> =
                state.delta.iter().filter_map(|id| state.routes.get(id).cloned()).collect();
            self.proxy.current().layered(layer, state.delta.clone(), state.services.clone(), state.version)
        } else {
            self.proxy.current().with_services(state.services.clone(), state.version)
        };
        snapshot.balancers = state.balancers.clone();
        snapshot.ca_certificates = state.ca_certificates.clone();
        snapshot.plugins = state.plugins.current();
        self.proxy.publish(snapshot);
        tracing::debug!(
            version = state.version,
            routes = state.routes.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "snapshot published"
        );
    }

    /// Catches up whenever a sync is requested, and at least every `every` to pick up other nodes' writes,
    /// until `stop` turns true. While the database is unreachable the last snapshot keeps serving; on
    /// recovery the follower resyncs.
    pub async fn run(self: Arc<Self>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let listener = tokio::spawn(self.clone().listen(stop.clone()));
        tokio::spawn(self.clone().refresh_expired_targets(stop.clone()));
        let mut failing = false;
        let (mut last_compaction, mut last_maintenance) = (Instant::now(), Instant::now());
        loop {
            let idle = tokio::select! {
                _ = self.wake.notified() => false,
                _ = tokio::time::sleep(every) => true,
                _ = async { let _ = stop.wait_for(|v| *v).await; } => {
                    listener.abort();
                    // Release writers still waiting in `sync` so in-flight Admin API requests can finish.
                    self.covered.send_replace(u64::MAX);
                    return;
                }
            };
            // On their own clocks: a busy cluster (NOTIFY more often than the poll) is never idle.
            if idle || last_compaction.elapsed() >= COMPACT_EVERY {
                self.compact().await;
                last_compaction = Instant::now();
            }
            if last_maintenance.elapsed() >= MAINTENANCE_EVERY && !failing {
                self.maintain_change_log().await;
                last_maintenance = Instant::now();
            }
            let ticket = self.requested.load(std::sync::atomic::Ordering::SeqCst);
            let waiting = ticket > *self.covered.borrow();
            self.primary_reads.store(waiting && self.store.has_read_replica(), std::sync::atomic::Ordering::Release);
            match self.catch_up().await {
                Ok(()) if failing => {
                    tracing::info!("database reachable again; resyncing");
                    failing = self.resync().await.is_err();
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the change log; serving the last configuration");
                    }
                    failing = true;
                }
            }
            // Waiters are released even after a failure: their writes committed, and the next successful
            // catch-up applies them.
            self.covered.send_replace(ticket);
        }
    }
}

/// Sets a target's health as some node's Admin API was told to (Kong's cluster-wide broadcast).
fn apply_health_override(state: &State, event: &gatehouse_store::Change) {
    let Some(wanted) = gatehouse_store::HealthOverride::from_op(&event.op) else { return };
    let address = wanted.address.as_deref().and_then(|a| a.parse().ok());
    let applied = Uuid::parse_str(&event.entity_id)
        .ok()
        .and_then(|id| state.balancers.by_id.get(&id))
        .is_some_and(|balancer| balancer.set_health(&wanted.target, address, wanted.healthy));
    if !applied {
        tracing::debug!(upstream = %event.entity_id, target = %wanted.target, "health override for an unknown target");
    }
}

/// Moves the watermark over contiguous applied events, and over a hole that stayed open too long.
fn advance(state: &mut State) {
    loop {
        let next = state.watermark + 1;
        if state.seen_above.remove(&next) {
            state.watermark = next;
            state.hole_since = None;
            continue;
        }
        if state.seen_above.is_empty() {
            state.hole_since = None;
            return;
        }
        let since = *state.hole_since.get_or_insert_with(Instant::now);
        if since.elapsed() < HOLE_TIMEOUT {
            return;
        }
        let resume = state.seen_above.first().copied().unwrap_or(next) - 1;
        tracing::debug!(from = next, to = resume, "moving past a change-log hole; watching it for late commits");
        for seq in next..=resume {
            state.skipped.insert(seq, Instant::now());
        }
        state.watermark = resume;
        state.hole_since = None;
    }
}
