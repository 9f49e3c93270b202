//! Path dispatch and the generated entity endpoints (`kong/api/endpoints.lua`).

use crate::body::{self, query_args};
use crate::{info, reply, AdminState};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse_model::entities::credentials::nested_admin_name;
use gatehouse_model::schema::{Kind, Schema};
use gatehouse_model::{schema_by_admin_name, schemas, ErrorCode, KongError};
use gatehouse_store::{PageRequest, TagFilter};
use serde_json::{json, Map, Value};

/// Collections Kong does not expose at the top level (`/targets` lives under `/upstreams/{u}/targets`).
const HIDDEN_COLLECTIONS: &[&str] = &["targets"];

/// Decodes `%XX` escapes in one path segment (no form rules: `+`, `=` and `&` stay as they are).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Routes one request. Unknown paths are retried with and without a trailing slash, as Kong does.
pub async fn dispatch(state: &AdminState, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let trimmed = if path.len() > 1 { path.trim_end_matches('/') } else { path.as_str() };
    let segments: Vec<String> = trimmed.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if request.method() == Method::OPTIONS {
        return options(&segs);
    }
    if let Some(response) = info::route(state, &segs, request.method(), request.uri().query()).await {
        return response;
    }
    let (method, query) = (request.method().clone(), request.uri().query().map(str::to_string));
    if let Some(response) = crate::clustering::route(state, &segs, &method, query.as_deref()).await {
        return response;
    }
    if let Some(response) = crate::health::route(state, &segs, &method, query.as_deref()).await {
        return response;
    }
    match segs.as_slice() {
        ["schemas", name, "validate"] => info::validate_schema(state, name, request).await,
        [collection] => match collection_schema(collection) {
            Some(schema) => collection_endpoint(state, schema, None, request).await,
            None => reply::not_found(),
        },
        [collection, key] => match collection_schema(collection) {
            Some(schema) => entity_endpoint(state, schema, key, None, request).await,
            None => reply::not_found(),
        },
        [collection, key, sub] => {
            let Some(schema) = collection_schema(collection) else { return reply::not_found() };
            if let Some(field) = foreign_field(schema, sub) {
                return foreign_endpoint(state, schema, key, field, request).await;
            }
            match nested_child(schema, sub) {
                Some((child, field)) => {
                    let Some(parent) = load_or_404(state, schema, key).await else { return reply::not_found() };
                    let parent = match parent {
                        Ok(p) => p,
                        Err(r) => return r,
                    };
                    let scope = Scope { field, parent, prefix: format!("/{collection}/{key}/{sub}") };
                    collection_endpoint(state, child, Some(scope), request).await
                }
                None => reply::not_found(),
            }
        }
        [collection, key, sub, child_key] => {
            let Some(schema) = collection_schema(collection) else { return reply::not_found() };
            let Some((child, field)) = nested_child(schema, sub) else { return reply::not_found() };
            let parent = match load_or_404(state, schema, key).await {
                Some(Ok(p)) => p,
                Some(Err(r)) => return r,
                None => return reply::not_found(),
            };
            let scope = Scope { field, parent, prefix: String::new() };
            if child.name == "acls" && uuid::Uuid::parse_str(child_key).is_err() {
                return acl_by_group(state, child, child_key, scope, request).await;
            }
            entity_endpoint(state, child, child_key, Some(scope), request).await
        }
        _ => reply::not_found(),
    }
}

fn collection_schema(name: &str) -> Option<&'static Schema> {
    if HIDDEN_COLLECTIONS.contains(&name) {
        return None;
    }
    schema_by_admin_name(name)
}

fn foreign_field(schema: &Schema, name: &str) -> Option<&'static str> {
    if schema.name == "snis" && name == "certificate" {
        return None;
    }
    schema.foreign_fields().find(|(f, _, _)| f.name == name).map(|(f, _, _)| f.name)
}

/// The child collection `sub` under `parent` and the child's field that points at the parent.
fn nested_child(parent: &Schema, sub: &str) -> Option<(&'static Schema, &'static str)> {
    let named = |s: &&Schema| s.admin_name() == sub || nested_admin_name(s.name) == Some(sub);
    schemas().iter().filter(named).find_map(|child| {
        child.fields.iter().find_map(|f| match f.kind {
            Kind::Foreign { reference, .. } if reference == parent.name => Some((child, f.name)),
            _ => None,
        })
    })
}

/// A nested collection's parent: the child field to force and the loaded parent.
struct Scope {
    field: &'static str,
    parent: Map<String, Value>,
    prefix: String,
}

impl Scope {
    fn parent_id(&self) -> String {
        self.parent.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
    }
    fn reference(&self) -> Value {
        json!({ "id": self.parent_id() })
    }
    /// Whether `entity` belongs to this parent.
    fn owns(&self, entity: &Map<String, Value>) -> bool {
        entity.get(self.field).and_then(|v| v.get("id")).and_then(Value::as_str) == Some(&self.parent_id())
    }
}

async fn load_or_404(state: &AdminState, schema: &Schema, key: &str) -> Option<Result<Map<String, Value>, Response>> {
    match state.dao.select(schema, key).await {
        Ok(Some(e)) => Some(Ok(e)),
        Ok(None) => None,
        Err(e) => Some(Err(reply::store_error(e))),
    }
}

async fn collection_endpoint(
    state: &AdminState,
    schema: &'static Schema,
    scope: Option<Scope>,
    request: Request,
) -> Response {
    match *request.method() {
        Method::GET | Method::HEAD => {
            let query = query_args(request.uri().query());
            list(state, schema, scope, &query).await
        }
        Method::POST => {
            let mut input = match body::read(request, Some(schema), &state.options).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Some(scope) = &scope {
                input.insert(scope.field.into(), scope.reference());
            }
            match state.dao.insert(schema, input).await {
                Ok(w) => reply::written(StatusCode::CREATED, w),
                Err(e) => reply::store_error(e),
            }
        }
        _ => reply::method_not_allowed(),
    }
}

async fn list(
    state: &AdminState,
    schema: &'static Schema,
    scope: Option<Scope>,
    query: &Map<String, Value>,
) -> Response {
    let size_raw = query.get("size");
    let size = match parse_size(size_raw) {
        Ok(s) => s,
        Err(e) => return reply::kong_error(&e),
    };
    let tags = match parse_tags(query.get("tags")) {
        Ok(t) => t,
        Err(e) => return reply::kong_error(&e),
    };
    if schema.name == "consumers" && scope.is_none() {
        if let Some(Value::String(custom_id)) = query.get("custom_id") {
            return match state.dao.store().get_by(schema, "custom_id", custom_id).await {
                Ok(found) => {
                    reply::json(StatusCode::OK, json!({ "data": found.into_iter().collect::<Vec<_>>(), "next": null }))
                }
                Err(e) => reply::store_error(e),
            };
        }
    }
    let offset = match query.get("offset") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let request = PageRequest {
        size,
        offset,
        tags: tags.clone(),
        parent: scope.as_ref().map(|s| (s.field.to_string(), s.parent_id())),
    };
    match state.dao.page(schema, &request).await {
        Ok(page) => {
            let (offset, next) = match page.offset {
                Some(token) => {
                    let escaped: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
                    let next = match &scope {
                        Some(s) => format!("{}?offset={escaped}", s.prefix),
                        None => {
                            let mut next = format!("/{}?offset={escaped}", schema.admin_name());
                            if let Some(Value::String(t)) = query.get("tags") {
                                let t: String = form_urlencoded::byte_serialize(t.as_bytes()).collect();
                                next += &format!("&tags={t}");
                            }
                            if let Some(raw) = size_raw.and_then(Value::as_str) {
                                next += &format!("&size={raw}");
                            }
                            next
                        }
                    };
                    (Some(token), Value::from(next))
                }
                None => (None, Value::Null),
            };
            reply::json_text(StatusCode::OK, page_body(&page.data, offset.as_deref(), &next))
        }
        Err(e) => reply::store_error(e),
    }
}

/// `{"data":[...],"offset":...,"next":...}` around entity documents that are already JSON text.
fn page_body(items: &[String], offset: Option<&str>, next: &Value) -> String {
    let size: usize = items.iter().map(|i| i.len() + 1).sum();
    let mut body = String::with_capacity(size + 128);
    body.push_str("{\"data\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push(']');
    if let Some(offset) = offset {
        body.push_str(",\"offset\":");
        body.push_str(&Value::from(offset).to_string());
    }
    body.push_str(",\"next\":");
    body.push_str(&next.to_string());
    body.push('}');
    body
}

/// `?size=`: default 100, an integer from 1 to 1000.
pub fn parse_size(raw: Option<&Value>) -> Result<usize, KongError> {
    let Some(raw) = raw else { return Ok(100) };
    let text = raw.as_str().unwrap_or_default();
    let number: f64 = text
        .trim()
        .parse()
        .map_err(|_| KongError::new(ErrorCode::InvalidSize, "size must be a number").with_fields(Value::Null))?;
    if number.fract() != 0.0 || !(1.0..=1000.0).contains(&number) {
        let message = "size must be an integer between 1 and 1000";
        return Err(KongError::new(ErrorCode::InvalidSize, message).with_fields(Value::Null));
    }
    Ok(number as usize)
}

/// `?tags=a,b` (all) or `?tags=a/b` (any).
pub fn parse_tags(raw: Option<&Value>) -> Result<Option<TagFilter>, KongError> {
    let invalid = |why: &str| {
        KongError::new(ErrorCode::InvalidOptions, format!("invalid option (tags: {why})"))
            .with_fields(json!({ "tags": why }))
    };
    let text = match raw {
        None => return Ok(None),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Array(items)) => match items.first().and_then(Value::as_str) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => return Err(invalid("cannot be null")),
        },
        _ => return Err(invalid("cannot be null")),
    };
    let any = text.contains('/');
    let parts: Vec<String> = text.split(if any { '/' } else { ',' }).map(String::from).collect();
    if text.contains('/') && text.contains(',') {
        return Err(invalid(&format!(
            "invalid tag '{text}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        )));
    }
    if parts.iter().any(String::is_empty) {
        return Err(invalid("cannot be null"));
    }
    if parts.len() > 5 {
        return Err(invalid("cannot query more than 5 tags"));
    }
    Ok(Some(if any { TagFilter::Any(parts) } else { TagFilter::All(parts) }))
}

async fn entity_endpoint(
    state: &AdminState,
    schema: &'static Schema,
    key: &str,
    scope: Option<Scope>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    match method {
        Method::GET | Method::HEAD => match state.dao.select(schema, key).await {
            Ok(Some(e)) if scope.as_ref().is_none_or(|s| s.owns(&e)) => reply::json(StatusCode::OK, Value::Object(e)),
            Ok(_) => reply::not_found(),
            Err(e) => reply::store_error(e),
        },
        Method::PUT | Method::PATCH => {
            let mut input = match body::read(request, Some(schema), &state.options).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Some(scope) = &scope {
                if method == Method::PATCH {
                    match state.dao.select(schema, key).await {
                        Ok(Some(e)) if scope.owns(&e) => {}
                        Ok(_) => return reply::not_found(),
                        Err(e) => return reply::store_error(e),
                    }
                    input.entry(scope.field).or_insert_with(|| scope.reference());
                } else {
                    input.insert(scope.field.into(), scope.reference());
                }
            }
            let result = if method == Method::PUT {
                state.dao.upsert(schema, key, input).await
            } else {
                state.dao.update(schema, key, input).await
            };
            match result {
                Ok(w) => reply::written(StatusCode::OK, w),
                Err(e) => reply::store_error(e),
            }
        }
        Method::DELETE => {
            if let Some(scope) = &scope {
                match state.dao.select(schema, key).await {
                    Ok(Some(e)) if scope.owns(&e) => {}
                    Ok(_) => return reply::not_found(),
                    Err(e) => return reply::store_error(e),
                }
            }
            match state.dao.delete(schema, key).await {
                Ok(seq) => reply::with_seq(reply::no_content(), seq),
                Err(e) => reply::store_error(e),
            }
        }
        _ => reply::method_not_allowed(),
    }
}

/// `/consumers/{c}/acls/{group}`: the consumer's membership of a group addressed by the group's name, as
/// Kong's acl API; PUT creates the membership when it does not exist yet.
async fn acl_by_group(
    state: &AdminState,
    schema: &'static Schema,
    group: &str,
    scope: Scope,
    request: Request,
) -> Response {
    let probe =
        Map::from_iter([(scope.field.to_string(), scope.reference()), ("group".to_string(), Value::from(group))]);
    let cache_key = schema.cache_key_value(&probe).unwrap_or_default();
    let found = match state.dao.store().get_by(schema, "cache_key", &cache_key).await {
        Ok(found) => found,
        Err(e) => return reply::store_error(e),
    };
    let id = match (found, request.method() == Method::PUT) {
        (Some(acl), _) => acl.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
        (None, true) => uuid::Uuid::new_v4().to_string(),
        (None, false) => return reply::not_found(),
    };
    if request.method() != Method::PUT {
        return entity_endpoint(state, schema, &id, Some(scope), request).await;
    }
    let mut input = match body::read(request, Some(schema), &state.options).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    input.entry("group").or_insert_with(|| Value::from(group));
    input.insert(scope.field.into(), scope.reference());
    match state.dao.upsert(schema, &id, input).await {
        Ok(w) => reply::written(StatusCode::OK, w),
        Err(e) => reply::store_error(e),
    }
}

/// `/{entity}/{key}/{foreign field}`, e.g. `/routes/{r}/service`.
async fn foreign_endpoint(
    state: &AdminState,
    schema: &'static Schema,
    key: &str,
    field: &'static str,
    request: Request,
) -> Response {
    let Some((_, reference, _)) = schema.foreign_fields().find(|(f, _, _)| f.name == field) else {
        return reply::not_found();
    };
    let Some(parent_schema) = gatehouse_model::schema_by_name(reference) else { return reply::not_found() };
    let child = match load_or_404(state, schema, key).await {
        Some(Ok(c)) => c,
        Some(Err(r)) => return r,
        None => return reply::not_found(),
    };
    let target_id = child.get(field).and_then(|v| v.get("id")).and_then(Value::as_str).map(String::from);
    let method = request.method().clone();
    match (method, target_id) {
        (Method::GET | Method::HEAD, Some(id)) => match state.dao.select(parent_schema, &id).await {
            Ok(Some(e)) => reply::json(StatusCode::OK, Value::Object(e)),
            Ok(None) => reply::not_found(),
            Err(e) => reply::store_error(e),
        },
        (Method::GET | Method::HEAD | Method::DELETE | Method::PATCH, None) => reply::not_found(),
        (Method::DELETE, Some(_)) => reply::method_not_allowed(),
        (m @ (Method::PUT | Method::PATCH), target) => {
            let input = match body::read(request, Some(parent_schema), &state.options).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let result = match (m, target) {
                (Method::PATCH, Some(id)) => state.dao.update(parent_schema, &id, input).await,
                (_, Some(id)) => state.dao.upsert(parent_schema, &id, input).await,
                (_, None) => {
                    let new_id = uuid::Uuid::new_v4().to_string();
                    match state.dao.upsert(parent_schema, &new_id, input).await {
                        Ok(parent) => {
                            let link = Map::from_iter([(field.to_string(), json!({ "id": new_id }))]);
                            let child_id = child.get("id").and_then(Value::as_str).unwrap_or_default();
                            state.dao.update(schema, child_id, link).await.map(|linked| gatehouse_store::dao::Written {
                                entity: parent.entity,
                                seq: linked.seq.max(parent.seq),
                            })
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(w) => reply::written(StatusCode::OK, w),
                Err(e) => reply::store_error(e),
            }
        }
        _ => reply::method_not_allowed(),
    }
}

/// Kong answers OPTIONS on every route with 204 and the allowed methods.
fn options(segs: &[&str]) -> Response {
    let methods = match segs.len() {
        0 => "GET, HEAD, OPTIONS",
        1 => "GET, HEAD, OPTIONS, POST",
        _ => "DELETE, GET, HEAD, OPTIONS, PATCH, PUT",
    };
    let mut response = reply::no_content();
    let headers = response.headers_mut();
    if let Ok(v) = methods.parse() {
        headers.insert("allow", v);
    }
    if let Ok(v) = methods.parse() {
        headers.insert("access-control-allow-methods", v);
    }
    headers.insert("access-control-allow-headers", axum::http::HeaderValue::from_static("Content-Type"));
    response
}
