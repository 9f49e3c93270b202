//! The entity layer between the Admin API and the tables, as Kong's DAO: it resolves foreign keys given by
//! name, fills defaults, validates, and runs each write in one transaction. Nothing reaches the database
//! unless the whole entity is valid, so a rejected write changes nothing.

use crate::crud::Txn;
use crate::entity_rules;
use crate::page::{Page, PageRequest};
use crate::{Store, StoreError};
use gatehouse_model::errors::render_key;
use gatehouse_model::schema::{Context, Kind, Schema};
use gatehouse_model::{ErrorCode, FieldErrors, KongError};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

type Entity = Map<String, Value>;

/// A committed write: the entity as stored and the change-log sequence number the write produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub entity: Entity,
    pub seq: Option<i64>,
}

/// Entity operations with Kong's semantics, shared by every writer (Admin API, later declarative import).
#[derive(Clone)]
pub struct Dao {
    store: Store,
    enabled_plugins: Arc<HashSet<String>>,
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

impl Dao {
    /// `enabled_plugins` is the resolved `plugins` property: names outside it are rejected.
    pub fn new(store: Store, enabled_plugins: impl IntoIterator<Item = String>) -> Self {
        Dao { store, enabled_plugins: Arc::new(enabled_plugins.into_iter().collect()) }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn plugin_enabled(&self, name: &str) -> bool {
        self.enabled_plugins.contains(name)
    }

    /// Finds an entity by id, or by its endpoint key when the value is not a UUID.
    pub async fn select(&self, schema: &Schema, key: &str) -> Result<Option<Entity>, StoreError> {
        let found = if is_uuid(key) {
            self.store.get(schema, key).await?
        } else if let Some(ek) = schema.endpoint_key {
            self.store.get_by(schema, ek, key).await?
        } else {
            let message = format!("invalid primary key: '{}'", render_key(&[("id", &Value::from(key))]));
            let error = KongError::new(ErrorCode::InvalidPrimaryKey, message)
                .with_fields(serde_json::json!({"id": "expected a valid UUID"}));
            return Err(error.into());
        };
        match found {
            Some(mut e) => {
                self.decorate(schema, &mut e).await?;
                entity_rules::render(schema, &mut e, crate::now_seconds());
                Ok(Some(e))
            }
            None => Ok(None),
        }
    }

    /// One page of a collection.
    pub async fn page(&self, schema: &Schema, req: &PageRequest) -> Result<Page, StoreError> {
        let mut page = self.store.page(schema, req).await?;
        if schema.name == "certificates" || schema.ttl {
            for raw in &mut page.data {
                let mut entity: Entity = serde_json::from_str(raw)
                    .map_err(|e| StoreError::Migration(format!("corrupt entity document: {e}")))?;
                self.decorate(schema, &mut entity).await?;
                entity_rules::render(schema, &mut entity, crate::now_seconds());
                *raw = Value::Object(entity).to_string();
            }
        }
        Ok(page)
    }

    /// Fills fields that live in other tables (a certificate's `snis`).
    async fn decorate(&self, schema: &Schema, entity: &mut Entity) -> Result<(), StoreError> {
        if schema.name == "certificates" {
            let id = entity.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let names = crate::certs::sni_names(&self.store, &id).await?;
            entity.insert("snis".into(), Value::from(names));
        }
        Ok(())
    }

    /// POST: creates an entity.
    pub async fn insert(&self, schema: &'static Schema, mut input: Entity) -> Result<Written, StoreError> {
        let expiry = entity_rules::take_ttl(schema, &mut input, crate::now_seconds())?;
        let mut entity = self.prepare(schema, input, Context::Insert, None, expiry).await?;
        let mut tx = self.store.begin().await?;
        let snis = crate::certs::take_snis(schema, &mut entity);
        tx.insert(schema, &entity).await?;
        self.finish_write(schema, &mut tx, &mut entity, snis).await?;
        let seq = tx.commit().await?;
        entity_rules::render(schema, &mut entity, crate::now_seconds());
        Ok(Written { entity, seq })
    }

    /// PUT: creates or fully replaces the entity named by `key` (id or endpoint key; the URL wins over the body).
    pub async fn upsert(&self, schema: &'static Schema, key: &str, input: Entity) -> Result<Written, StoreError> {
        match self.upsert_once(schema, key, input.clone()).await {
            // Two nodes inserting the same new key at once: the loser retries and replaces instead.
            Err(StoreError::Kong(e))
                if matches!(e.code, ErrorCode::UniqueViolation | ErrorCode::PrimaryKeyViolation) =>
            {
                self.upsert_once(schema, key, input).await
            }
            other => other,
        }
    }

    async fn upsert_once(&self, schema: &'static Schema, key: &str, mut input: Entity) -> Result<Written, StoreError> {
        let expiry = entity_rules::take_ttl(schema, &mut input, crate::now_seconds())?;
        let by_id = is_uuid(key);
        if by_id {
            input.insert("id".into(), Value::from(key.to_lowercase()));
        } else if let Some(ek) = schema.endpoint_key {
            let value = infer_key(schema, ek, key);
            input.insert(ek.into(), value);
        }
        self.resolve_foreign(schema, &mut input).await?;
        let mut tx = self.store.begin().await?;
        let existing = if by_id {
            tx.get(schema, key).await?
        } else {
            match schema.endpoint_key {
                Some(ek) => tx.get_by(schema, ek, key).await?,
                None => None,
            }
        };
        let existing = entity_rules::without_ttl(schema, existing);
        let mut entity = self.prepare(schema, input, Context::Upsert, existing.as_ref(), expiry).await?;
        let snis = crate::certs::take_snis(schema, &mut entity);
        match existing {
            Some(_) => tx.update(schema, &entity).await?,
            None => tx.insert(schema, &entity).await?,
        }
        self.finish_write(schema, &mut tx, &mut entity, snis).await?;
        let seq = tx.commit().await?;
        entity_rules::render(schema, &mut entity, crate::now_seconds());
        Ok(Written { entity, seq })
    }

    /// PATCH: merges `patch` into the stored entity. A missing entity is Kong's "not found" error.
    pub async fn update(&self, schema: &'static Schema, key: &str, mut patch: Entity) -> Result<Written, StoreError> {
        let expiry = entity_rules::take_ttl(schema, &mut patch, crate::now_seconds())?;
        self.resolve_foreign(schema, &mut patch).await?;
        let mut tx = self.store.begin().await?;
        let existing = if is_uuid(key) {
            tx.get(schema, key).await?
        } else {
            match schema.endpoint_key {
                Some(ek) => tx.get_by(schema, ek, key).await?,
                None => None,
            }
        };
        let Some(stored) = entity_rules::without_ttl(schema, existing) else {
            let (field, value) = match schema.endpoint_key {
                Some(ek) if !is_uuid(key) => (ek, key),
                _ => ("id", key),
            };
            let rendered = render_key(&[(field, &Value::from(value))]);
            let message = if field == "id" {
                format!("could not find the entity with primary key '{rendered}'")
            } else {
                format!("could not find the entity with '{rendered}'")
            };
            let fields = serde_json::json!({ field: value });
            return Err(KongError::new(ErrorCode::NotFound, message).with_fields(fields).into());
        };
        patch.remove("id");
        let mut entity = self.prepare(schema, patch, Context::Update, Some(&stored), expiry).await?;
        let snis = crate::certs::take_snis(schema, &mut entity);
        tx.update(schema, &entity).await?;
        self.finish_write(schema, &mut tx, &mut entity, snis).await?;
        let seq = tx.commit().await?;
        entity_rules::render(schema, &mut entity, crate::now_seconds());
        Ok(Written { entity, seq })
    }

    /// DELETE: removes the entity and its cascading children. Deleting a missing entity succeeds. Returns
    /// the change-log sequence number (`None` when there was nothing to delete).
    pub async fn delete(&self, schema: &'static Schema, key: &str) -> Result<Option<i64>, StoreError> {
        let mut tx = self.store.begin().await?;
        let id = if is_uuid(key) {
            Some(key.to_string())
        } else if let Some(ek) = schema.endpoint_key {
            tx.get_by(schema, ek, key).await?.and_then(|e| e.get("id").and_then(Value::as_str).map(String::from))
        } else {
            None
        };
        if let Some(id) = id {
            tx.delete(schema, &id).await?;
        }
        tx.commit().await
    }

    /// `POST /schemas/{entity}/validate`: the insert pipeline without the write.
    pub async fn validate_only(&self, schema: &'static Schema, mut input: Entity) -> Result<(), StoreError> {
        let expiry = entity_rules::take_ttl(schema, &mut input, crate::now_seconds())?;
        self.prepare(schema, input, Context::Insert, None, expiry).await.map(|_| ())
    }

    async fn finish_write(
        &self,
        schema: &'static Schema,
        tx: &mut Txn,
        entity: &mut Entity,
        snis: Option<Vec<String>>,
    ) -> Result<(), StoreError> {
        if schema.name == "certificates" {
            let id = entity.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let names = crate::certs::sync_snis(tx, &id, snis).await?;
            entity.insert("snis".into(), Value::from(names));
        }
        Ok(())
    }

    /// Shorthands, defaults, transforms and validation, in Kong's order.
    async fn prepare(
        &self,
        schema: &'static Schema,
        input: Entity,
        ctx: Context,
        existing: Option<&Entity>,
        expiry: Option<i64>,
    ) -> Result<Entity, StoreError> {
        let mut input = input;
        if ctx != Context::Update {
            self.resolve_foreign(schema, &mut input).await?;
        }
        let name_enabled = |name: Option<&Value>| name.and_then(Value::as_str).is_none_or(|n| self.plugin_enabled(n));
        let schema =
            if name_enabled(input.get("name")) { entity_rules::write_schema(schema, &input, existing) } else { schema };
        let given = entity_rules::Given::of(schema, &input);
        let mut entity =
            schema.prepare(input, ctx, existing, crate::now_seconds()).map_err(KongError::schema_violation)?;
        entity_rules::before_write(schema, &given, existing, &mut entity, expiry)?;
        if schema.name == "plugins" {
            let name = entity.get("name").and_then(Value::as_str).unwrap_or_default();
            if !self.plugin_enabled(name) {
                let mut errors = FieldErrors::default();
                errors.insert(
                    "name",
                    format!("plugin '{name}' not enabled; add it to the 'plugins' configuration property"),
                );
                return Err(KongError::schema_violation(errors).into());
            }
        }
        Ok(entity)
    }

    /// Replaces foreign references given by a unique key (`{"service": {"name": "x"}}`) with `{"id": ...}`,
    /// failing with Kong's "foreign keys unresolved" error when no such entity exists.
    pub async fn resolve_foreign(&self, schema: &Schema, entity: &mut Entity) -> Result<(), StoreError> {
        let mut unresolved: Vec<(String, String, String)> = Vec::new();
        for (field, reference, _) in schema.foreign_fields() {
            let Some(Value::Object(value)) = entity.get(field.name) else { continue };
            if value.get("id").and_then(Value::as_str).is_some_and(is_uuid) {
                continue;
            }
            let Some(parent) = gatehouse_model::schema_by_name(reference) else { continue };
            let candidates: Vec<(&str, String)> = parent
                .fields
                .iter()
                .filter(|f| f.unique || Some(f.name) == parent.endpoint_key)
                .filter_map(|f| value.get(f.name).and_then(Value::as_str).map(|v| (f.name, v.to_string())))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let mut found = None;
            for (key, v) in &candidates {
                // On the primary: a parent created a moment ago may not have reached a read replica yet.
                if let Some(row) = self.store.primary().get_by(parent, key, v).await? {
                    found = row.get("id").cloned();
                    break;
                }
            }
            match found {
                Some(id) => {
                    entity.insert(field.name.into(), serde_json::json!({ "id": id }));
                }
                None => {
                    let (key, v) = &candidates[0];
                    let rendered = render_key(&[(key, &Value::from(v.clone()))]);
                    let message = format!(
                        "the foreign key cannot be resolved with '{rendered}' for an existing '{reference}' entity"
                    );
                    unresolved.push((field.name.to_string(), key.to_string(), message));
                }
            }
        }
        if unresolved.is_empty() {
            return Ok(());
        }
        unresolved.sort();
        let parts: Vec<String> = unresolved.iter().map(|(f, k, m)| format!("{f}.{k}: {m}")).collect();
        let message = if parts.len() == 1 {
            format!("foreign key unresolved ({})", parts[0])
        } else {
            format!("{} foreign keys unresolved ({})", parts.len(), parts.join("; "))
        };
        let mut fields = Map::new();
        for (f, k, m) in unresolved {
            fields.insert(f, serde_json::json!({ k: m }));
        }
        Err(KongError::new(ErrorCode::ForeignKeysUnresolved, message).with_fields(Value::Object(fields)).into())
    }
}

/// The endpoint key from a URL, typed as its field (all endpoint keys are strings in Kong's core schemas).
fn infer_key(schema: &Schema, field: &str, raw: &str) -> Value {
    match schema.field(field).map(|f| &f.kind) {
        Some(Kind::Integer) => raw.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(raw)),
        _ => Value::from(raw),
    }
}
