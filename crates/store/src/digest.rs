//! A digest of the configuration the proxy serves, computed the same way from the database and from a
//! node's in-memory state, so tests and operators can check that a node has converged.

use crate::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The entity types a node's proxy configuration is built from.
pub const PROXY_ENTITIES: &[&str] = &["routes", "services", "upstreams", "targets"];

/// A running digest: entity type and id → hash of the entity document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDigest {
    entries: BTreeMap<(String, String), [u8; 32]>,
}

impl ConfigDigest {
    /// Records the current document of an entity.
    pub fn set(&mut self, entity: &str, id: &str, document: &serde_json::Map<String, serde_json::Value>) {
        let text = serde_json::Value::Object(document.clone()).to_string();
        self.entries.insert((entity.to_string(), id.to_string()), Sha256::digest(text.as_bytes()).into());
    }

    /// Forgets a deleted entity.
    pub fn remove(&mut self, entity: &str, id: &str) {
        self.entries.remove(&(entity.to_string(), id.to_string()));
    }

    /// Forgets every entity of one type (before reloading that type).
    pub fn clear(&mut self, entity: &str) {
        self.entries.retain(|(e, _), _| e != entity);
    }

    /// The hex digest over every entry, in a fixed order.
    pub fn hex(&self) -> String {
        let mut hasher = Sha256::new();
        for ((entity, id), hash) in &self.entries {
            hasher.update(entity.as_bytes());
            hasher.update(b":");
            hasher.update(id.as_bytes());
            hasher.update(hash);
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Store {
    /// The digest of the proxy configuration as stored.
    pub async fn configuration_digest(&self) -> Result<String, StoreError> {
        let mut digest = ConfigDigest::default();
        for entity in PROXY_ENTITIES {
            let Some(schema) = gatehouse_model::schema_by_name(entity) else { continue };
            for row in self.all_entities(schema).await? {
                let id = row.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
                digest.set(entity, &id, &row);
            }
        }
        Ok(digest.hex())
    }
}
