//! `GET /clustering/status` and `GET /clustering/propagation/{seq}`: which nodes are live, how far each has
//! applied the change log, and a way to wait until a write (its `X-Gatehouse-Change-Seq`) is live on every
//! live node. Kong has no equivalent; the ingress controller uses the wait before it reports an Ingress live.

use crate::{reply, AdminState};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse_store::nodes::{now_millis, NodeRow};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Longest wait a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Answers the clustering routes; `None` when the path is not one of them.
pub async fn route(state: &AdminState, segs: &[&str], method: &Method, query: Option<&str>) -> Option<Response> {
    let response = match segs {
        ["clustering", "status"] => status(state).await,
        ["clustering", "digest"] => digest(state).await,
        ["clustering", "propagation", seq] => propagation(state, seq, query).await,
        _ => return None,
    };
    if *method != Method::GET && *method != Method::HEAD {
        return Some(reply::method_not_allowed());
    }
    Some(response)
}

fn is_live(state: &AdminState, node: &NodeRow, now: i64) -> bool {
    now - node.heartbeat_ms <= state.options.node_timeout.as_millis() as i64
}

/// `{"snapshot": …, "database": …}`: equal once this node has applied everything committed.
async fn digest(state: &AdminState) -> Response {
    let database = match state.dao.store().configuration_digest().await {
        Ok(d) => d,
        Err(e) => return reply::store_error(e),
    };
    let snapshot = match &state.snapshot_digest {
        Some(hook) => Value::from(hook().await),
        None => Value::Null,
    };
    reply::json(StatusCode::OK, json!({ "snapshot": snapshot, "database": database }))
}

async fn status(state: &AdminState) -> Response {
    let store = state.dao.store();
    let (latest, nodes) = match (store.latest_change_seq().await, store.cluster_nodes().await) {
        (Ok(l), Ok(n)) => (l, n),
        (Err(e), _) | (_, Err(e)) => return reply::store_error(e),
    };
    let now = now_millis();
    let data: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "hostname": n.hostname,
                "version": n.version,
                "last_seq": n.last_seq,
                "lag": (latest - n.last_seq).max(0),
                "last_seen": (now - n.heartbeat_ms) as f64 / 1000.0,
                "status": if is_live(state, n, now) { "up" } else { "down" },
            })
        })
        .collect();
    reply::json(StatusCode::OK, json!({ "latest_seq": latest, "data": data }))
}

async fn propagation(state: &AdminState, seq: &str, query: Option<&str>) -> Response {
    let Ok(seq) = seq.parse::<i64>() else {
        return reply::message(StatusCode::BAD_REQUEST, "the sequence number must be an integer");
    };
    let timeout = query
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("timeout=")))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(5))
        .min(MAX_WAIT);
    let deadline = Instant::now() + timeout;
    loop {
        let nodes = match state.dao.store().cluster_nodes().await {
            Ok(n) => n,
            Err(e) => return reply::store_error(e),
        };
        let now = now_millis();
        let live: Vec<&NodeRow> = nodes.iter().filter(|n| is_live(state, n, now)).collect();
        let pending: Vec<&str> = live.iter().filter(|n| n.last_seq < seq).map(|n| n.id.as_str()).collect();
        if pending.is_empty() {
            let ids: Vec<&str> = live.iter().map(|n| n.id.as_str()).collect();
            return reply::json(StatusCode::OK, json!({ "seq": seq, "propagated": true, "nodes": ids }));
        }
        if Instant::now() >= deadline {
            let body = json!({ "seq": seq, "propagated": false, "pending": pending });
            return reply::json(StatusCode::GATEWAY_TIMEOUT, body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
