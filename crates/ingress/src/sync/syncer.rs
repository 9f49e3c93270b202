//! The controller's side of pushing: remembers what was last pushed (the desired configuration's hash and
//! the gateway's change-log position at that time) and skips a push when neither changed, with a full
//! resync every `resync_interval` regardless. On an error nothing is remembered, so the next call pushes
//! again; the caller retries with [`retry_delay`] and keeps its last desired configuration.

use super::apply::sync_config;
use super::client::AdminClient;
use super::flatten::config_hash;
use super::model::SyncReport;
use super::SyncError;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a [`Syncer`] pushes.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Requests in flight at once within a dependency level.
    pub concurrency: usize,
    /// A push happens at least this often even when nothing seems to have changed.
    pub resync_interval: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions { concurrency: 8, resync_interval: Duration::from_secs(300) }
    }
}

/// What [`Syncer::sync`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// Neither the configuration nor the gateway changed since the last push.
    UpToDate,
    Pushed(SyncReport),
}

#[derive(Debug, Default)]
struct Last {
    hash: Option<String>,
    at: Option<Instant>,
    /// The gateway's latest change sequence number read just before the last push.
    gateway_seq: Option<i64>,
    report: Option<SyncReport>,
}

/// Pushes desired configurations to a gateway, skipping pushes that would change nothing.
#[derive(Debug)]
pub struct Syncer {
    client: AdminClient,
    options: SyncOptions,
    last: Mutex<Last>,
}

impl Syncer {
    pub fn new(client: AdminClient, options: SyncOptions) -> Syncer {
        Syncer { client, options, last: Mutex::new(Last::default()) }
    }

    pub fn client(&self) -> &AdminClient {
        &self.client
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a configuration with this hash must be pushed without even asking the gateway: never pushed,
    /// a different configuration, or the periodic resync is due.
    pub fn needs_push(&self, desired_hash: &str) -> bool {
        let last = self.last();
        match (&last.hash, last.at) {
            (Some(hash), Some(at)) => hash != desired_hash || at.elapsed() >= self.options.resync_interval,
            _ => true,
        }
    }

    /// The report of the last successful push.
    pub fn last_report(&self) -> Option<SyncReport> {
        self.last().report.clone()
    }

    /// Forgets the last push: the next [`Syncer::sync`] pushes.
    pub fn invalidate(&self) {
        *self.last() = Last::default();
    }

    /// Pushes `desired` unless it is the configuration last pushed and the gateway's change log has not
    /// moved since (someone editing managed entities by hand, or another controller, moves it). Gateways
    /// without a change log (Kong) rely on the periodic resync.
    pub async fn sync(&self, desired: &Value) -> Result<SyncOutcome, SyncError> {
        self.sync_hashed(desired, config_hash(desired)).await
    }

    /// `sync` with the configuration's hash already computed (the controller hashes each translation once,
    /// not on every periodic sync).
    pub async fn sync_hashed(&self, desired: &Value, hash: String) -> Result<SyncOutcome, SyncError> {
        let seq = self.client.latest_change_seq().await?;
        if !self.needs_push(&hash) {
            let recorded = self.last().gateway_seq;
            if seq.is_none() || seq == recorded {
                return Ok(SyncOutcome::UpToDate);
            }
        }
        self.push_with(desired, hash, seq).await.map(SyncOutcome::Pushed)
    }

    /// Pushes `desired` unconditionally.
    pub async fn push(&self, desired: &Value) -> Result<SyncReport, SyncError> {
        let seq = self.client.latest_change_seq().await?;
        self.push_with(desired, config_hash(desired), seq).await
    }

    async fn push_with(&self, desired: &Value, hash: String, seq: Option<i64>) -> Result<SyncReport, SyncError> {
        let report = sync_config(&self.client, desired, self.options.concurrency).await?;
        let mut last = self.last();
        last.hash = Some(hash);
        last.at = Some(Instant::now());
        // Our own writes move the change log: when there were any, the next sync reads the gateway once
        // more (and finds nothing to do) rather than risk missing someone else's write made meanwhile.
        last.gateway_seq = if report.writes() == 0 { seq } else { None };
        last.report = Some(report.clone());
        Ok(report)
    }
}

/// Delay before retry number `attempt` (0-based) after a failed push: 1 s doubling up to 60 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60))
}
