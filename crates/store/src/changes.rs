//! Reading the change log. Every write appends `(seq, entity, id, op)` in its own transaction; followers
//! read events after the last sequence they applied.

use crate::{Store, StoreError};
use sqlx::Row;

/// One committed change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub entity_name: String,
    pub entity_id: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    pub node_id: Option<String>,
}

fn change_from_row(r: &sqlx::any::AnyRow) -> Result<Change, StoreError> {
    Ok(Change {
        seq: r.try_get(0)?,
        entity_name: r.try_get(1)?,
        entity_id: r.try_get(2)?,
        op: r.try_get(3)?,
        node_id: r.try_get(4)?,
    })
}

impl Store {
    /// Events with a sequence number above `after`, oldest first, at most `limit`.
    pub async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let b = self.backend;
        let sql = format!(
            "SELECT seq, entity_name, {}, op, {} FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            b.text("entity_id"),
            b.text("node_id")
        );
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.reader).await?;
        rows.iter().map(change_from_row).collect()
    }
}

impl Store {
    /// The events with these sequence numbers that exist now (late commits into holes).
    pub async fn changes_in(&self, seqs: &[i64]) -> Result<Vec<Change>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend;
        let list: Vec<String> = seqs.iter().map(i64::to_string).collect();
        let sql = format!(
            "SELECT seq, entity_name, {}, op, {} FROM changes WHERE seq IN ({}) ORDER BY seq",
            b.text("entity_id"),
            b.text("node_id"),
            list.join(", ")
        );
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.iter().map(change_from_row).collect()
    }

    /// The newest sequence number in the change log (0 when empty), read before a full resync so that
    /// events committed during the resync are applied afterwards.
    pub async fn latest_change_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes").fetch_one(&self.reader).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Every entity of a collection, read page by page.
    pub async fn all_entities(
        &self,
        schema: &gatehouse_model::Schema,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let mut out = Vec::new();
        let mut request = crate::PageRequest { size: 1000, ..Default::default() };
        loop {
            let page = self.page(schema, &request).await?;
            for raw in &page.data {
                out.push(
                    serde_json::from_str(raw)
                        .map_err(|e| StoreError::Migration(format!("corrupt entity document: {e}")))?,
                );
            }
            match page.offset {
                Some(next) => request.offset = Some(next),
                None => return Ok(out),
            }
        }
    }
}

impl Store {
    /// Deletes change events older than `retention_secs`, `batch` rows per transaction so the table never
    /// locks for long, and records the highest sequence number deleted. Returns how many rows went.
    pub async fn trim_changes(&self, retention_secs: i64, batch: i64) -> Result<u64, StoreError> {
        let cutoff = crate::now_seconds() - retention_secs;
        let mut total = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "SELECT MAX(seq), COUNT(*) FROM (SELECT seq FROM changes WHERE created_at < $1 ORDER BY seq LIMIT $2) AS old",
            )
            .bind(cutoff)
            .bind(batch)
            .fetch_one(&mut *tx)
            .await?;
            let (through, count): (Option<i64>, i64) = (row.try_get(0)?, row.try_get(1)?);
            let Some(through) = through else { return Ok(total) };
            sqlx::query("DELETE FROM changes WHERE seq <= $1").bind(through).execute(&mut *tx).await?;
            sqlx::query("UPDATE change_log_meta SET trimmed_through = $1 WHERE id = 1 AND trimmed_through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            total += count as u64;
            if count < batch {
                return Ok(total);
            }
        }
    }

    /// The highest sequence number retention has deleted: a follower whose position is below it may have
    /// missed events and must resync.
    pub async fn trimmed_through(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT trimmed_through FROM change_log_meta WHERE id = 1")
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
    }
}

/// The PostgreSQL channel every write notifies on commit.
pub const CHANGE_CHANNEL: &str = "gatehouse_changes";

/// A dedicated connection LISTENing for change notifications. NOTIFY is an optimisation: it is lost
/// behind pgbouncer and across failovers, so followers keep polling.
pub struct ChangeListener {
    inner: sqlx::postgres::PgListener,
}

impl ChangeListener {
    /// Waits for the next notification (several commits may be folded into one wake-up).
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.inner.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Opens a LISTEN connection on PostgreSQL; `None` on SQLite, where followers only poll.
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Some(url) = &self.listen_url else { return Ok(None) };
        let mut inner = sqlx::postgres::PgListener::connect(url).await?;
        inner.listen(CHANGE_CHANNEL).await?;
        Ok(Some(ChangeListener { inner }))
    }
}

/// A target health override (`PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy`) as a change
/// event, so every node applies it, as Kong broadcasts it to the cluster. The event's entity id is the
/// upstream's id; its `op` is `healthy|unhealthy TARGET [ADDRESS]` (neither part contains a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthOverride {
    pub target: String,
    pub address: Option<String>,
    pub healthy: bool,
}

impl HealthOverride {
    /// The change log's entity name for these events.
    pub const EVENT: &'static str = "upstream_health";

    pub fn to_op(&self) -> String {
        let word = if self.healthy { "healthy" } else { "unhealthy" };
        match &self.address {
            Some(address) => format!("{word} {} {address}", self.target),
            None => format!("{word} {}", self.target),
        }
    }

    pub fn from_op(op: &str) -> Option<HealthOverride> {
        let mut parts = op.split(' ');
        let healthy = match parts.next()? {
            "healthy" => true,
            "unhealthy" => false,
            _ => return None,
        };
        let target = parts.next().filter(|t| !t.is_empty())?.to_owned();
        let address = parts.next().map(str::to_owned);
        Some(HealthOverride { target, address, healthy })
    }
}

#[cfg(test)]
mod tests {
    use super::HealthOverride;

    #[test]
    fn health_overrides_round_trip_through_the_op_text() {
        for (target, address, healthy) in [("10.0.0.1:80", None, true), ("[::1]:8000", Some("[::1]:8000"), false)] {
            let event = HealthOverride { target: target.into(), address: address.map(String::from), healthy };
            assert_eq!(HealthOverride::from_op(&event.to_op()), Some(event));
        }
        assert_eq!(HealthOverride::from_op("create"), None);
        assert_eq!(HealthOverride::from_op("healthy "), None);
    }
}
