//! The node's entity cache for large entity sets (consumers, credentials, ACL groups), as Kong's
//! `kong.cache`: loaded on demand, bounded, shared by all requests, and invalidated by the change follower.
//!
//! - `db_cache_ttl` (0 = until invalidated) and `db_cache_neg_ttl` bound how long a hit or a miss is trusted.
//! - Concurrent misses for one key run one query (moka's `try_get_with`).
//! - While the database is unreachable, an expired entry is served for another `db_resurrect_ttl`.
//! - A load that overlaps an invalidation is repeated, so a row read before a change committed can never be
//!   cached after the change was applied.
//!
//! Lookups on a hit take no lock and allocate nothing: each thread first asks its own front
//! ([`near_cache`](crate::near_cache)), then the shared cache of that kind, keyed by the lookup string.

use crate::near_cache::{self, NearEntry};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A row as the store returns it.
pub type Row = Map<String, Value>;

/// Why a lookup could not be answered (the database is unreachable and nothing stale is left).
#[derive(Debug, Clone, thiserror::Error)]
#[error("entity lookup failed: {0}")]
pub struct LookupError(pub Arc<str>);

/// Where the cache loads rows from; the node implements it over its store.
pub trait EntitySource: Send + Sync + 'static {
    /// The row of `table` whose `field` (`id` or a unique column) equals `value`.
    fn find<'a>(
        &'a self,
        table: &'static str,
        field: &'static str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, LookupError>>;
    /// The rows of `table` that belong to consumer `consumer_id`.
    fn of_consumer<'a>(
        &'a self,
        table: &'static str,
        consumer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Row>, LookupError>>;
}

/// A source with no rows, for a node or a test that has no database behind its cache.
pub struct NoRows;

impl EntitySource for NoRows {
    fn find<'a>(
        &'a self,
        _: &'static str,
        _: &'static str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, LookupError>> {
        Box::pin(async { Ok(None) })
    }
    fn of_consumer<'a>(&'a self, _: &'static str, _: &'a str) -> BoxFuture<'a, Result<Vec<Row>, LookupError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Cache settings from kong.conf.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// `db_cache_ttl`; zero keeps entries until invalidated.
    pub ttl: Duration,
    /// `db_cache_neg_ttl` for misses; zero keeps them until invalidated.
    pub neg_ttl: Duration,
    /// `db_resurrect_ttl`: how long stale entries keep serving while the database is unreachable.
    pub resurrect_ttl: Duration,
    /// Entries per kind (from `mem_cache_size`).
    pub max_entries: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::ZERO,
            neg_ttl: Duration::ZERO,
            resurrect_ttl: Duration::from_secs(30),
            max_entries: 100_000,
        }
    }
}

/// The kinds of cached lookups; each has its own map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ConsumerById,
    ConsumerByUsername,
    KeyAuth,
    BasicAuth,
    Jwt,
    HmacAuth,
    /// A consumer's ACL groups, keyed by consumer id.
    AclGroups,
}

/// How many kinds there are (the shared cache and the per-thread front have a map for each).
pub(crate) const KINDS: usize = Kind::AclGroups as usize + 1;

impl Kind {
    /// Every kind, in the order of their maps.
    const ALL: [Kind; KINDS] = [
        Kind::ConsumerById,
        Kind::ConsumerByUsername,
        Kind::KeyAuth,
        Kind::BasicAuth,
        Kind::Jwt,
        Kind::HmacAuth,
        Kind::AclGroups,
    ];

    /// The table and field a single-row lookup reads.
    fn lookup(self) -> (&'static str, &'static str) {
        match self {
            Kind::ConsumerById => ("consumers", "id"),
            Kind::ConsumerByUsername => ("consumers", "username"),
            Kind::KeyAuth => ("keyauth_credentials", "key"),
            Kind::BasicAuth => ("basicauth_credentials", "username"),
            Kind::Jwt => ("jwt_secrets", "key"),
            Kind::HmacAuth => ("hmacauth_credentials", "username"),
            Kind::AclGroups => ("acls", "consumer"),
        }
    }

    /// The lookup keys under which `row` of `table` would be cached.
    fn keys_of(table: &str, row: &Row) -> Vec<(Kind, String)> {
        let text = |f: &str| row.get(f).and_then(Value::as_str).map(str::to_string);
        let consumer = || row.get("consumer").and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_string);
        let pairs: Vec<(Kind, Option<String>)> = match table {
            "consumers" => vec![(Kind::ConsumerById, text("id")), (Kind::ConsumerByUsername, text("username"))],
            "keyauth_credentials" => vec![(Kind::KeyAuth, text("key"))],
            "basicauth_credentials" => vec![(Kind::BasicAuth, text("username"))],
            "jwt_secrets" => vec![(Kind::Jwt, text("key"))],
            "hmacauth_credentials" => vec![(Kind::HmacAuth, text("username"))],
            "acls" => vec![(Kind::AclGroups, consumer())],
            _ => Vec::new(),
        };
        pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
    }
}

/// Tables whose changes the cache must hear about.
pub const CACHED_TABLES: &[&str] =
    &["consumers", "keyauth_credentials", "basicauth_credentials", "jwt_secrets", "hmacauth_credentials", "acls"];

#[derive(Clone)]
struct Entry {
    value: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// The ids of the rows this entry was built from, for invalidation by id.
    ids: Arc<[Uuid]>,
    expires: Option<Instant>,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

type Inner = moka::future::Cache<String, Entry>;

/// Entries per kind a thread's front holds at most.
const NEAR_CAP: usize = 10_000;

/// Cache keys by the id of the row they were built from.
type KeyIndex = Arc<Mutex<HashMap<Uuid, Vec<(Kind, String)>>>>;

/// The entity cache of one node.
pub struct EntityCache {
    source: Arc<dyn EntitySource>,
    settings: CacheSettings,
    /// One map per kind, by `Kind as usize`.
    maps: [Inner; KINDS],
    /// Which cache keys were built from which row, so a change to a row (its old key included) drops them.
    by_id: KeyIndex,
    /// Bumped by every invalidation; a load that saw it move is repeated, and the per-thread fronts
    /// drop what they hold from an older epoch.
    epoch: AtomicU64,
    /// Tells this cache's entries apart in the per-thread fronts.
    id: u64,
}

/// A cached value a thread can hold its own copy of (see [`EntityCache::get_local`]): a deep copy, so that
/// nothing inside it (header values included) shares a reference count with another thread's copy.
pub trait ThreadCopy {
    fn thread_copy(&self) -> Self;
}

/// A header value with its own buffer (a clone shares the original's).
pub fn own_header(value: &http::HeaderValue) -> http::HeaderValue {
    let mut copy = http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

/// Turns loaded rows into the typed value a plugin uses (a credential with its verify key compiled, ...).
pub type Build<T> = fn(&[Row]) -> Option<T>;

impl EntityCache {
    pub fn new(source: Arc<dyn EntitySource>, settings: CacheSettings) -> Arc<EntityCache> {
        let by_id: KeyIndex = Arc::default();
        let maps = Kind::ALL.map(|kind| {
            let index = by_id.clone();
            moka::future::Cache::builder()
                .max_capacity(settings.max_entries.max(1))
                .eviction_listener(move |key: Arc<String>, entry: Entry, _cause| {
                    let Ok(mut index) = index.lock() else { return };
                    for id in entry.ids.iter() {
                        if let Some(keys) = index.get_mut(id) {
                            keys.retain(|(k, v)| !(*k == kind && v == key.as_str()));
                            if keys.is_empty() {
                                index.remove(id);
                            }
                        }
                    }
                })
                .build()
        });
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Arc::new(EntityCache { source, settings, maps, by_id, epoch: AtomicU64::new(0), id })
    }

    /// Looks `key` up in the `kind` map, loading and building it on a miss. The value is shared by all
    /// threads; [`get_local`](Self::get_local) is cheaper for values looked up on every request.
    pub async fn get<T: Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        build: Build<T>,
    ) -> Result<Option<Arc<T>>, LookupError> {
        self.lookup(kind, key, build, |shared| shared.clone()).await
    }

    /// Like [`get`](Self::get), but each worker thread keeps its own copy of the value: a hit then only
    /// touches reference counts no other core writes (a count two cores share moves its cache line
    /// between them on every clone and drop, which showed as a tenth of key-auth's cost).
    pub async fn get_local<T: ThreadCopy + Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        build: Build<T>,
    ) -> Result<Option<Arc<T>>, LookupError> {
        self.lookup(kind, key, build, |shared| Arc::new(shared.thread_copy())).await
    }

    async fn lookup<T: Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        build: Build<T>,
        local: impl FnOnce(&Arc<T>) -> Arc<T>,
    ) -> Result<Option<Arc<T>>, LookupError> {
        // Read before the shared cache is asked, so an entry fetched across an invalidation is kept under
        // the older epoch and never trusted.
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(near) = near_cache::get(self.id, epoch, kind as usize, key) {
            return Ok(near.value.and_then(|v| v.downcast::<T>().ok()));
        }
        let entry = self.get_shared(kind, key, build).await?;
        let value = downcast::<T>(&entry).map(|shared| local(&shared));
        let near = NearEntry {
            value: value.clone().map(|v| v as Arc<dyn std::any::Any + Send + Sync>),
            expires: entry.expires,
        };
        let cap = usize::try_from(self.settings.max_entries).unwrap_or(usize::MAX).clamp(1, NEAR_CAP);
        near_cache::put(self.id, epoch, kind as usize, key, near, cap);
        Ok(value)
    }

    /// The shared (all threads') cache of `kind`: an entry, loaded and built on a miss, or stale while the
    /// database is unreachable.
    async fn get_shared<T: Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        build: Build<T>,
    ) -> Result<Entry, LookupError> {
        let map = &self.maps[kind as usize];
        let now = Instant::now();
        let stale = match map.get(key).await {
            Some(entry) if entry.fresh(now) => return Ok(entry),
            Some(entry) => {
                map.invalidate(key).await;
                Some(entry)
            }
            None => None,
        };
        let loaded = map.try_get_with_by_ref(key, self.load(kind, key, build)).await;
        match (loaded, stale) {
            (Ok(entry), _) => Ok(entry),
            (Err(error), Some(mut entry)) => {
                tracing::warn!(%error, "database unreachable; serving a stale cache entry");
                entry.expires = Some(Instant::now() + self.settings.resurrect_ttl);
                map.insert(key.to_string(), entry.clone()).await;
                Ok(entry)
            }
            (Err(error), None) => Err((*error).clone()),
        }
    }

    async fn load<T: Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        build: Build<T>,
    ) -> Result<Entry, LookupError> {
        let (table, field) = kind.lookup();
        let mut attempts = 0;
        loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            let rows = if kind == Kind::AclGroups {
                self.source.of_consumer(table, key).await?
            } else {
                self.source.find(table, field, key).await?.into_iter().collect()
            };
            attempts += 1;
            if self.epoch.load(Ordering::Acquire) != epoch && attempts < 5 {
                continue;
            }
            let ids: Arc<[Uuid]> = rows
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()))
                .collect();
            if let Ok(mut index) = self.by_id.lock() {
                for id in ids.iter() {
                    index.entry(*id).or_default().push((kind, key.to_string()));
                }
            }
            let value = build(&rows).map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>);
            let ttl = if value.is_some() { self.settings.ttl } else { self.settings.neg_ttl };
            let expires = (!ttl.is_zero()).then(|| Instant::now() + ttl);
            return Ok(Entry { value, ids, expires });
        }
    }

    /// Drops what a change to row `id` of `table` makes stale: every entry built from the row (under its
    /// old keys) and every entry, negative ones included, under the keys of its new version `row`.
    pub async fn invalidate(&self, table: &str, id: &str, row: Option<&Row>) {
        if !CACHED_TABLES.contains(&table) {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut keys = row.map(|r| Kind::keys_of(table, r)).unwrap_or_default();
        if table == "consumers" {
            keys.push((Kind::ConsumerById, id.to_string()));
        }
        if let Ok(id) = Uuid::parse_str(id) {
            if let Ok(mut index) = self.by_id.lock() {
                keys.extend(index.remove(&id).unwrap_or_default());
            }
        }
        for (kind, key) in keys {
            self.maps[kind as usize].invalidate(&key).await;
        }
        // Again once the shared entries are gone: a thread that read the first bump may have fetched an
        // entry this call was about to drop.
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops everything (after a resync, when changes may have been missed).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for map in &self.maps {
            map.invalidate_all();
        }
        if let Ok(mut index) = self.by_id.lock() {
            index.clear();
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Entries currently held, per kind (for tests and status).
    pub async fn len(&self, kind: Kind) -> u64 {
        let map = &self.maps[kind as usize];
        map.run_pending_tasks().await;
        map.entry_count()
    }
}

fn downcast<T: Send + Sync + 'static>(entry: &Entry) -> Option<Arc<T>> {
    entry.value.clone().and_then(|v| v.downcast::<T>().ok())
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
