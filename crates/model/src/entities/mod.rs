//! One module per entity type, each returning its `Schema`.

pub mod certificates;
pub mod consumers;
pub mod credentials;
pub mod plugins;
pub mod routes;
pub mod services;
pub mod targets;
pub mod upstreams;

pub mod hostnames;
pub mod pem;
#[cfg(test)]
pub(crate) mod test_certs;
pub mod uri;
