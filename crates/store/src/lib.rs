//! Storage for Gatehouse: one trait-free `Store` over two SQL backends (embedded SQLite, PostgreSQL), versioned
//! migrations, and the change log that every write appends to in its own transaction.
//!
//! Entities are stored one table per entity type. Columns that the database must enforce (primary key,
//! unique fields, foreign keys, Kong's composite cache keys) are real columns; the full entity document is
//! kept beside them as JSON so that rendering needs no per-entity mapping code.

mod backend;
mod certs;
mod changes;
mod columns;
mod crud;
pub mod dao;
pub mod digest;
mod entity_rules;
mod error;
pub mod migrations;
pub mod nodes;
mod page;
mod tags;

pub use backend::{Backend, DbConfig, PgConfig};
pub use changes::{Change, ChangeListener, HealthOverride, CHANGE_CHANNEL};
pub use crud::Txn;
pub use error::StoreError;
pub use page::{Page, PageRequest, TagFilter};

use sqlx::AnyPool;

/// A connection pool to one database, shared by the Admin API and (later) the change follower.
#[derive(Clone)]
pub struct Store {
    /// The primary: writes, and reads that must see them.
    pool: AnyPool,
    /// Where plain reads go: a read replica when `pg_ro_*` is set, else the primary.
    reader: AnyPool,
    replica: bool,
    backend: Backend,
    node_id: uuid::Uuid,
    /// SQLite allows one writer at a time; queueing this process's writers here instead of in SQLite's
    /// sleeping busy handler keeps write latency flat. Other processes still wait on the busy timeout.
    write_gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// How to open a dedicated LISTEN connection (PostgreSQL only). Holds the password: never logged.
    listen_url: Option<std::sync::Arc<str>>,
}

impl Store {
    /// The backend in use, for the few places where behaviour differs (locking, SQL dialect).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The id this node writes into change events.
    pub fn node_id(&self) -> uuid::Uuid {
        self.node_id
    }

    /// Whether the database answers a trivial query, for `/status`.
    pub async fn reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool so that shutdown waits for in-flight queries instead of cutting them.
    pub async fn close(&self) {
        self.pool.close().await;
        self.reader.close().await;
    }
}

/// Seconds since the Unix epoch, as Kong's integer timestamps.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
