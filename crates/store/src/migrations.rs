//! Versioned schema migrations, recorded in `schema_meta`. A run holds a database-wide lock (a PostgreSQL
//! advisory lock, SQLite's write lock) for its whole transaction and re-reads the state under it, so nodes
//! starting together never both migrate: the loser waits, then finds nothing left to do.

use crate::backend::Backend;
use crate::{Store, StoreError};
use sqlx::Row;

/// One migration step with its SQL for each backend.
pub struct Migration {
    pub name: &'static str,
    postgres: &'static str,
    sqlite: &'static str,
}

/// The subsystem name recorded in `schema_meta`, as Kong's `core`.
pub const SUBSYSTEM: &str = "core";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "000_base",
        postgres: include_str!("migrations/000_base.postgres.sql"),
        sqlite: include_str!("migrations/000_base.sqlite.sql"),
    },
    Migration {
        name: "001_cluster_nodes",
        postgres: include_str!("migrations/001_cluster_nodes.postgres.sql"),
        sqlite: include_str!("migrations/001_cluster_nodes.sqlite.sql"),
    },
    Migration {
        name: "002_change_retention",
        postgres: include_str!("migrations/002_change_retention.postgres.sql"),
        sqlite: include_str!("migrations/002_change_retention.sqlite.sql"),
    },
    Migration {
        name: "003_credentials",
        postgres: include_str!("migrations/003_credentials.postgres.sql"),
        sqlite: include_str!("migrations/003_credentials.sqlite.sql"),
    },
    Migration {
        name: "004_oauth2_credentials",
        postgres: include_str!("migrations/004_oauth2_credentials.postgres.sql"),
        sqlite: include_str!("migrations/004_oauth2_credentials.sqlite.sql"),
    },
];

/// An arbitrary constant naming the PostgreSQL advisory lock that serialises migrations.
const PG_LOCK_KEY: i64 = 0x6761_7465_686f_7573;

const META_DDL: &str = "CREATE TABLE IF NOT EXISTS schema_meta (
  subsystem    TEXT NOT NULL,
  name         TEXT NOT NULL,
  executed_at  BIGINT NOT NULL,
  PRIMARY KEY (subsystem, name)
)";

/// What `gatehouse migrations status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// No migration has ever run: the database is empty.
    pub needs_bootstrap: bool,
    pub executed: Vec<String>,
    pub pending: Vec<String>,
}

impl MigrationState {
    /// Whether the schema is complete for this version.
    pub fn is_up_to_date(&self) -> bool {
        !self.needs_bootstrap && self.pending.is_empty()
    }

    /// Kong-shaped JSON for `migrations status`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("needs_bootstrap".into(), self.needs_bootstrap.into());
        if !self.executed.is_empty() {
            out.insert(
                "executed_migrations".into(),
                serde_json::json!([{ "subsystem": SUBSYSTEM, "migrations": self.executed }]),
            );
        }
        if !self.pending.is_empty() {
            out.insert(
                "pending_migrations".into(),
                serde_json::json!([{ "subsystem": SUBSYSTEM, "migrations": self.pending }]),
            );
        }
        serde_json::Value::Object(out)
    }
}

impl Store {
    /// Reads which migrations have run.
    pub async fn migration_state(&self) -> Result<MigrationState, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_state(&mut conn, self.backend).await
    }

    /// Runs every pending migration under the migration lock. Returns the names it ran (empty when another
    /// node got there first or nothing was pending).
    pub async fn migrate_up(&self) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(&mut *tx).await?;
        }
        sqlx::query(META_DDL).execute(&mut *tx).await?;
        let state = read_state(&mut tx, self.backend).await?;
        let mut ran = Vec::new();
        for migration in MIGRATIONS.iter().filter(|m| state.pending.iter().any(|p| p == m.name)) {
            let script = match self.backend {
                Backend::Postgres => migration.postgres,
                Backend::Sqlite => migration.sqlite,
            };
            for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration(format!("migration {} failed: {e}", migration.name)))?;
            }
            sqlx::query("INSERT INTO schema_meta (subsystem, name, executed_at) VALUES ($1, $2, $3)")
                .bind(SUBSYSTEM)
                .bind(migration.name)
                .bind(crate::now_seconds())
                .execute(&mut *tx)
                .await?;
            ran.push(migration.name.to_string());
        }
        tx.commit().await?;
        Ok(ran)
    }

    /// Drops every table Gatehouse owns.
    pub async fn reset(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(&mut *tx).await?;
        }
        let cascade = if self.backend == Backend::Postgres { " CASCADE" } else { "" };
        let mut tables: Vec<&str> = gatehouse_model::schemas().iter().rev().map(|s| s.name).collect();
        tables.extend(["tags", "changes", "cluster_nodes", "change_log_meta", "schema_meta"]);
        for table in tables {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}{cascade}")).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn read_state(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<MigrationState, StoreError> {
    let exists_sql = match backend {
        Backend::Postgres => "SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_meta' AND table_schema = current_schema()",
        Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_meta'",
    };
    let exists = sqlx::query(exists_sql).fetch_optional(&mut *conn).await?.is_some();
    let executed: Vec<String> = if exists {
        sqlx::query("SELECT name FROM schema_meta WHERE subsystem = $1 ORDER BY name")
            .bind(SUBSYSTEM)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let pending = MIGRATIONS.iter().map(|m| m.name.to_string()).filter(|n| !executed.contains(n)).collect::<Vec<_>>();
    Ok(MigrationState { needs_bootstrap: executed.is_empty(), executed, pending })
}
