//! The set of entity schemas a node serves, built once.

use crate::entities;
use crate::schema::Schema;
use std::sync::LazyLock;

static SCHEMAS: LazyLock<Vec<Schema>> = LazyLock::new(|| {
    vec![
        entities::certificates::certificates(),
        entities::certificates::ca_certificates(),
        entities::certificates::snis(),
        entities::services::services(),
        entities::routes::routes(),
        entities::consumers::consumers(),
        entities::upstreams::upstreams(),
        entities::targets::targets(),
        entities::plugins::plugins(),
        entities::credentials::keyauth_credentials(),
        entities::credentials::basicauth_credentials(),
        entities::credentials::jwt_secrets(),
        entities::credentials::hmacauth_credentials(),
        entities::credentials::acls(),
        entities::credentials::oauth2_credentials(),
    ]
});

/// All entity schemas, parents before children (the order tables are created and imported in).
pub fn schemas() -> &'static [Schema] {
    &SCHEMAS
}

/// Looks a schema up by table name (`ca_certificates`).
pub fn schema_by_name(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.name == name)
}

/// Looks a schema up by its Admin API collection name (`ca_certificates`, `key-auths`).
pub fn schema_by_admin_name(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.admin_name() == name)
}
