//! Gatehouse's data model: Kong 3.9's entities with their fields, defaults and validation rules, and Kong's
//! error format. Pure data and functions, no I/O, so every other crate (including the ingress controller)
//! can share one definition of what a valid entity is.

pub mod entities;
pub mod errors;
pub mod plugin_schemas;
pub mod plugins;
pub mod registry;
pub mod schema;
pub mod typedefs;

pub use errors::{ErrorCode, FieldErrors, KongError};
pub use registry::{schema_by_admin_name, schema_by_name, schemas};
pub use schema::{Context, Schema};

/// The Kong version whose behaviour Gatehouse reproduces, reported by `GET /` and `gatehouse version`.
pub const KONG_COMPAT_VERSION: &str = "3.9.1";
