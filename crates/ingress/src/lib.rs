//! `gatehouse-ingress`: a Kubernetes ingress controller that translates Ingress objects and Kong's CRDs into
//! gateway entities exactly as Kong's controller (KIC 3.x) names them, and pushes them to a gateway node's
//! Admin API. It never talks to the database: the node it pushes to writes the entities and their change
//! events, and the other nodes follow the change log.

pub mod objects;
pub mod sync;
pub mod translate;
