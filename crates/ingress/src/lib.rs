//! `gatehouse-ingress`: a Kubernetes ingress controller that translates Ingress objects and Kong's CRDs into
//! gateway entities exactly as Kong's controller (KIC 3.x) names them, and pushes them to a gateway node's
//! Admin API. It never talks to the database: the node it pushes to writes the entities and their change
//! events, and the other nodes follow the change log.

pub mod cli;
pub mod controller;
pub mod election;
pub mod health;
pub mod objects;
pub mod references;
pub mod report;
pub mod sync;
pub mod translate;
pub mod watch;
