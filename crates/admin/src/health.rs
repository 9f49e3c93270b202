//! Kong's upstream health endpoints: `GET /upstreams/{u}/health` and
//! `PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy`. The balancers live in the node's proxy;
//! the node hands them to the Admin API through [`HealthApi`].

use crate::{reply, AdminState};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse_model::schema_by_name;
use serde_json::Value;

/// What the Admin API needs from the node's load balancers.
pub trait HealthApi: Send + Sync {
    /// Kong's health report of one upstream (`balancer_health` selects the balancer-level shape); `None`
    /// when the node has no balancer for it yet.
    fn upstream_health(&self, upstream_id: &str, balancer_health: bool) -> Option<Value>;
    /// Marks a target (or one of its addresses) healthy or unhealthy; false when unknown.
    fn set_target_health(&self, upstream_id: &str, target: &str, address: Option<&str>, healthy: bool) -> bool;
}

/// Answers the health routes; `None` when the path is not one of them.
pub async fn route(state: &AdminState, segs: &[&str], method: &Method, query: Option<&str>) -> Option<Response> {
    let (upstream, rest) = match segs {
        ["upstreams", u, rest @ ..] => (*u, rest),
        _ => return None,
    };
    let (target, address, healthy) = match rest {
        ["health"] => return Some(report(state, upstream, method, query).await),
        ["targets", t, h @ ("healthy" | "unhealthy")] => (*t, None, *h == "healthy"),
        ["targets", t, a, h @ ("healthy" | "unhealthy")] => (*t, Some(*a), *h == "healthy"),
        _ => return None,
    };
    if *method != Method::PUT {
        return Some(reply::method_not_allowed());
    }
    Some(set(state, upstream, target, address, healthy).await)
}

async fn upstream_id(state: &AdminState, key: &str) -> Result<String, Response> {
    let Some(schema) = schema_by_name("upstreams") else { return Err(reply::not_found()) };
    match state.dao.select(schema, key).await {
        Ok(Some(u)) => Ok(u.get("id").and_then(Value::as_str).unwrap_or_default().to_string()),
        Ok(None) => Err(reply::not_found()),
        Err(e) => Err(reply::store_error(e)),
    }
}

async fn report(state: &AdminState, upstream: &str, method: &Method, query: Option<&str>) -> Response {
    if *method != Method::GET && *method != Method::HEAD {
        return reply::method_not_allowed();
    }
    let id = match upstream_id(state, upstream).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let balancer_health = query.is_some_and(|q| q.split('&').any(|p| p == "balancer_health=1"));
    let body = state.health.as_ref().and_then(|h| h.upstream_health(&id, balancer_health));
    let mut body = body.unwrap_or_else(|| serde_json::json!({"data": [], "next": null}));
    if let Value::Object(map) = &mut body {
        map.insert("node_id".into(), Value::from(state.info.node_id.clone()));
    }
    reply::json(StatusCode::OK, body)
}

async fn set(state: &AdminState, upstream: &str, target: &str, address: Option<&str>, healthy: bool) -> Response {
    let id = match upstream_id(state, upstream).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    // A target may be named by id; the balancer knows targets by their `host:port` text.
    let mut name = target.to_string();
    if uuid::Uuid::parse_str(target).is_ok() {
        if let Some(schema) = schema_by_name("targets") {
            match state.dao.store().get(schema, target).await {
                Ok(Some(t)) => name = t.get("target").and_then(Value::as_str).unwrap_or_default().to_string(),
                Ok(None) => return reply::not_found(),
                Err(e) => return reply::store_error(e),
            }
        }
    }
    match state.health.as_ref() {
        Some(h) if h.set_target_health(&id, &name, address, healthy) => {}
        _ => return reply::not_found(),
    }
    // Applied here already; the event carries it to the other nodes (and is harmless when it comes back).
    let event = gatehouse_store::HealthOverride { target: name, address: address.map(String::from), healthy };
    let announced = async {
        let mut txn = state.dao.store().begin().await?;
        txn.announce(gatehouse_store::HealthOverride::EVENT, &id, &event.to_op()).await?;
        txn.commit().await
    };
    match announced.await {
        Ok(seq) => reply::with_seq(reply::no_content(), seq),
        Err(e) => reply::store_error(e),
    }
}
