//! Reading request bodies with Kong's content-type rules: JSON, form-urlencoded and multipart are accepted,
//! anything else is 415, unparsable JSON is 400, an oversized body is 413 and one that stalls for longer
//! than `client_body_timeout` is 408.

use crate::args::{decode_pairs, infer_entity};
use crate::reply;
use crate::AdminOptions;
use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_model::Schema;
use serde_json::{Map, Value};
use tower_http::timeout::{TimeoutBody, TimeoutError};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART: &str = "multipart/form-data";

/// Reads and decodes the body of a POST/PUT/PATCH. `schema` drives type inference for form bodies.
pub async fn read(
    request: Request,
    schema: Option<&Schema>,
    options: &AdminOptions,
) -> Result<Map<String, Value>, Response> {
    let limit = options.max_body_bytes;
    let idle = options.body_timeout;
    let request = request.map(|body| Body::new(TimeoutBody::new(idle, body)));
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let declared_empty =
        request.headers().get("content-length").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0");
    let Some(content_type) = content_type else {
        let bytes = collect(request, limit).await?;
        if declared_empty || bytes.is_empty() {
            return Ok(Map::new());
        }
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    };
    if content_type.starts_with(MULTIPART) {
        return read_multipart(request, schema).await;
    }
    if !(content_type.starts_with(JSON) || content_type.starts_with(FORM)) {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    let bytes = collect(request, limit).await?;
    if content_type.starts_with(JSON) {
        return match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(reply::message(StatusCode::BAD_REQUEST, "Cannot parse JSON body")),
        };
    }
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut args = decode_pairs(pairs, true);
    if let Some(schema) = schema {
        infer_entity(schema, &mut args);
    }
    Ok(args)
}

async fn collect(request: Request, limit: usize) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(request.into_body(), limit).await.map_err(|e| match timed_out(&e) {
        true => request_timeout(),
        false => reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
    })
}

/// Whether reading a body failed because the client paused for longer than `client_body_timeout`.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<TimeoutError>())
}

/// nginx's answer to a stalled body (`client_body_timeout`); the connection closes after it.
fn request_timeout() -> Response {
    let mut response = reply::message(StatusCode::REQUEST_TIMEOUT, "Request timeout");
    response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

async fn read_multipart(request: Request, schema: Option<&Schema>) -> Result<Map<String, Value>, Response> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| reply::message(StatusCode::BAD_REQUEST, "Cannot parse multipart body"))?;
    let mut pairs = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.text().await {
                    Ok(text) => pairs.push((name, text)),
                    Err(e) => return Err(multipart_error(&e)),
                }
            }
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e)),
        }
    }
    let mut args = decode_pairs(pairs, true);
    if let Some(schema) = schema {
        infer_entity(schema, &mut args);
    }
    Ok(args)
}

/// Parses a query string into Kong's decoded argument map (no map keys, as on GET).
pub fn query_args(query: Option<&str>) -> Map<String, Value> {
    let pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    decode_pairs(pairs, false)
}

/// The answer to a multipart body that could not be read.
fn multipart_error(error: &MultipartError) -> Response {
    if timed_out(error) {
        return request_timeout();
    }
    match error.status() {
        StatusCode::PAYLOAD_TOO_LARGE => reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        _ => reply::message(StatusCode::BAD_REQUEST, "Cannot parse multipart body"),
    }
}
