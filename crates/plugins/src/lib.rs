//! Gatehouse's plugin runtime and bundled plugins: Kong's phases, priority order and scope precedence,
//! the entity cache that credential lookups go through, and the authentication plugins.

pub mod auth;
pub mod bundled;
pub mod cache;
pub mod configs;
pub mod context;
mod near_cache;
pub mod runtime;

pub use cache::{CacheSettings, EntityCache, EntitySource, LookupError};
pub use context::{
    ClientHelloInfo, Consumer, Credential, Entity, Exit, LogRecord, Protocol, RequestCtx, ServerCertificate,
};
pub use runtime::{Instance, PluginSet, Registry};
