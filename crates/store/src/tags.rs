//! The read-only tags view (`GET /tags`, `GET /tags/{tag}`): one row per (entity, tag).

use crate::page::{decode_offset, encode_offset};
use crate::{Store, StoreError};
use serde_json::{json, Value};
use sqlx::Row;

impl Store {
    /// A page of `{entity_name, entity_id, tag}` rows, optionally for one tag, ordered by (tag, entity id).
    pub async fn page_tags(
        &self,
        tag: Option<&str>,
        size: usize,
        offset: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), StoreError> {
        let b = self.backend;
        let mut sql = format!("SELECT entity_name, {}, tag FROM tags WHERE 1 = 1", b.text("entity_id"));
        let mut binds: Vec<String> = Vec::new();
        if let Some(tag) = tag {
            binds.push(tag.to_string());
            sql += &format!(" AND tag = ${}", binds.len());
        }
        if let Some(token) = offset {
            let key = decode_offset(token)?;
            let (last_tag, last_id) = match key.as_slice() {
                [t, id] => (t.clone(), id.clone()),
                _ => {
                    return Err(gatehouse_model::KongError::new(
                        gatehouse_model::ErrorCode::InvalidOffset,
                        format!("'{token}' is not a valid offset: bad json encoding"),
                    )
                    .into())
                }
            };
            binds.push(last_tag);
            let t = binds.len();
            binds.push(last_id);
            let i = binds.len();
            sql += &format!(" AND (tag > ${t} OR (tag = ${t} AND {} > ${i}))", b.text("entity_id"));
        }
        sql += &format!(" ORDER BY tag, entity_id LIMIT {}", size + 1);
        let mut query = sqlx::query(&sql);
        for v in binds {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.reader).await?;
        let mut data = Vec::new();
        let mut last = None;
        for row in rows.iter().take(size) {
            let name: String = row.try_get(0)?;
            let id: String = row.try_get(1)?;
            let tag: String = row.try_get(2)?;
            last = Some((tag.clone(), id.clone()));
            data.push(json!({ "entity_name": name, "entity_id": id, "tag": tag }));
        }
        let next = if rows.len() > size { last.map(|(t, i)| encode_offset(&[&t, &i])) } else { None };
        Ok((data, next))
    }

    /// Distinct plugin names configured anywhere, for `GET /`'s `enabled_in_cluster`.
    pub async fn plugin_names_in_use(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT name FROM plugins ORDER BY name").fetch_all(&self.reader).await?;
        rows.iter().map(|r| r.try_get::<String, _>(0).map_err(StoreError::from)).collect()
    }
}
