//! A certificate's `snis` field: accepted on certificate writes and rendered on reads, but stored as SNI
//! entities, as Kong's certificates DAO does.

use crate::crud::Txn;
use crate::{Store, StoreError};
use gatehouse_model::schema::Schema;
use gatehouse_model::{FieldErrors, KongError};
use serde_json::{Map, Value};

fn snis_schema() -> Result<&'static Schema, StoreError> {
    gatehouse_model::schema_by_name("snis").ok_or_else(|| StoreError::Config("snis schema missing".into()))
}

fn names_of(rows: &[Map<String, Value>]) -> Vec<String> {
    let mut names: Vec<String> =
        rows.iter().filter_map(|r| r.get("name").and_then(Value::as_str)).map(String::from).collect();
    names.sort();
    names
}

/// The sorted SNI names that point at a certificate.
pub(crate) async fn sni_names(store: &Store, certificate_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(names_of(&store.children(snis_schema()?, "certificate", certificate_id).await?))
}

/// Removes the transient `snis` list from a certificate before it is stored.
pub(crate) fn take_snis(schema: &Schema, entity: &mut Map<String, Value>) -> Option<Vec<String>> {
    if schema.name != "certificates" {
        return None;
    }
    match entity.remove("snis") {
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).map(String::from).collect()),
        _ => None,
    }
}

/// Makes the certificate's SNI entities match `wanted` (when given) and returns the resulting names.
pub(crate) async fn sync_snis(
    tx: &mut Txn,
    certificate_id: &str,
    wanted: Option<Vec<String>>,
) -> Result<Vec<String>, StoreError> {
    let schema = snis_schema()?;
    let current = tx.children(schema, "certificate", certificate_id).await?;
    let Some(wanted) = wanted else { return Ok(names_of(&current)) };
    for (i, name) in wanted.iter().enumerate() {
        if wanted[..i].contains(name) {
            return Err(KongError::field("snis", format!("{name} is duplicated")).into());
        }
    }
    for row in &current {
        let name = row.get("name").and_then(Value::as_str).unwrap_or_default();
        if !wanted.iter().any(|w| w == name) {
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            tx.delete(schema, &id).await?;
        }
    }
    for name in &wanted {
        if current.iter().any(|r| r.get("name").and_then(Value::as_str) == Some(name)) {
            continue;
        }
        if let Some(other) = tx.get_by(schema, "name", name).await? {
            let owner = other.get("certificate").and_then(|c| c.get("id")).and_then(Value::as_str).unwrap_or_default();
            let mut errors = FieldErrors::default();
            errors.insert("snis", format!("{name} already associated with existing certificate '{owner}'"));
            return Err(KongError::schema_violation(errors).into());
        }
        let now = crate::now_seconds();
        let mut sni = Map::new();
        sni.insert("name".into(), Value::from(name.clone()));
        sni.insert("certificate".into(), serde_json::json!({ "id": certificate_id }));
        schema.process_auto_fields(&mut sni, gatehouse_model::Context::Insert, now);
        tx.insert(schema, &sni).await?;
    }
    let mut names = wanted;
    names.sort();
    Ok(names)
}
