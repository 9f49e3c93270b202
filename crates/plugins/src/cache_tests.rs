//! The cache's own rules, with the database replaced by a table in memory that counts queries and can be
//! made unreachable. (End-to-end tests cover the real store.)

use super::*;
use serde_json::json;
use std::sync::atomic::AtomicBool;

#[derive(Default)]
struct Table {
    rows: Mutex<HashMap<String, Row>>,
    queries: AtomicU64,
    down: AtomicBool,
    /// Each query waits this long, so concurrent misses overlap.
    delay: Duration,
}

impl EntitySource for Table {
    fn find<'a>(
        &'a self,
        _: &'static str,
        _: &'static str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, LookupError>> {
        Box::pin(async move {
            self.queries.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.down.load(Ordering::SeqCst) {
                return Err(LookupError(Arc::from("connection refused")));
            }
            Ok(self.rows.lock().unwrap().get(value).cloned())
        })
    }
    fn of_consumer<'a>(&'a self, _: &'static str, _: &'a str) -> BoxFuture<'a, Result<Vec<Row>, LookupError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

const ID: &str = "00000000-0000-4000-8000-000000000001";

fn key_row(key: &str) -> Row {
    json!({"id": ID, "key": key, "consumer": {"id": ID}}).as_object().cloned().unwrap()
}

fn key_of(rows: &[Row]) -> Option<String> {
    rows.first().and_then(|r| r.get("key")).and_then(Value::as_str).map(str::to_string)
}

fn cache(table: Arc<Table>, settings: CacheSettings) -> Arc<EntityCache> {
    EntityCache::new(table, settings)
}

#[tokio::test]
async fn concurrent_misses_share_one_query_and_hits_query_nothing() {
    let table = Arc::new(Table { delay: Duration::from_millis(50), ..Default::default() });
    table.rows.lock().unwrap().insert("k1".into(), key_row("k1"));
    let cache = cache(table.clone(), CacheSettings::default());
    let lookups = (0..20).map(|_| cache.get(Kind::KeyAuth, "k1", key_of));
    let results = futures_util::future::join_all(lookups).await;
    assert!(results.iter().all(|r| r.as_ref().ok().and_then(|v| v.as_deref().cloned()) == Some("k1".into())));
    assert_eq!(table.queries.load(Ordering::SeqCst), 1);
    for _ in 0..10 {
        cache.get(Kind::KeyAuth, "k1", key_of).await.unwrap();
    }
    assert_eq!(table.queries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn misses_are_cached_until_the_row_appears() {
    let table = Arc::new(Table::default());
    let cache = cache(table.clone(), CacheSettings::default());
    assert!(cache.get(Kind::KeyAuth, "k2", key_of).await.unwrap().is_none());
    assert!(cache.get(Kind::KeyAuth, "k2", key_of).await.unwrap().is_none());
    assert_eq!(table.queries.load(Ordering::SeqCst), 1, "the miss is cached");
    let row = key_row("k2");
    table.rows.lock().unwrap().insert("k2".into(), row.clone());
    cache.invalidate("keyauth_credentials", ID, Some(&row)).await;
    assert_eq!(cache.get(Kind::KeyAuth, "k2", key_of).await.unwrap().as_deref(), Some(&"k2".to_string()));
}

#[tokio::test]
async fn invalidation_by_id_drops_entries_under_their_old_keys() {
    let table = Arc::new(Table::default());
    table.rows.lock().unwrap().insert("old".into(), key_row("old"));
    let cache = cache(table.clone(), CacheSettings::default());
    assert!(cache.get(Kind::KeyAuth, "old", key_of).await.unwrap().is_some());
    // The key is renamed: the follower knows only the id and the new row.
    table.rows.lock().unwrap().clear();
    let renamed = key_row("new");
    table.rows.lock().unwrap().insert("new".into(), renamed.clone());
    cache.invalidate("keyauth_credentials", ID, Some(&renamed)).await;
    assert!(cache.get(Kind::KeyAuth, "old", key_of).await.unwrap().is_none());
    assert!(cache.get(Kind::KeyAuth, "new", key_of).await.unwrap().is_some());
}

#[tokio::test]
async fn stale_entries_are_served_while_the_source_is_down() {
    let table = Arc::new(Table::default());
    table.rows.lock().unwrap().insert("k3".into(), key_row("k3"));
    let settings =
        CacheSettings { ttl: Duration::from_millis(50), resurrect_ttl: Duration::from_secs(30), ..Default::default() };
    let cache = cache(table.clone(), settings);
    assert!(cache.get(Kind::KeyAuth, "k3", key_of).await.unwrap().is_some());
    table.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(cache.get(Kind::KeyAuth, "k3", key_of).await.unwrap().is_some(), "stale entry resurrected");
    let queries = table.queries.load(Ordering::SeqCst);
    assert!(cache.get(Kind::KeyAuth, "k3", key_of).await.unwrap().is_some());
    assert_eq!(table.queries.load(Ordering::SeqCst), queries, "a resurrected entry is fresh for db_resurrect_ttl");
    assert!(cache.get(Kind::KeyAuth, "unknown", key_of).await.is_err(), "nothing stale to fall back on");
}

#[tokio::test]
async fn a_load_that_overlaps_an_invalidation_is_repeated() {
    let table = Arc::new(Table { delay: Duration::from_millis(100), ..Default::default() });
    table.rows.lock().unwrap().insert("k4".into(), key_row("k4"));
    let cache = cache(table.clone(), CacheSettings::default());
    let lookup = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get(Kind::KeyAuth, "k4", key_of).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    // The row is deleted while the first read is in flight.
    table.rows.lock().unwrap().clear();
    cache.invalidate("keyauth_credentials", ID, None).await;
    let seen = lookup.await.unwrap().unwrap();
    assert!(seen.is_none(), "the read that began before the delete must not be cached as current");
    assert!(cache.get(Kind::KeyAuth, "k4", key_of).await.unwrap().is_none());
}

/// A single-threaded runtime, as each proxy worker runs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs `f` on a new thread with its own runtime (so with its own cache front) and returns its result.
fn on_new_thread<T: Send + 'static>(f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static) -> T {
    std::thread::spawn(move || f(&runtime())).join().unwrap()
}

/// Each thread answers hits from its own front; an invalidation on one thread must reach the others.
#[test]
fn an_invalidation_reaches_the_fronts_of_other_threads() {
    let table = Arc::new(Table::default());
    table.rows.lock().unwrap().insert("k3".into(), key_row("k3"));
    let cache = cache(table.clone(), CacheSettings::default());
    let on_thread = |cache: Arc<EntityCache>| {
        on_new_thread(move |runtime| {
            runtime.block_on(async { cache.get(Kind::KeyAuth, "k3", key_of).await.unwrap().as_deref().cloned() })
        })
    };
    let runtime = runtime();
    assert_eq!(runtime.block_on(cache.get(Kind::KeyAuth, "k3", key_of)).unwrap().as_deref(), Some(&"k3".into()));
    assert_eq!(on_thread(cache.clone()), Some("k3".into()));
    let queries = table.queries.load(Ordering::SeqCst);
    assert_eq!(runtime.block_on(cache.get(Kind::KeyAuth, "k3", key_of)).unwrap().as_deref(), Some(&"k3".into()));
    assert_eq!(table.queries.load(Ordering::SeqCst), queries, "a hit on this thread's front");
    // The row is deleted; another thread applies the change.
    table.rows.lock().unwrap().clear();
    let invalidating = cache.clone();
    on_new_thread(move |runtime| runtime.block_on(invalidating.invalidate("keyauth_credentials", ID, None)));
    assert_eq!(runtime.block_on(cache.get(Kind::KeyAuth, "k3", key_of)).unwrap(), None, "this thread's front");
    assert_eq!(on_thread(cache), None);
}

/// A value with a header, as the credentials are.
struct Tagged(http::HeaderValue);

impl ThreadCopy for Tagged {
    fn thread_copy(&self) -> Self {
        Tagged(own_header(&self.0))
    }
}

fn tagged(rows: &[Row]) -> Option<Tagged> {
    key_of(rows).and_then(|k| http::HeaderValue::from_str(&k).ok()).map(Tagged)
}

#[test]
fn each_thread_holds_its_own_copy_and_still_sees_invalidations() {
    let table = Arc::new(Table::default());
    table.rows.lock().unwrap().insert("k1".into(), key_row("k1"));
    let cache = cache(table.clone(), CacheSettings::default());
    let lookup = |cache: Arc<EntityCache>| {
        on_new_thread(move |runtime| {
            let first = runtime.block_on(cache.get_local(Kind::KeyAuth, "k1", tagged)).unwrap().unwrap();
            let again = runtime.block_on(cache.get_local(Kind::KeyAuth, "k1", tagged)).unwrap().unwrap();
            assert!(Arc::ptr_eq(&first, &again), "a thread's hits return its one copy");
            first
        })
    };
    let (a, b) = (lookup(cache.clone()), lookup(cache.clone()));
    assert!(!Arc::ptr_eq(&a, &b), "two threads share no copy");
    assert_eq!((a.0.as_bytes(), b.0.as_bytes()), (&b"k1"[..], &b"k1"[..]));
    assert_ne!(a.0.as_bytes().as_ptr(), b.0.as_bytes().as_ptr(), "nor a header buffer");
    assert_eq!(table.queries.load(Ordering::SeqCst), 1);
    // A change to the row reaches a thread that holds a copy.
    let runtime = runtime();
    runtime.block_on(cache.get_local(Kind::KeyAuth, "k1", tagged)).unwrap().unwrap();
    table.rows.lock().unwrap().remove("k1");
    runtime.block_on(cache.invalidate("keyauth_credentials", ID, None));
    assert!(runtime.block_on(cache.get_local(Kind::KeyAuth, "k1", tagged)).unwrap().is_none());
}
