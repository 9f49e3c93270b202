//! Request routing: discovery and OpenAPI paths, the admin endpoints under `/_testserver/`, and the
//! resource paths (`/api/v1/...`, `/apis/{group}/{version}/...`, namespaced or not, with `/status`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::discovery;
use crate::list::{self, ListOptions};
use crate::ops::{self, present, DeleteOptions, Target};
use crate::patch::{self, PatchKind};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::server::{Availability, Shared};
use crate::status::{ApiError, ApiResult};
use crate::watch::{self, WatchRequest};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

const MAX_BODY: usize = 3 * 1024 * 1024;

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

/// The parsed parts of a request that handlers need.
struct Req {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    content_type: String,
    accept: String,
    body: Bytes,
}

impl Req {
    fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("1" | "true" | "True"))
    }

    fn dry_run(&self) -> bool {
        self.q("dryRun").is_some_and(|v| !v.is_empty())
    }

    fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }

    fn yaml_body(&self) -> bool {
        self.content_type.contains("yaml")
    }

    fn object_body(&self) -> ApiResult<Value> {
        if self.content_type.contains("protobuf") {
            return crate::protobuf::decode(&self.body);
        }
        patch::parse_body(&self.body, self.yaml_body())
    }

    fn list_options(&self) -> ApiResult<ListOptions> {
        Ok(ListOptions {
            labels: LabelSelector::parse(self.q("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)?,
            fields: FieldSelector::parse(self.q("fieldSelector").unwrap_or("")).map_err(ApiError::bad_request)?,
            limit: match self.q("limit").filter(|s| !s.is_empty()) {
                Some(l) => Some(l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?),
                None => None,
            },
            continue_token: self.q("continue").map(String::from),
            resource_version: self.q("resourceVersion").map(String::from),
            resource_version_match: self.q("resourceVersionMatch").filter(|s| !s.is_empty()).map(String::from),
        })
    }
}

/// Entry point for every HTTP request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (parts, incoming) = req.into_parts();
    let header = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).unwrap_or("").to_string();
    let query =
        parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    let admin = path.starts_with("/_testserver/");
    if !admin {
        loop {
            match shared.availability() {
                Availability::Available => break,
                Availability::Stall => shared.wait_while_stalled().await,
                Availability::Unavailable | Availability::Refuse => {
                    let mut resp = error_response(&ApiError::unavailable());
                    resp.headers_mut().insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return Ok(resp);
                }
            }
        }
    }
    let body = match Limited::new(incoming, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let err = ApiError::new(413, "RequestEntityTooLarge", format!("request body: {e}"));
            return Ok(error_response(&err));
        }
    };
    let req =
        Req { method: parts.method, path, query, content_type: header(CONTENT_TYPE), accept: header(ACCEPT), body };
    tracing::debug!("{} {}", req.method, parts.uri);
    let resp = if admin { admin_request(&shared, &req) } else { route(&shared, &req) };
    Ok(resp.unwrap_or_else(|e| {
        tracing::debug!("{} {} -> {e}", req.method, parts.uri);
        error_response(&e)
    }))
}

fn route(shared: &Arc<Shared>, req: &Req) -> ApiResult<Response<Body>> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |v: Value| {
        if req.method == Method::GET {
            Ok(json_response(200, &v))
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match segs.as_slice() {
        [] => get_only(
            json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
        ),
        ["version"] => get_only(discovery::version_info()),
        ["healthz" | "livez" | "readyz", ..] => {
            let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")).boxed_unsync());
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            Ok(resp)
        }
        ["api"] => get_only(discovery::api_versions(&shared.address.to_string())),
        ["apis"] => get_only(discovery::api_group_list(&shared.store.lock().registry)),
        ["api", "v1"] => get_only(discovery::resource_list(&shared.store.lock().registry, "", "v1").expect("core")),
        ["apis", group] => {
            get_only(discovery::api_group(&shared.store.lock().registry, group).ok_or_else(ApiError::no_route)?)
        }
        ["apis", group, version] => {
            let list = discovery::resource_list(&shared.store.lock().registry, group, version);
            get_only(list.ok_or_else(ApiError::no_route)?)
        }
        ["openapi", "v2"] if req.method == Method::GET => {
            let protobuf = req.accept.contains("protobuf");
            let mut resp = Response::new(Full::new(Bytes::from(discovery::openapi_v2(protobuf))).boxed_unsync());
            let ct = if protobuf { "application/octet-stream" } else { "application/json" };
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            Ok(resp)
        }
        ["openapi", "v3"] => get_only(discovery::openapi_v3_root(&shared.store.lock().registry)),
        ["openapi", "v3", rest @ ..] => {
            let doc = discovery::openapi_v3_group_version(&shared.store.lock().registry, &rest.join("/"));
            get_only(doc.ok_or_else(ApiError::no_route)?)
        }
        ["api", "v1", rest @ ..] => resource_request(shared, req, "", "v1", rest),
        ["apis", group, version, rest @ ..] => resource_request(shared, req, group, version, rest),
        _ => Err(ApiError::no_route()),
    }
}

/// Which object path a request addresses.
struct Addressed {
    target: Target,
    name: Option<String>,
    status: bool,
    watch: bool,
}

fn resolve(shared: &Shared, group: &str, version: &str, rest: &[&str]) -> ApiResult<Addressed> {
    let registry = &shared.store.lock().registry;
    let (watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if registry.find(group, version, plural).is_some_and(|t| t.namespaced) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(*sub)),
        _ => return Err(ApiError::no_route()),
    };
    let ty = registry.find(group, version, plural).ok_or_else(ApiError::no_route)?;
    // Namespaced kinds only serve lists/watches without a namespace; cluster-scoped ones never take one.
    if (ty.namespaced && namespace.is_none() && name.is_some()) || (!ty.namespaced && namespace.is_some()) {
        return Err(ApiError::no_route());
    }
    let status = match sub {
        None => false,
        Some("status") if ty.status_subresource => true,
        Some(_) => return Err(ApiError::no_route()),
    };
    Ok(Addressed { target: Target { ty, version: version.to_string(), namespace }, name, status, watch })
}

fn resource_request(
    shared: &Arc<Shared>,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Response<Body>> {
    let Addressed { target: t, name, status, watch } = resolve(shared, group, version, rest)?;
    let dry_run = req.dry_run();
    let out = |code: u16, obj: &Value| json_response(code, &present(obj, &t.ty, &t.version));
    let Some(name) = name else {
        return match req.method {
            Method::GET if watch || req.flag("watch") => start_watch(shared, req, t),
            Method::GET => {
                let list = list::list(&shared.store.lock(), &t, &req.list_options()?)?;
                if req.wants_table() {
                    let items = list["items"].as_array().cloned().unwrap_or_default();
                    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("");
                    return Ok(json_response(200, &discovery::table(&items, rv, req.q("includeObject").unwrap_or(""))));
                }
                Ok(json_response(200, &list))
            }
            Method::POST if t.namespace.is_some() || !t.ty.namespaced => {
                let body = req.object_body()?;
                if !crate::store::resource_version(&body).is_empty() {
                    return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
                }
                let created = ops::create(&mut shared.store.lock(), &t, body, dry_run)?;
                Ok(out(201, &created))
            }
            Method::DELETE => {
                let list = list::delete_collection(&mut shared.store.lock(), &t, &req.list_options()?, dry_run)?;
                if t.ty.is_namespace() && !dry_run {
                    for item in list["items"].as_array().into_iter().flatten() {
                        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                        finalize_namespace_later(shared, name.to_string());
                    }
                }
                Ok(json_response(200, &list))
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    };
    match req.method {
        Method::GET if watch || req.flag("watch") => {
            let mut req_fields = req.list_options()?;
            req_fields.fields =
                FieldSelector::parse(&format!("metadata.name={name}")).map_err(ApiError::bad_request)?;
            start_watch_with(shared, req, t, req_fields)
        }
        Method::GET => {
            let obj = ops::get(&shared.store.lock(), &t, &name)?;
            if req.wants_table() {
                let rv = crate::store::resource_version(&obj).to_string();
                let item = present(&obj, &t.ty, &t.version);
                return Ok(json_response(200, &discovery::table(&[item], &rv, req.q("includeObject").unwrap_or(""))));
            }
            Ok(out(200, &obj))
        }
        Method::PUT => {
            let body = req.object_body()?;
            let mut inner = shared.store.lock();
            let obj = if status {
                ops::update_status(&mut inner, &t, &name, body, dry_run)?
            } else {
                ops::update(&mut inner, &t, &name, body, dry_run)?
            };
            Ok(out(200, &obj))
        }
        Method::PATCH => {
            let kind = PatchKind::from_content_type(&req.content_type)?;
            let (obj, created) = ops::patch(&mut shared.store.lock(), &t, &name, kind, &req.body, status, dry_run)?;
            Ok(out(if created { 201 } else { 200 }, &obj))
        }
        Method::DELETE if !status => {
            let opts = DeleteOptions::from_body(&req.body, dry_run)?;
            let (obj, gone) = ops::delete(&mut shared.store.lock(), &t, &name, &opts)?;
            if t.ty.is_namespace() && !gone && !opts.dry_run {
                finalize_namespace_later(shared, name);
                return Ok(out(200, &obj));
            }
            Ok(out(if gone { 200 } else { 202 }, &obj))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Removes a Terminating namespace and its objects after the configured delay.
fn finalize_namespace_later(shared: &Arc<Shared>, name: String) {
    let (shared, delay) = (shared.clone(), shared.options.namespace_deletion_delay);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        ops::finalize_namespace(&mut shared.store.lock(), &name);
    });
}

fn start_watch(shared: &Arc<Shared>, req: &Req, t: Target) -> ApiResult<Response<Body>> {
    let opts = req.list_options()?;
    start_watch_with(shared, req, t, opts)
}

fn start_watch_with(shared: &Arc<Shared>, req: &Req, t: Target, filter: ListOptions) -> ApiResult<Response<Body>> {
    let timeout = match req.q("timeoutSeconds").filter(|s| !s.is_empty() && *s != "0") {
        Some(s) => {
            Duration::from_secs(s.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {s}")))?)
        }
        None => shared.options.default_watch_timeout,
    };
    let watch_req = WatchRequest {
        target: t,
        resource_version: filter.resource_version.clone(),
        filter,
        send_initial_events: req.flag("sendInitialEvents"),
        bookmarks: req.flag("allowWatchBookmarks"),
        timeout: Some(timeout).filter(|t| !t.is_zero()),
    };
    let mut rx = watch::start(shared.clone(), watch_req)?;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))));
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// `/_testserver/availability?mode=...[&forMs=N]`, `/_testserver/close-watches`, `/_testserver/compact`,
/// `/_testserver/apply` (a YAML/JSON manifest body). Not subject to simulated outages (except `refuse`).
fn admin_request(shared: &Arc<Shared>, req: &Req) -> ApiResult<Response<Body>> {
    let read = req.method == Method::GET;
    match (req.path.trim_start_matches("/_testserver/"), read) {
        ("availability", true) => Ok(json_response(200, &json!({"mode": shared.availability().as_str()}))),
        ("availability", false) => {
            let mode: Availability = req.q("mode").unwrap_or("").parse().map_err(ApiError::bad_request)?;
            let for_ms = req.q("forMs").or(req.q("for_ms")).and_then(|s| s.parse::<u64>().ok());
            shared.set_availability(mode);
            if let Some(ms) = for_ms {
                let shared = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    if shared.availability() == mode {
                        shared.set_availability(Availability::Available);
                    }
                });
            }
            Ok(json_response(200, &json!({"mode": mode.as_str()})))
        }
        ("close-watches", false) => {
            shared.close_watches();
            Ok(json_response(200, &json!({})))
        }
        ("compact", false) => {
            let mut inner = shared.store.lock();
            inner.compact();
            Ok(json_response(200, &json!({"resourceVersion": inner.current_rv().to_string()})))
        }
        ("apply", false) => {
            let text = std::str::from_utf8(&req.body).map_err(|_| ApiError::bad_request("manifest is not UTF-8"))?;
            let n = crate::apply_manifest(shared, text)?;
            Ok(json_response(200, &json!({"applied": n})))
        }
        _ => Err(ApiError::no_route()),
    }
}
