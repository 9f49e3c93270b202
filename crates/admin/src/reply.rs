//! Response helpers: JSON bodies, Kong's error bodies, and mapping store failures onto HTTP.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_model::KongError;
use gatehouse_store::StoreError;
use serde_json::{json, Value};

pub fn json(status: StatusCode, body: Value) -> Response {
    json_text(status, body.to_string())
}

/// A response whose body is already serialised JSON.
pub fn json_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// The header carrying the change-log sequence number a write produced; clients can wait for it to reach
/// every node (`/clustering/propagation/{seq}`).
pub const SEQ_HEADER: &str = "x-gatehouse-change-seq";

/// A written entity, with the sequence number header.
pub fn written(status: StatusCode, written: gatehouse_store::dao::Written) -> Response {
    with_seq(json(status, Value::Object(written.entity)), written.seq)
}

pub fn with_seq(mut response: Response, seq: Option<i64>) -> Response {
    if let Some(seq) = seq {
        response.headers_mut().insert(SEQ_HEADER, HeaderValue::from(seq));
    }
    response
}

pub fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "message": text }))
}

pub fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

pub fn method_not_allowed() -> Response {
    message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub fn kong_error(error: &KongError) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %error.message, "database error");
        return message(status, "An unexpected error occurred");
    }
    json(status, error.to_json())
}

/// Maps a store failure: Kong errors as Kong sends them, an unreachable database as 503 so that clients
/// retry, anything else as 500.
pub fn store_error(error: StoreError) -> Response {
    if error.is_unavailable() {
        tracing::warn!(%error, "database unavailable");
        return message(StatusCode::SERVICE_UNAVAILABLE, "database is unreachable; try again later");
    }
    match error {
        StoreError::Kong(e) => kong_error(&e),
        other => {
            tracing::error!(error = %other, "store error");
            message(StatusCode::INTERNAL_SERVER_ERROR, "An unexpected error occurred")
        }
    }
}
