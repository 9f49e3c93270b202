//! Consumers (`kong/db/schema/entities/consumers.lua`).

use crate::schema::{EntityCheck, Field, Schema};
use crate::typedefs;

pub fn consumers() -> Schema {
    let mut fields = typedefs::common_fields();
    fields.extend([Field::string("username").unique(), Field::string("custom_id").unique(), typedefs::tags()]);
    Schema {
        name: "consumers",
        admin_api_name: None,
        endpoint_key: Some("username"),
        cache_key: &[],
        fields,
        entity_checks: vec![EntityCheck::AtLeastOneOf(&["custom_id", "username"])],
        shorthand: None,
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Context;
    use serde_json::json;

    #[test]
    fn requires_username_or_custom_id() {
        let schema = consumers();
        let mut entity = json!({}).as_object().cloned().unwrap_or_default();
        schema.process_auto_fields(&mut entity, Context::Insert, 1);
        let err = schema.validate(&entity).unwrap_err();
        assert_eq!(
            err.summary(),
            "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
        );
        let mut ok = json!({"username": "alice"}).as_object().cloned().unwrap_or_default();
        schema.process_auto_fields(&mut ok, Context::Insert, 1);
        assert!(schema.validate(&ok).is_ok());
        assert_eq!(ok["custom_id"], serde_json::Value::Null);
        assert_eq!(ok["tags"], serde_json::Value::Null);
    }
}
