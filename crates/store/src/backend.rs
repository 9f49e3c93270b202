//! Connecting to SQLite or PostgreSQL, and the few SQL spellings that differ between them.

use crate::{Store, StoreError};
use sqlx::any::AnyPoolOptions;
use sqlx::Executor;
use std::path::PathBuf;
use std::time::Duration;

/// Which SQL engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// PostgreSQL connection settings, named after kong.conf's `pg_*` properties.
#[derive(Clone)]
pub struct PgConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub schema: Option<String>,
    pub ssl: bool,
    pub ssl_verify: bool,
    pub timeout_ms: u64,
    /// Upper bound on connections this node opens (Kong opens one pool per worker and can exhaust
    /// `max_connections`; we keep one bounded pool per node).
    pub pool_size: u32,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Where a store lives.
#[derive(Debug, Clone)]
pub enum DbConfig {
    Sqlite { path: PathBuf },
    Postgres(PgConfig),
}

impl PgConfig {
    /// Settings for a server at `host:port` with kong.conf's defaults for everything else (no password,
    /// no TLS, 5 s timeout, 10 connections).
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>, database: impl Into<String>) -> Self {
        PgConfig {
            host: host.into(),
            port,
            user: user.into(),
            password: None,
            database: database.into(),
            schema: None,
            ssl: false,
            ssl_verify: false,
            timeout_ms: 5000,
            pool_size: 10,
        }
    }

    fn url(&self) -> String {
        let enc = |s: &str| form_urlencode(s);
        let auth = match &self.password {
            Some(p) => format!("{}:{}", enc(&self.user), enc(p)),
            None => enc(&self.user),
        };
        let sslmode = match (self.ssl, self.ssl_verify) {
            (false, _) => "disable",
            (true, false) => "require",
            (true, true) => "verify-full",
        };
        format!("postgres://{auth}@{}:{}/{}?sslmode={sslmode}", self.host, self.port, enc(&self.database))
    }
}

fn form_urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Store {
    /// Opens a pool. It does not migrate; callers check `migrations::state` first.
    pub async fn open(config: &DbConfig, node_id: uuid::Uuid) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        match config {
            DbConfig::Sqlite { path } => {
                if let Some(dir) = path.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
                    }
                }
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                let write_gate = Some(std::sync::Arc::new(tokio::sync::Mutex::new(())));
                Ok(Store {
                    reader: pool.clone(),
                    replica: false,
                    pool,
                    backend: Backend::Sqlite,
                    node_id,
                    write_gate,
                    listen_url: None,
                })
            }
            DbConfig::Postgres(pg) => {
                let pool = pg_pool(pg).await?;
                Ok(Store {
                    reader: pool.clone(),
                    replica: false,
                    pool,
                    backend: Backend::Postgres,
                    node_id,
                    write_gate: None,
                    listen_url: Some(pg.url().into()),
                })
            }
        }
    }

    /// Sends reads (entity reads, change-log polls, cache fills) to a read replica (`pg_ro_*`); writes and
    /// their transactions stay on the primary. Replicas lag, so writers that must see their own write read
    /// through `primary()`.
    pub async fn with_read_replica(mut self, replica: &PgConfig) -> Result<Store, StoreError> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::Config("a read replica needs the postgres backend".into()));
        }
        self.reader = pg_pool(replica).await?;
        self.replica = true;
        Ok(self)
    }

    /// This store with reads on the primary (the same store when there is no replica).
    pub fn primary(&self) -> Store {
        Store { reader: self.pool.clone(), replica: false, ..self.clone() }
    }

    /// Whether reads go to a read replica.
    pub fn has_read_replica(&self) -> bool {
        self.replica
    }

    /// Begins a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so that a
    /// transaction that reads before it writes cannot fail on a stale snapshot when another process wrote.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _gate: gate })
    }
}

/// A write transaction, holding this process's SQLite write gate until it ends.
pub(crate) struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Backend {
    /// A bound parameter holding a UUID.
    pub(crate) fn uuid_param(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}::uuid"),
            Backend::Sqlite => format!("${n}"),
        }
    }

    /// A bound parameter holding a JSON document.
    pub(crate) fn json_param(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}::json"),
            Backend::Sqlite => format!("${n}"),
        }
    }

    /// Reads a UUID or JSON column as text.
    pub(crate) fn text(self, column: &str) -> String {
        match self {
            Backend::Postgres => format!("{column}::text"),
            Backend::Sqlite => column.to_string(),
        }
    }

    /// `FOR UPDATE` where row locks exist; SQLite's write transaction already excludes other writers.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

/// One bounded pool to a PostgreSQL server (primary or replica), with the configured schema on every
/// connection.
async fn pg_pool(pg: &PgConfig) -> Result<sqlx::AnyPool, StoreError> {
    let schema = pg.schema.clone().filter(|s| !s.is_empty());
    let pool = AnyPoolOptions::new()
        .max_connections(pg.pool_size.max(1))
        .acquire_timeout(Duration::from_millis(pg.timeout_ms.max(100)))
        .after_connect(move |conn, _| {
            let schema = schema.clone();
            Box::pin(async move {
                if let Some(schema) = schema {
                    let quoted = schema.replace('"', "\"\"");
                    conn.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{quoted}\"").as_str()).await?;
                    conn.execute(format!("SET search_path TO \"{quoted}\"").as_str()).await?;
                }
                Ok(())
            })
        })
        .connect(&pg.url())
        .await?;
    Ok(pool)
}
