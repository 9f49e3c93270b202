//! Opening the configured store and making sure its schema is current before a node serves.

use crate::config::{Config, Database};
use anyhow::{bail, Context as _};
use gatehouse_store::{DbConfig, PgConfig, Store};

/// The store settings a configuration describes.
pub fn db_config(config: &Config) -> anyhow::Result<DbConfig> {
    match config.database {
        Database::Sqlite => Ok(DbConfig::Sqlite { path: config.sqlite_path() }),
        Database::Postgres => Ok(DbConfig::Postgres(pg_config(&config.pg))),
        Database::Off => bail!("database = off (DB-less mode) is not supported; use sqlite or postgres"),
    }
}

/// Adds the read replica (`pg_ro_*`) when one is configured: reads and polls go there, writes to the
/// primary.
pub async fn with_read_replica(store: Store, config: &Config) -> anyhow::Result<Store> {
    let Some(ro) = &config.pg_ro else { return Ok(store) };
    let replica = pg_config(ro);
    let (host, port) = (replica.host.clone(), replica.port);
    let store = store
        .with_read_replica(&replica)
        .await
        .with_context(|| format!("cannot connect to the PostgreSQL read replica at {host}:{port}"))?;
    tracing::info!(%host, port, "reads go to the read replica");
    Ok(store)
}

fn pg_config(pg: &crate::config::PgSettings) -> PgConfig {
    PgConfig {
        host: pg.host.clone(),
        port: pg.port,
        user: pg.user.clone(),
        password: pg.password.clone(),
        database: pg.database.clone(),
        schema: pg.schema.clone(),
        ssl: pg.ssl,
        ssl_verify: pg.ssl_verify,
        timeout_ms: pg.timeout_ms,
        pool_size: pg.pool_size,
    }
}

/// Opens the store with a fresh node id.
pub async fn open(config: &Config) -> anyhow::Result<Store> {
    open_as(config, uuid::Uuid::new_v4()).await
}

/// Opens the store for a node with a known id.
pub async fn open_as(config: &Config, node_id: uuid::Uuid) -> anyhow::Result<Store> {
    let db = db_config(config)?;
    Store::open(&db, node_id).await.with_context(|| match &db {
        DbConfig::Sqlite { path } => format!("cannot open SQLite database {}", path.display()),
        DbConfig::Postgres(pg) => format!("cannot connect to PostgreSQL at {}:{}", pg.host, pg.port),
    })
}

/// Brings the schema up to date or refuses to start. SQLite (the single-host default) migrates
/// automatically; PostgreSQL needs `--run-migrations` or `gatehouse migrations`, as Kong.
pub async fn ensure_schema(store: &Store, config: &Config, run_migrations: bool) -> anyhow::Result<()> {
    let state = store.migration_state().await?;
    if state.is_up_to_date() {
        tracing::info!("database schema is up to date");
        return Ok(());
    }
    let automatic = config.database == Database::Sqlite;
    if !(run_migrations || automatic) {
        if state.needs_bootstrap {
            bail!("database needs bootstrapping or is older than Gatehouse 0.1; run 'gatehouse migrations bootstrap' or start with --run-migrations");
        }
        bail!(
            "database has pending migrations: {}; run 'gatehouse migrations up' or start with --run-migrations",
            state.pending.join(", ")
        );
    }
    let ran = store.migrate_up().await?;
    if ran.is_empty() {
        tracing::info!("database schema was migrated by another node");
    } else {
        tracing::info!(migrations = %ran.join(","), "migrations executed");
    }
    Ok(())
}
