use gatehouse_model::KongError;

/// Failures below the entity layer: connecting, migrating, or a query that the database refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Migration(String),
    /// An error that maps onto Kong's error model and reaches the client as-is.
    #[error("{0}")]
    Kong(#[from] KongError),
}

impl StoreError {
    /// Whether the database itself is unreachable (as opposed to refusing one query).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
            )
        )
    }

    /// Converts to the Kong error the Admin API sends.
    pub fn into_kong(self) -> KongError {
        match self {
            StoreError::Kong(e) => e,
            other => KongError::database(other.to_string()),
        }
    }
}
