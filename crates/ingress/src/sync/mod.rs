//! Pushing a desired configuration to a DB-mode gateway through the Kong Admin API, as KIC does in DB
//! mode: the declarative configuration the translator produces is flattened into entities per collection
//! ([`flatten`]), every entity gets the `managed-by-ingress-controller` tag, the gateway's managed entities
//! are read and diffed, and the difference is applied with idempotent `PUT`s by id and `DELETE`s
//! ([`sync_config`]). Entities without the tag are never touched. [`Syncer`] skips pushes that would
//! change nothing; [`AdminClient::wait_propagated`] waits until a push is live on every node.

mod apply;
mod client;
mod compare;
mod flatten;
mod model;
mod syncer;

pub use apply::{read_current, sync_config, sync_desired, CurrentState};
pub use client::{AdminClient, AdminClientConfig, AdminReply, SEQ_HEADER, TOKEN_HEADER};
pub use flatten::{canonical_json, config_hash, flatten, DesiredState};
pub use model::{Collection, Entity, EntityFailure, K8sObjectRef, Operation, SyncReport, MANAGED_TAG};
pub use syncer::{retry_delay, SyncOptions, SyncOutcome, Syncer};

/// Why a sync could not run. Per-entity rejections are not errors: they are in [`SyncReport::failures`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No configured Admin API URL answered.
    #[error("the gateway is unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered 5xx (its database is unreachable, or it failed).
    #[error("the gateway failed {request}: {status} {message}")]
    Server { status: u16, request: String, message: String },
    /// The gateway answered something a Kong Admin API does not.
    #[error("unexpected Admin API answer: {0}")]
    Protocol(String),
    /// The client settings or the desired configuration are unusable.
    #[error("{0}")]
    Config(String),
}

impl SyncError {
    /// Whether retrying later may help (everything but a bad configuration).
    pub fn is_transient(&self) -> bool {
        !matches!(self, SyncError::Config(_))
    }
}
