//! The storage contract, run against SQLite and a throwaway PostgreSQL cluster: migrations under a lock,
//! database-enforced keys, and change events that commit with their writes.

use gatehouse_model::{schema_by_name, ErrorCode};
use gatehouse_store::dao::Dao;
use gatehouse_store::{DbConfig, PgConfig, Store, StoreError};
use gatehouse_testkit::{PgCluster, TempDir};
use serde_json::{json, Map, Value};

struct Backend {
    config: DbConfig,
    _dir: Option<TempDir>,
}

fn sqlite() -> Backend {
    let dir = TempDir::new("store").expect("dir");
    Backend { config: DbConfig::Sqlite { path: dir.path.join("gatehouse.db") }, _dir: Some(dir) }
}

fn postgres() -> Backend {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let database = cluster.create_database("store").expect("database");
    let config = DbConfig::Postgres(PgConfig {
        pool_size: 5,
        ..PgConfig::new(cluster.host.clone(), cluster.port, cluster.user.clone(), database)
    });
    Backend { config, _dir: None }
}

async fn open(backend: &Backend) -> Store {
    Store::open(&backend.config, uuid::Uuid::new_v4()).await.expect("open")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn dao(store: &Store) -> Dao {
    Dao::new(store.clone(), ["key-auth".to_string(), "cors".to_string()])
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite()).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres()).await } )* }
    };
}

both!(
    retention_trims_in_batches_and_records_how_far,
    concurrent_migrations_run_once,
    writes_and_change_events_commit_together,
    cascading_deletes_record_every_child,
    schema_names_a_custom_pg_schema_or_sqlite_file,
);

async fn concurrent_migrations_run_once(backend: Backend) {
    let (a, b) = (open(&backend).await, open(&backend).await);
    assert!(a.migration_state().await.expect("state").needs_bootstrap);
    let (ra, rb) = tokio::join!(a.migrate_up(), b.migrate_up());
    let (ra, rb) = (ra.expect("a migrates"), rb.expect("b migrates"));
    let all = gatehouse_store::migrations::MIGRATIONS.len();
    assert!(ra.is_empty() != rb.is_empty(), "exactly one of them migrated: {ra:?} {rb:?}");
    assert_eq!(ra.len() + rb.len(), all, "and it ran every migration: {ra:?} {rb:?}");
    assert!(a.migration_state().await.expect("state").is_up_to_date());
    assert!(b.migrate_up().await.expect("idempotent").is_empty());
}

async fn writes_and_change_events_commit_together(backend: Backend) {
    let store = open(&backend).await;
    store.migrate_up().await.expect("migrate");
    let dao = dao(&store);
    let services = schema_by_name("services").expect("schema");
    let written = dao.insert(services, obj(json!({"name": "a", "host": "h"}))).await.expect("insert");
    let s = written.entity;
    let changes = store.changes_since(0, 100).await.expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].entity_name.as_str(), changes[0].op.as_str()), ("services", "create"));
    assert_eq!(changes[0].entity_id, s["id"].as_str().unwrap_or_default());
    assert_eq!(changes[0].node_id, Some(store.node_id().to_string()));
    assert_eq!(written.seq, Some(changes[0].seq), "a write reports the sequence number it produced");
    let dup = dao.insert(services, obj(json!({"name": "a", "host": "h2"}))).await;
    assert!(matches!(dup, Err(StoreError::Kong(ref e)) if e.code == ErrorCode::UniqueViolation), "{dup:?}");
    dao.update(services, "a", obj(json!({"retries": 2}))).await.expect("update");
    let after = store.changes_since(changes[0].seq, 100).await.expect("changes");
    assert_eq!(after.len(), 1, "the rejected insert recorded nothing");
    assert_eq!(after[0].op, "update");
    assert!(after[0].seq > changes[0].seq);
}

async fn cascading_deletes_record_every_child(backend: Backend) {
    let store = open(&backend).await;
    store.migrate_up().await.expect("migrate");
    let dao = dao(&store);
    let (upstreams, targets) = (schema_by_name("upstreams").expect("u"), schema_by_name("targets").expect("t"));
    let up = dao.insert(upstreams, obj(json!({"name": "up.test"}))).await.expect("upstream");
    let uid = up.entity["id"].as_str().unwrap_or_default().to_string();
    for host in ["10.0.0.1", "10.0.0.2"] {
        dao.insert(targets, obj(json!({"target": host, "upstream": {"id": uid}}))).await.expect("target");
    }
    let before = store.changes_since(0, 100).await.expect("changes").len();
    dao.delete(upstreams, "up.test").await.expect("delete");
    let events = store.changes_since(0, 100).await.expect("changes");
    let deletes: Vec<&str> = events[before..].iter().map(|c| c.entity_name.as_str()).collect();
    assert_eq!(deletes, vec!["targets", "targets", "upstreams"]);
    assert!(events[before..].iter().all(|c| c.op == "delete"));
}

async fn schema_names_a_custom_pg_schema_or_sqlite_file(backend: Backend) {
    let config = match backend.config.clone() {
        DbConfig::Postgres(mut pg) => {
            pg.schema = Some("gatehouse_custom".into());
            DbConfig::Postgres(pg)
        }
        sqlite => sqlite,
    };
    let store = Store::open(&config, uuid::Uuid::new_v4()).await.expect("open");
    store.migrate_up().await.expect("migrate into the schema");
    let consumers = schema_by_name("consumers").expect("schema");
    dao(&store).insert(consumers, obj(json!({"username": "u"}))).await.expect("insert");
    assert!(dao(&store).select(consumers, "u").await.expect("select").is_some());
    assert!(store.reachable().await);
}

async fn retention_trims_in_batches_and_records_how_far(backend: Backend) {
    let store = open(&backend).await;
    store.migrate_up().await.expect("migrate");
    let consumers = schema_by_name("consumers").expect("schema");
    for name in ["a", "b", "c"] {
        dao(&store).insert(consumers, obj(json!({"username": name}))).await.expect("insert");
    }
    let latest = store.latest_change_seq().await.expect("latest");
    assert_eq!(store.trim_changes(3600, 2).await.expect("trim"), 0, "nothing is past an hour's retention");
    assert_eq!(store.trimmed_through().await.expect("trimmed"), 0);
    // A negative retention puts the cutoff in the future: every event is old.
    assert_eq!(store.trim_changes(-10, 2).await.expect("trim"), 3, "two batches: 2 rows, then 1");
    assert_eq!(store.trimmed_through().await.expect("trimmed"), latest);
    assert!(store.changes_since(0, 100).await.expect("changes").is_empty());
    dao(&store).insert(consumers, obj(json!({"username": "d"}))).await.expect("insert after trimming");
    let after = store.changes_since(latest, 100).await.expect("changes");
    assert_eq!(after.len(), 1, "numbering continues after a trim");
}
