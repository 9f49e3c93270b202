//! Kong 3.9's Admin API, generated from the entity schemas as Kong generates its endpoints: collections,
//! entities by id or endpoint key, foreign-key sub-resources and nested collections, with Kong's argument
//! decoding, pagination, error bodies and headers.

pub mod args;
mod body;
mod clustering;
mod entities;
pub mod health;
mod info;
mod reply;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use gatehouse_store::dao::Dao;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Facts about the node that `GET /` reports.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: String,
    pub hostname: String,
    pub version: String,
    /// The node's configuration with secrets already removed.
    pub configuration: serde_json::Value,
}

/// Admin API settings taken from the node configuration.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// `nginx_admin_client_max_body_size` in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Whether `X-Kong-Admin-Latency` is sent (`headers` contains `latency_tokens`).
    pub latency_header: bool,
    /// Whether the `Server` header is sent (`headers` contains `server_tokens`).
    pub server_header: bool,
    /// A node whose heartbeat is older than this is reported down and not waited for.
    pub node_timeout: std::time::Duration,
    /// Longest pause allowed while a client sends a request body (`client_body_timeout`, which Kong's
    /// admin listener inherits from nginx): 408 after it.
    pub body_timeout: std::time::Duration,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            max_body_bytes: 10 * 1024 * 1024,
            latency_header: true,
            server_header: true,
            node_timeout: std::time::Duration::from_secs(30),
            body_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// Request counters for `GET /status`.
#[derive(Debug, Default)]
pub struct Counters {
    pub total_requests: AtomicU64,
    pub connections_active: AtomicU64,
    pub connections_accepted: AtomicU64,
}

/// Called after every successful write with the request path, and awaited before the response is sent:
/// this is how a node's proxy sees its own Admin API writes by the time the client gets the answer.
pub type WriteHook =
    Arc<dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// Everything a request handler needs, shared across requests.
pub struct AdminState {
    pub dao: Dao,
    pub info: NodeInfo,
    pub options: AdminOptions,
    pub counters: Arc<Counters>,
    pub on_write: Option<WriteHook>,
    /// The node's load balancers, for the upstream health endpoints.
    pub health: Option<Arc<dyn health::HealthApi>>,
    /// The digest of the node's proxy configuration, for `GET /clustering/digest`.
    pub snapshot_digest: Option<DigestHook>,
}

/// Computes the digest of the configuration a node's proxy serves.
pub type DigestHook =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Send + Sync>;

/// The Admin API as an axum router. Routing is done by `dispatch` itself so that unknown paths, trailing
/// slashes and wrong methods get Kong's exact answers.
pub fn router(state: Arc<AdminState>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// Also serves the status listener: `/status` and `/status/ready` only.
pub fn status_router(state: Arc<AdminState>) -> axum::Router {
    axum::Router::new().fallback(info::status_listener).with_state(state)
}

async fn handle(State(state): State<Arc<AdminState>>, request: Request) -> Response {
    let started = Instant::now();
    state.counters.total_requests.fetch_add(1, Ordering::Relaxed);
    let is_write = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let path = request.uri().path().to_string();
    let mut response = entities::dispatch(&state, request).await;
    if is_write && response.status().is_success() {
        if let Some(hook) = &state.on_write {
            hook(path).await;
        }
    }
    let headers = response.headers_mut();
    if state.options.latency_header {
        let ms = started.elapsed().as_millis().to_string();
        if let Ok(v) = ms.parse() {
            headers.insert("x-kong-admin-latency", v);
        }
    }
    if state.options.server_header {
        if let Ok(v) = format!("gatehouse/{}", state.info.version).parse() {
            headers.insert("server", v);
        }
    }
    headers.insert("access-control-allow-origin", axum::http::HeaderValue::from_static("*"));
    response
}
