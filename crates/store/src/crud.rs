//! Generic reads and transactional writes over any entity table. Every write in a `Txn` also appends its
//! change event, so the entity and its event commit or roll back together.

use crate::backend::Backend;
use crate::columns::{columns, foreign_id};
use crate::page::{decode_offset, encode_offset, Page, PageRequest, TagFilter};
use crate::{Store, StoreError};
use gatehouse_model::errors::render_key;
use gatehouse_model::schema::{Kind, OnDelete, Schema};
use gatehouse_model::{ErrorCode, KongError};
use serde_json::{Map, Value};
use sqlx::Row;

type Entity = Map<String, Value>;

fn decode_entity(text: &str) -> Result<Entity, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Migration(format!("corrupt entity document: {e}")))
}

fn normalize_uuid(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

impl Store {
    /// Reads one entity by id.
    pub async fn get(&self, schema: &Schema, id: &str) -> Result<Option<Entity>, StoreError> {
        let Some(id) = normalize_uuid(id) else { return Ok(None) };
        let b = self.backend;
        let sql =
            format!("SELECT {} FROM {} WHERE id = {}{}", b.text("entity"), schema.name, b.uuid_param(1), live(schema));
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.reader).await?;
        row.map(|r| decode_entity(&r.try_get::<String, _>(0)?)).transpose()
    }

    /// Reads several entities by id in one query; ids that no longer exist are simply absent.
    pub async fn get_many(&self, schema: &Schema, ids: &[String]) -> Result<Vec<Entity>, StoreError> {
        let ids: Vec<String> = ids.iter().filter_map(|id| normalize_uuid(id)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend;
        let params: Vec<String> = (1..=ids.len()).map(|n| b.uuid_param(n)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE id IN ({}){}",
            b.text("entity"),
            schema.name,
            params.join(", "),
            live(schema)
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(|r| decode_entity(&r.try_get::<String, _>(0)?)).collect()
    }

    /// Reads one entity by a unique field (the endpoint key, e.g. a service's `name`).
    pub async fn get_by(&self, schema: &Schema, field: &str, value: &str) -> Result<Option<Entity>, StoreError> {
        let sql =
            format!("SELECT {} FROM {} WHERE {field} = $1{}", self.backend.text("entity"), schema.name, live(schema));
        let row = sqlx::query(&sql).bind(value.to_string()).fetch_optional(&self.reader).await?;
        row.map(|r| decode_entity(&r.try_get::<String, _>(0)?)).transpose()
    }

    /// One page of a collection, in primary-key order.
    pub async fn page(&self, schema: &Schema, req: &PageRequest) -> Result<Page, StoreError> {
        let b = self.backend;
        let mut sql =
            format!("SELECT {}, {} FROM {} WHERE 1 = 1{}", b.text("entity"), b.text("id"), schema.name, live(schema));
        let mut binds: Vec<String> = Vec::new();
        if let Some(token) = &req.offset {
            let key = decode_offset(token)?;
            let last = key.first().and_then(|k| normalize_uuid(k)).ok_or_else(|| {
                KongError::new(ErrorCode::InvalidOffset, format!("'{token}' is not a valid offset: bad json encoding"))
                    .with_fields(Value::Null)
            })?;
            binds.push(last);
            sql += &format!(" AND id > {}", b.uuid_param(binds.len()));
        }
        if let Some((field, id)) = &req.parent {
            binds.push(normalize_uuid(id).unwrap_or_default());
            sql += &format!(" AND {field}_id = {}", b.uuid_param(binds.len()));
        }
        if let Some(filter) = &req.tags {
            binds.push(schema.name.to_string());
            let name_param = binds.len();
            let mut params = Vec::new();
            for tag in filter.tags() {
                binds.push(tag.clone());
                params.push(format!("${}", binds.len()));
            }
            let having = match filter {
                TagFilter::All(t) => format!(" GROUP BY entity_id HAVING COUNT(*) = {}", t.len()),
                TagFilter::Any(_) => String::new(),
            };
            sql += &format!(
                " AND id IN (SELECT entity_id FROM tags WHERE entity_name = ${name_param} AND tag IN ({}){having})",
                params.join(", ")
            );
        }
        sql += &format!(" ORDER BY id LIMIT {}", req.size + 1);
        let mut query = sqlx::query(&sql);
        for v in binds {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.reader).await?;
        let mut data = Vec::with_capacity(rows.len().min(req.size));
        let mut last_id = None;
        for row in rows.iter().take(req.size) {
            data.push(row.try_get::<String, _>(0)?);
            last_id = Some(row.try_get::<String, _>(1)?);
        }
        let offset = if rows.len() > req.size { last_id.map(|id| encode_offset(&[&id])) } else { None };
        Ok(Page { data, offset })
    }

    /// Every entity whose foreign `field` points at `parent_id`, in id order.
    pub async fn children(&self, schema: &Schema, field: &str, parent_id: &str) -> Result<Vec<Entity>, StoreError> {
        let b = self.backend;
        let sql = format!(
            "SELECT {} FROM {} WHERE {field}_id = {}{} ORDER BY id",
            b.text("entity"),
            schema.name,
            b.uuid_param(1),
            live(schema)
        );
        let rows = sqlx::query(&sql).bind(normalize_uuid(parent_id)).fetch_all(&self.reader).await?;
        rows.iter().map(|r| decode_entity(&r.try_get::<String, _>(0)?)).collect()
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Txn, StoreError> {
        Ok(Txn {
            tx: self.begin_write().await?,
            backend: self.backend,
            node_id: self.node_id.to_string(),
            notified: false,
            last_seq: None,
        })
    }
}

/// A write transaction. Dropping it without `commit` rolls everything back.
pub struct Txn {
    tx: crate::backend::WriteTx,
    backend: Backend,
    node_id: String,
    /// Whether this transaction already queued its change notification.
    notified: bool,
    /// The newest change-log sequence number this transaction wrote.
    last_seq: Option<i64>,
}

impl Txn {
    /// Reads one entity by id inside the transaction, locking its row on PostgreSQL.
    pub async fn get(&mut self, schema: &Schema, id: &str) -> Result<Option<Entity>, StoreError> {
        let Some(id) = normalize_uuid(id) else { return Ok(None) };
        let b = self.backend;
        let sql = format!(
            "SELECT {} FROM {} WHERE id = {}{}{}",
            b.text("entity"),
            schema.name,
            b.uuid_param(1),
            live(schema),
            b.for_update()
        );
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.tx).await?;
        row.map(|r| decode_entity(&r.try_get::<String, _>(0)?)).transpose()
    }

    /// Reads one entity by a unique field inside the transaction, locking its row on PostgreSQL.
    pub async fn get_by(&mut self, schema: &Schema, field: &str, value: &str) -> Result<Option<Entity>, StoreError> {
        let b = self.backend;
        let sql = format!(
            "SELECT {} FROM {} WHERE {field} = $1{}{}",
            b.text("entity"),
            schema.name,
            live(schema),
            b.for_update()
        );
        let row = sqlx::query(&sql).bind(value.to_string()).fetch_optional(&mut *self.tx).await?;
        row.map(|r| decode_entity(&r.try_get::<String, _>(0)?)).transpose()
    }

    /// Every entity whose foreign `field` points at `parent_id`, read inside the transaction.
    pub async fn children(&mut self, schema: &Schema, field: &str, parent_id: &str) -> Result<Vec<Entity>, StoreError> {
        let b = self.backend;
        let sql = format!(
            "SELECT {} FROM {} WHERE {field}_id = {}{} ORDER BY id",
            b.text("entity"),
            schema.name,
            b.uuid_param(1),
            live(schema)
        );
        let rows = sqlx::query(&sql).bind(normalize_uuid(parent_id)).fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| decode_entity(&r.try_get::<String, _>(0)?)).collect()
    }

    async fn exists(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let Some(id) = normalize_uuid(id) else { return Ok(false) };
        let sql = format!("SELECT 1 FROM {table} WHERE id = {}", self.backend.uuid_param(1));
        Ok(sqlx::query(&sql).bind(id).fetch_optional(&mut *self.tx).await?.is_some())
    }

    /// Fails with Kong's foreign key violation when a reference points at a missing row. The database
    /// enforces the same rule; checking first gives the precise message on both backends.
    async fn check_references(&mut self, schema: &Schema, entity: &Entity) -> Result<(), StoreError> {
        for (field, reference, _) in schema.foreign_fields() {
            if let Some(id) = foreign_id(entity, field.name) {
                if !self.exists(reference, &id).await? {
                    return Err(foreign_key_error(field.name, reference, &id).into());
                }
            }
        }
        Ok(())
    }

    /// Inserts a validated entity.
    pub async fn insert(&mut self, schema: &Schema, entity: &Entity) -> Result<(), StoreError> {
        self.check_references(schema, entity).await?;
        let b = self.backend;
        let cols = columns(schema);
        let mut names = vec!["id".to_string(), "created_at".into(), "updated_at".into(), "entity".into()];
        let mut params = vec![b.uuid_param(1), "$2".into(), "$3".into(), b.json_param(4)];
        for (i, c) in cols.iter().enumerate() {
            names.push(c.name.clone());
            params.push(if c.is_uuid() { b.uuid_param(i + 5) } else { format!("${}", i + 5) });
        }
        if schema.ttl {
            names.push("ttl".into());
            params.push(format!("${}", cols.len() + 5));
            self.purge_expired_twins(schema, entity).await?;
        }
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", schema.name, names.join(", "), params.join(", "));
        let id = entity_id(entity);
        bind_row(&sql, schema, entity, &cols)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_write_error(schema, entity, e))?;
        self.write_tags(schema, &id, entity, true).await?;
        self.record_change(schema, &id, "create").await
    }

    /// Replaces a stored entity (same id) with a validated new version.
    pub async fn update(&mut self, schema: &Schema, entity: &Entity) -> Result<(), StoreError> {
        self.check_references(schema, entity).await?;
        let b = self.backend;
        let cols = columns(schema);
        let mut sets =
            vec!["created_at = $2".to_string(), "updated_at = $3".into(), format!("entity = {}", b.json_param(4))];
        for (i, c) in cols.iter().enumerate() {
            let p = if c.is_uuid() { b.uuid_param(i + 5) } else { format!("${}", i + 5) };
            sets.push(format!("{} = {p}", c.name));
        }
        if schema.ttl {
            sets.push(format!("ttl = ${}", cols.len() + 5));
        }
        let sql = format!("UPDATE {} SET {} WHERE id = {}", schema.name, sets.join(", "), b.uuid_param(1));
        let id = entity_id(entity);
        bind_row(&sql, schema, entity, &cols)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_write_error(schema, entity, e))?;
        self.write_tags(schema, &id, entity, false).await?;
        self.record_change(schema, &id, "update").await
    }

    /// Deletes an entity and, as Kong does, every entity that cascades from it (each with its own change
    /// event). Fails with a foreign key violation while a restricting reference exists. Returns whether the
    /// entity existed.
    pub async fn delete(&mut self, schema: &'static Schema, id: &str) -> Result<bool, StoreError> {
        let Some(id) = normalize_uuid(id) else { return Ok(false) };
        if self.get(schema, &id).await?.is_none() {
            return Ok(false);
        }
        self.delete_tree(schema, id).await?;
        Ok(true)
    }

    fn delete_tree<'a>(
        &'a mut self,
        schema: &'static Schema,
        id: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(async move {
            let b = self.backend;
            for child in gatehouse_model::schemas() {
                for field in &child.fields {
                    let Kind::Foreign { reference, on_delete } = field.kind else { continue };
                    if reference != schema.name {
                        continue;
                    }
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {}_id = {}",
                        b.text("id"),
                        child.name,
                        field.name,
                        b.uuid_param(1)
                    );
                    let rows = sqlx::query(&sql).bind(id.clone()).fetch_all(&mut *self.tx).await?;
                    if rows.is_empty() {
                        continue;
                    }
                    match on_delete {
                        OnDelete::Restrict => {
                            let message =
                                format!("an existing '{}' entity references this '{}' entity", child.name, schema.name);
                            let fields = serde_json::json!({ "@referenced_by": child.name });
                            return Err(KongError::new(ErrorCode::ForeignKeyViolation, message)
                                .with_fields(fields)
                                .into());
                        }
                        OnDelete::Cascade => {
                            for row in rows {
                                let child_id: String = row.try_get(0)?;
                                self.delete_tree(child, child_id).await?;
                            }
                        }
                        OnDelete::SetNull => {}
                    }
                }
            }
            let tags = format!("DELETE FROM tags WHERE entity_id = {}", b.uuid_param(1));
            sqlx::query(&tags).bind(id.clone()).execute(&mut *self.tx).await?;
            let sql = format!("DELETE FROM {} WHERE id = {}", schema.name, b.uuid_param(1));
            sqlx::query(&sql).bind(id.clone()).execute(&mut *self.tx).await?;
            self.record_change(schema, &id, "delete").await
        })
    }

    /// Deletes expired rows that hold the same unique values as a new entity, so an expired key can be
    /// created again before the periodic purge removes it.
    async fn purge_expired_twins(&mut self, schema: &Schema, entity: &Entity) -> Result<(), StoreError> {
        for field in schema.unique_fields() {
            let Some(value) = entity.get(field.name).and_then(Value::as_str) else { continue };
            let sql =
                format!("DELETE FROM {} WHERE {} = $1 AND ttl < {}", schema.name, field.name, crate::now_seconds());
            sqlx::query(&sql).bind(value.to_string()).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Replaces the entity's rows in the tags view (a new entity has none to remove).
    async fn write_tags(&mut self, schema: &Schema, id: &str, entity: &Entity, new: bool) -> Result<(), StoreError> {
        let b = self.backend;
        if !new {
            let delete = format!("DELETE FROM tags WHERE entity_id = {}", b.uuid_param(1));
            sqlx::query(&delete).bind(id.to_string()).execute(&mut *self.tx).await?;
        }
        let Some(Value::Array(tags)) = entity.get("tags") else { return Ok(()) };
        let insert = format!("INSERT INTO tags (entity_id, entity_name, tag) VALUES ({}, $2, $3)", b.uuid_param(1));
        for tag in tags.iter().filter_map(Value::as_str) {
            sqlx::query(&insert)
                .bind(id.to_string())
                .bind(schema.name.to_string())
                .bind(tag.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn record_change(&mut self, schema: &Schema, id: &str, op: &str) -> Result<(), StoreError> {
        self.announce(schema.name, id, op).await
    }

    /// Writes a change event that is not an entity write, e.g. a target health override every node
    /// applies (Kong's cluster events): `entity_id` must be a UUID, `op` is the event's text.
    pub async fn announce(&mut self, entity_name: &str, entity_id: &str, op: &str) -> Result<(), StoreError> {
        let b = self.backend;
        let sql = format!(
            "INSERT INTO changes (entity_name, entity_id, op, node_id, created_at) VALUES ($1, {}, $3, {}, $5) RETURNING seq",
            b.uuid_param(2),
            b.uuid_param(4)
        );
        let seq: i64 = sqlx::query_scalar(&sql)
            .bind(entity_name.to_string())
            .bind(entity_id.to_string())
            .bind(op.to_string())
            .bind(self.node_id.clone())
            .bind(crate::now_seconds())
            .fetch_one(&mut *self.tx)
            .await?;
        self.last_seq = Some(self.last_seq.map_or(seq, |s| s.max(seq)));
        if b == Backend::Postgres && !self.notified {
            // Delivered at commit, and only if the transaction commits; followers treat it as a wake-up
            // call only (polling stays the source of truth).
            sqlx::query("SELECT pg_notify($1, '')").bind(crate::CHANGE_CHANNEL).execute(&mut *self.tx).await?;
            self.notified = true;
        }
        Ok(())
    }

    /// Commits the entity writes and their change events together. Returns the newest sequence number the
    /// transaction wrote (`None` when it changed nothing), which clients can wait on across the cluster.
    pub async fn commit(self) -> Result<Option<i64>, StoreError> {
        self.tx.commit().await?;
        Ok(self.last_seq)
    }
}

/// Binds an entity row in the order both `INSERT` and `UPDATE` use: id, timestamps, document, columns.
fn bind_row<'q>(
    sql: &'q str,
    schema: &Schema,
    entity: &Entity,
    cols: &[crate::columns::Column],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql)
        .bind(entity_id(entity))
        .bind(int(entity, "created_at"))
        .bind(int(entity, "updated_at"))
        .bind(Value::Object(entity.clone()).to_string());
    for c in cols {
        query = query.bind(c.value(schema, entity));
    }
    if schema.ttl {
        query = query.bind(entity.get("ttl").and_then(Value::as_i64));
    }
    query
}

/// The condition that hides expired rows of entities with a `ttl`.
fn live(schema: &Schema) -> String {
    if schema.ttl {
        format!(" AND (ttl IS NULL OR ttl >= {})", crate::now_seconds())
    } else {
        String::new()
    }
}

fn entity_id(entity: &Entity) -> String {
    entity.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn int(entity: &Entity, field: &str) -> i64 {
    entity.get(field).and_then(Value::as_i64).unwrap_or_else(crate::now_seconds)
}

/// Kong's code 4 for a reference to a missing row.
pub(crate) fn foreign_key_error(field: &str, reference: &str, id: &str) -> KongError {
    let key = render_key(&[("id", &Value::String(id.to_string()))]);
    let message = format!("the foreign key '{key}' does not reference an existing '{reference}' entity.");
    KongError::new(ErrorCode::ForeignKeyViolation, message).with_fields(serde_json::json!({ field: { "id": id } }))
}

/// Maps a constraint failure from either database onto Kong's unique/foreign-key errors.
fn map_write_error(schema: &Schema, entity: &Entity, err: sqlx::Error) -> StoreError {
    let Some(db) = err.as_database_error() else { return err.into() };
    let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
    match db.kind() {
        sqlx::error::ErrorKind::UniqueViolation => {
            if text.contains("cache_key") {
                let mut keys: Vec<&str> = schema.cache_key.to_vec();
                keys.sort_unstable();
                let pairs: Vec<(&str, &Value)> =
                    keys.iter().map(|k| (*k, entity.get(*k).unwrap_or(&Value::Null))).collect();
                let fields: Map<String, Value> = pairs.iter().map(|(k, v)| (k.to_string(), (*v).clone())).collect();
                return KongError::unique(&render_key(&pairs)).with_fields(Value::Object(fields)).into();
            }
            for field in schema.unique_fields() {
                let pg = format!("{}_{}_key", schema.name, field.name);
                let lite = format!("{}.{}", schema.name, field.name);
                if text.contains(&pg) || text.contains(&lite) {
                    let value = entity.get(field.name).unwrap_or(&Value::Null);
                    let fields = serde_json::json!({ field.name: value });
                    return KongError::unique(&render_key(&[(field.name, value)])).with_fields(fields).into();
                }
            }
            let id = Value::String(entity_id(entity));
            let message = format!("primary key violation on key '{}'", render_key(&[("id", &id)]));
            KongError::new(ErrorCode::PrimaryKeyViolation, message).with_fields(serde_json::json!({ "id": id })).into()
        }
        sqlx::error::ErrorKind::ForeignKeyViolation => {
            for (field, reference, _) in schema.foreign_fields() {
                if let Some(id) = foreign_id(entity, field.name) {
                    if text.contains(&format!("{}_id", field.name)) || !text.contains("_id") {
                        return foreign_key_error(field.name, reference, &id).into();
                    }
                }
            }
            err.into()
        }
        _ => err.into(),
    }
}
