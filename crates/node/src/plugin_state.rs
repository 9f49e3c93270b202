//! The node's plugin configuration and entity cache: plugin entities kept by id and compiled into a new
//! `PluginSet` when they change, and the store behind the cache of consumers and credentials.

use gatehouse_plugins::cache::{EntitySource, LookupError, Row};
use gatehouse_plugins::{CacheSettings, EntityCache, PluginSet, Registry};
use gatehouse_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Plugin entities by id and the set compiled from them.
pub struct PluginState {
    rows: HashMap<Uuid, Row>,
    /// The `plugins` property: configs of other plugins stay in the database but do not run here.
    enabled: std::collections::HashSet<String>,
    registry: Registry,
    cache: Arc<EntityCache>,
    current: Arc<PluginSet>,
}

impl PluginState {
    pub fn new(cache: Arc<EntityCache>, enabled: impl IntoIterator<Item = String>) -> PluginState {
        PluginState {
            rows: HashMap::new(),
            enabled: enabled.into_iter().collect(),
            registry: Registry::default(),
            cache,
            current: Arc::default(),
        }
    }

    pub fn cache(&self) -> &Arc<EntityCache> {
        &self.cache
    }

    /// The set the latest snapshot serves.
    pub fn current(&self) -> Arc<PluginSet> {
        self.current.clone()
    }

    /// Replaces every plugin entity (resync).
    pub fn replace_all(&mut self, rows: Vec<Row>) {
        self.rows = rows.into_iter().filter_map(|r| Some((id_of(&r)?, r))).collect();
        self.rebuild();
    }

    /// Applies changed plugin entities: `rows` holds those that still exist among `ids`.
    pub fn apply(&mut self, ids: &[String], rows: Vec<Row>) {
        for id in ids.iter().filter_map(|id| Uuid::parse_str(id).ok()) {
            self.rows.remove(&id);
        }
        for row in rows {
            if let Some(id) = id_of(&row) {
                self.rows.insert(id, row);
            }
        }
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let enabled = |row: &&Row| {
            let name = row.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            let on = self.enabled.contains(name);
            if !on {
                tracing::error!(
                    plugin = name,
                    "plugin is in use but not enabled in the 'plugins' property; it does not run"
                );
            }
            on
        };
        let rows: Vec<&Row> = self.rows.values().filter(enabled).collect();
        let (set, skipped) = PluginSet::build(rows, &self.registry, self.cache.clone());
        for skip in skipped {
            tracing::error!(%skip, "plugin left out of the configuration");
        }
        self.current = Arc::new(set);
    }
}

fn id_of(row: &Row) -> Option<Uuid> {
    row.get("id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok())
}

/// The cache settings kong.conf gives: `db_cache_ttl`, `db_cache_neg_ttl`, `db_resurrect_ttl`, and a
/// bound on entries derived from `mem_cache_size` (about a kilobyte per cached entity).
pub fn cache_settings(config: &crate::config::Config) -> CacheSettings {
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
    CacheSettings {
        ttl: seconds(config.db_cache_ttl),
        neg_ttl: seconds(config.effective_db_cache_neg_ttl()),
        resurrect_ttl: seconds(config.db_resurrect_ttl),
        max_entries: (config.mem_cache_size / 1024).max(1024),
    }
}

/// The store as the entity cache's source.
pub struct StoreSource(pub Store);

fn lookup_error(error: gatehouse_store::StoreError) -> LookupError {
    LookupError(Arc::from(error.to_string()))
}

impl EntitySource for StoreSource {
    fn find<'a>(
        &'a self,
        table: &'static str,
        field: &'static str,
        value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<Row>, LookupError>> {
        Box::pin(async move {
            let Some(schema) = gatehouse_model::schema_by_name(table) else { return Ok(None) };
            let found =
                if field == "id" { self.0.get(schema, value).await } else { self.0.get_by(schema, field, value).await };
            found.map_err(lookup_error)
        })
    }

    fn of_consumer<'a>(
        &'a self,
        table: &'static str,
        consumer_id: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<Row>, LookupError>> {
        Box::pin(async move {
            let Some(schema) = gatehouse_model::schema_by_name(table) else { return Ok(Vec::new()) };
            if Uuid::parse_str(consumer_id).is_err() {
                return Ok(Vec::new());
            }
            self.0.children(schema, "consumer", consumer_id).await.map_err(lookup_error)
        })
    }
}
