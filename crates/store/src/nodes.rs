//! Cluster membership: each node keeps one row with the change-log position it has applied and a
//! heartbeat, so any node can report the cluster's lag and wait for a change to reach every live node.

use crate::{Store, StoreError};
use sqlx::Row;

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub hostname: String,
    pub version: String,
    /// Every change up to this sequence number has been applied by the node's proxy.
    pub last_seq: i64,
    /// Milliseconds since the Unix epoch of the last heartbeat.
    pub heartbeat_ms: i64,
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Store {
    /// Records this node's applied position and heartbeat.
    pub async fn heartbeat(&self, hostname: &str, version: &str, last_seq: i64) -> Result<(), StoreError> {
        let id = self.node_id.to_string();
        let sql = format!(
            "INSERT INTO cluster_nodes (id, hostname, version, last_seq, heartbeat_ms) VALUES ({}, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, version = excluded.version, \
             last_seq = excluded.last_seq, heartbeat_ms = excluded.heartbeat_ms",
            self.backend.uuid_param(1)
        );
        sqlx::query(&sql)
            .bind(id)
            .bind(hostname.to_string())
            .bind(version.to_string())
            .bind(last_seq)
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every node that ever reported, oldest id first.
    pub async fn cluster_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let sql = format!(
            "SELECT {}, hostname, version, last_seq, heartbeat_ms FROM cluster_nodes ORDER BY id",
            self.backend.text("id")
        );
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(NodeRow {
                    id: r.try_get(0)?,
                    hostname: r.try_get(1)?,
                    version: r.try_get(2)?,
                    last_seq: r.try_get(3)?,
                    heartbeat_ms: r.try_get(4)?,
                })
            })
            .collect()
    }
}
