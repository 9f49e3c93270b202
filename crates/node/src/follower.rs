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
const BATCH: i64 = 1000;
const RESYNC_LOOKBACK: i64 = 256;

struct State {
    /// Every event with a sequence number up to here has been applied (or skipped as rolled back).
    watermark: i64,
    /// Applied events above the watermark.
    seen_above: BTreeSet<i64>,
    /// When the hole right above the watermark was first noticed.
    hole_since: Option<Instant>,
    routes: HashMap<Uuid, RouteSpec>,
    services: HashMap<Uuid, Arc<ServiceSpec>>,
    version: u64,
}

/// The change follower of one node.
pub struct Follower {
    store: Store,
    proxy: Arc<Proxy>,
    state: tokio::sync::Mutex<State>,
}

impl Follower {
    /// Loads the whole configuration and publishes the first snapshot.
    pub async fn start(store: Store, proxy: Arc<Proxy>) -> anyhow::Result<Arc<Follower>> {
        let state = State {
            watermark: 0,
            seen_above: BTreeSet::new(),
            hole_since: None,
            routes: HashMap::new(),
            services: HashMap::new(),
            version: 0,
        };
        let follower = Arc::new(Follower { store, proxy, state: tokio::sync::Mutex::new(state) });
        follower.resync().await?;
        Ok(follower)
    }

    /// Reloads everything from the tables (start-up, and later after gaps the log cannot fill).
    pub async fn resync(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let started = Instant::now();
        let watermark = self.store.latest_change_seq().await?;
        let routes_schema = schema_by_name("routes").context("routes schema")?;
        let services_schema = schema_by_name("services").context("services schema")?;
        let routes = self.store.all_entities(routes_schema).await?;
        let services = self.store.all_entities(services_schema).await?;
        state.routes = routes
            .iter()
            .filter_map(|e| RouteSpec::from_entity(e).map_err(|err| tracing::warn!(%err, "route skipped")).ok())
            .map(|r| (r.id, r))
            .collect();
        state.services = services
            .iter()
            .filter_map(|e| ServiceSpec::from_entity(e).map_err(|err| tracing::warn!(%err, "service skipped")).ok())
            .map(|s| (s.id, Arc::new(s)))
            .collect();
        // Transactions that took a number below the newest one may still commit after this read; starting a
        // little below it makes the first catch-up re-read them (re-applying an event is harmless).
        state.watermark = (watermark - RESYNC_LOOKBACK).max(0);
        state.seen_above.clear();
        state.hole_since = None;
        self.publish(&mut state);
        tracing::info!(
            routes = state.routes.len(),
            services = state.services.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "configuration loaded"
        );
        Ok(())
    }

    /// Applies every change event committed so far. Returns once the published snapshot includes them.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let mut changed = false;
        loop {
            let events = self.store.changes_since(state.watermark, BATCH).await?;
            let fresh: Vec<_> = events.into_iter().filter(|e| !state.seen_above.contains(&e.seq)).collect();
            if fresh.is_empty() {
                break;
            }
            let count = fresh.len();
            for event in fresh {
                changed |= self.apply(&mut state, &event.entity_name, &event.entity_id).await?;
                state.seen_above.insert(event.seq);
            }
            advance(&mut state);
            if (count as i64) < BATCH {
                break;
            }
        }
        advance(&mut state);
        if changed {
            self.publish(&mut state);
        }
        Ok(())
    }

    /// Re-reads one changed entity. Returns whether the proxy's configuration changed.
    async fn apply(&self, state: &mut State, entity: &str, id: &str) -> anyhow::Result<bool> {
        let Ok(uuid) = Uuid::parse_str(id) else { return Ok(false) };
        match entity {
            "routes" => {
                let schema = schema_by_name("routes").context("routes schema")?;
                match self.store.get(schema, id).await? {
                    Some(e) => match RouteSpec::from_entity(&e) {
                        Ok(spec) => {
                            state.routes.insert(uuid, spec);
                        }
                        Err(err) => {
                            tracing::warn!(%err, "route skipped");
                            state.routes.remove(&uuid);
                        }
                    },
                    None => {
                        state.routes.remove(&uuid);
                    }
                }
                Ok(true)
            }
            "services" => {
                let schema = schema_by_name("services").context("services schema")?;
                match self.store.get(schema, id).await?.map(|e| ServiceSpec::from_entity(&e)) {
                    Some(Ok(spec)) => {
                        state.services.insert(uuid, Arc::new(spec));
                    }
                    _ => {
                        state.services.remove(&uuid);
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn publish(&self, state: &mut State) {
        state.version += 1;
        let routes: Vec<RouteSpec> = state.routes.values().cloned().collect();
        let snapshot = Snapshot::from_specs(routes, state.services.clone(), state.version);
        self.proxy.publish(snapshot);
    }

    /// Polls the change log until `stop` turns true.
    pub async fn poll(self: Arc<Self>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
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
        }
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
        tracing::debug!(from = next, to = resume, "skipping a change-log hole (rolled-back transactions)");
        state.watermark = resume;
        state.hole_since = None;
    }
}
