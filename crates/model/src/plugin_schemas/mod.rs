//! The config schemas of the bundled plugins Gatehouse knows (`kong/plugins/<name>/schema.lua`). Kong
//! validates a plugin entity against the generic `plugins` schema specialised by the plugin's own fields
//! (its `config` record, restricted `protocols`, forbidden scopes); `entity_schema` builds that merged
//! schema once per plugin so the Admin API validates with the same pipeline as every other entity.

mod acl;
mod basic_auth;
mod correlation_id;
mod cors;
mod hmac_auth;
mod ip_restriction;
mod jwt;
mod key_auth;
mod oauth2;
mod prometheus;
mod rate_limiting;
mod request_size_limiting;
mod request_termination;
mod request_transformer;
mod response_transformer;

pub use request_transformer::{template_parts, TemplatePart};

use crate::schema::{Check, EntityCheck, Field, Kind, OnDelete, Schema, Shorthand};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One plugin's schema, as Kong's `schema.lua`: its fields (usually `consumer`/`route`/`service`
/// restrictions, `protocols` and the `config` record) and its entity checks, which may name dotted paths
/// such as `config.allow`.
#[derive(Debug)]
pub struct PluginSchema {
    pub name: &'static str,
    /// Fields that specialise the generic plugin entity's fields of the same name.
    pub fields: Vec<Field>,
    pub entity_checks: Vec<EntityCheck>,
    /// Rewrites deprecated input (Kong's `shorthand_fields`, e.g. acl's `whitelist`) on the whole plugin
    /// entity before validation.
    pub shorthand: Option<Shorthand>,
}

impl PluginSchema {
    /// A plugin with a `config` record of `config` fields, the generic protocols and every scope allowed.
    pub fn new(name: &'static str, config: Vec<Field>) -> Self {
        PluginSchema { name, fields: vec![config_record(config)], entity_checks: Vec::new(), shorthand: None }
    }

    /// Adds or replaces a top-level field (`consumer`, `protocols`, ...).
    pub fn with_field(mut self, field: Field) -> Self {
        self.fields.retain(|f| f.name != field.name);
        self.fields.insert(0, field);
        self
    }

    pub fn with_checks(mut self, checks: Vec<EntityCheck>) -> Self {
        self.entity_checks = checks;
        self
    }

    pub fn with_shorthand(mut self, shorthand: Shorthand) -> Self {
        self.shorthand = Some(shorthand);
        self
    }

    /// The `config` record's fields.
    pub fn config_fields(&self) -> &[Field] {
        match self.fields.iter().find(|f| f.name == "config").map(|f| &f.kind) {
            Some(Kind::Record(fields)) => fields,
            _ => &[],
        }
    }

    /// The JSON Kong serves at `GET /schemas/plugins/{name}`.
    pub fn to_json(&self) -> Value {
        self.as_schema(self.fields.clone(), self.entity_checks.clone()).to_json()
    }

    /// The JSON of the deprecated `GET /plugins/schema/{name}`: the `config` record alone.
    pub fn config_json(&self) -> Value {
        self.as_schema(self.config_fields().to_vec(), Vec::new()).to_json()
    }

    fn as_schema(&self, fields: Vec<Field>, entity_checks: Vec<EntityCheck>) -> Schema {
        Schema {
            name: self.name,
            admin_api_name: None,
            endpoint_key: None,
            cache_key: &[],
            fields,
            entity_checks,
            shorthand: None,
            transform: None,
            indexed: &[],
            ttl: false,
        }
    }

    fn build_entity_schema(&self) -> Schema {
        let mut schema = crate::entities::plugins::plugins();
        for field in &self.fields {
            if let Some(slot) = schema.fields.iter_mut().find(|f| f.name == field.name) {
                *slot = field.clone();
            }
        }
        schema.entity_checks.extend(self.entity_checks.iter().cloned());
        schema.shorthand = self.shorthand;
        schema
    }
}

/// `config = { type = "record", fields = ... }`: required, defaults filled from its fields.
pub fn config_record(fields: Vec<Field>) -> Field {
    Field::record("config", fields).required()
}

fn must_be_null(value: &Value) -> Result<(), String> {
    if value.is_null() {
        Ok(())
    } else {
        Err("value must be null".into())
    }
}

fn no_scope(name: &'static str, reference: &'static str) -> Field {
    Field::foreign(name, reference, OnDelete::Cascade).check(Check::Custom(must_be_null))
}

/// Kong's `typedefs.no_consumer`: the plugin cannot be applied per consumer (authentication plugins).
pub fn no_consumer() -> Field {
    no_scope("consumer", "consumers")
}
/// Kong's `typedefs.no_route`.
pub fn no_route() -> Field {
    no_scope("route", "routes")
}
/// Kong's `typedefs.no_service`.
pub fn no_service() -> Field {
    no_scope("service", "services")
}

/// Kong's `typedefs.protocols_http`: the HTTP-subsystem protocols only.
pub fn protocols_http() -> Field {
    const HTTP: &[&str] = &["grpc", "grpcs", "http", "https"];
    Field::set("protocols", Field::element(Kind::String).check(Check::OneOf(HTTP))).required().default(json!(HTTP))
}

static PLUGIN_SCHEMAS: LazyLock<Vec<PluginSchema>> = LazyLock::new(|| {
    vec![
        acl::schema(),
        basic_auth::schema(),
        correlation_id::schema(),
        cors::schema(),
        hmac_auth::schema(),
        ip_restriction::schema(),
        jwt::schema(),
        key_auth::schema(),
        oauth2::schema(),
        prometheus::schema(),
        rate_limiting::schema(),
        request_size_limiting::schema(),
        request_termination::schema(),
        request_transformer::schema(),
        response_transformer::schema(),
    ]
});

static ENTITY_SCHEMAS: LazyLock<HashMap<&'static str, Schema>> =
    LazyLock::new(|| PLUGIN_SCHEMAS.iter().map(|p| (p.name, p.build_entity_schema())).collect());

/// Every plugin whose config schema Gatehouse knows.
pub fn plugin_schemas() -> &'static [PluginSchema] {
    &PLUGIN_SCHEMAS
}

/// A plugin's own schema by name.
pub fn plugin_schema(name: &str) -> Option<&'static PluginSchema> {
    PLUGIN_SCHEMAS.iter().find(|p| p.name == name)
}

/// The generic plugin entity schema specialised for `name`; `None` for plugins without a known schema,
/// whose config is accepted as any record.
pub fn entity_schema(name: &str) -> Option<&'static Schema> {
    ENTITY_SCHEMAS.get(name)
}

#[cfg(test)]
mod tests;
