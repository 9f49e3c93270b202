//! The gateway node: configuration, CLI commands and listeners, wired together by the `gatehouse` binary.

pub mod balancer_state;
pub mod config;
pub mod database;
pub mod follower;
pub mod listeners;
pub mod plugin_state;
pub mod serve;
pub mod trust;
