//! Error answers through the real proxy listener, as Kong renders them: the bundled key-auth's
//! `kong.response.error` and the proxy's own 404/502 pick their template from `Accept` (or answer gRPC
//! requests with `grpc-status`/`grpc-message`), and a plugin reads the matched route and service entities.

mod plugin_common;

use gatehouse_plugins::runtime::{DynPlugin, Plugin};
use gatehouse_plugins::{Exit, Registry, RequestCtx};
use gatehouse_proxy::{ErrorTemplates, ErrorType, Proxy, ProxyOptions, Snapshot};
use plugin_common::{listen, map, publish_with_plugins};
use serde_json::{json, Value};
use std::sync::Arc;

const SERVICE: &str = "00000000-0000-4000-8000-000000000001";
const KEYED: &str = "00000000-0000-4000-8000-000000000002";
const OBSERVED: &str = "00000000-0000-4000-8000-000000000003";

/// Answers with what it sees of the route and service (Kong's `kong.router.get_route()`/`get_service()`).
struct Observer;

impl Plugin for Observer {
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let (Some(route), Some(service)) = (ctx.route, ctx.service) else {
            return Err(Exit::new(500, "no route or service"));
        };
        Err(Exit::json(200, json!({ "route": route, "service": service })))
    }
}

fn observer(_: &Value) -> Result<Arc<dyn DynPlugin>, String> {
    Ok(Arc::new(Observer))
}

/// A proxy with a key-auth route (`/keyed`), an observed route (`/observed`), and a service whose upstream
/// port refuses connections (`/refused`, for 502).
async fn start(options: ProxyOptions) -> u16 {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = Proxy::new(options).unwrap();
    let services = [map(json!({"id": SERVICE, "name": "refusing", "protocol": "http", "host": "127.0.0.1",
                                "port": closed, "tags": ["t1"]}))];
    let route = |id: &str, path: &str| {
        map(json!({"id": id, "name": path.trim_start_matches('/'), "paths": [path], "service": {"id": SERVICE},
                   "protocols": ["http"], "strip_path": true}))
    };
    let routes = [
        route(KEYED, "/keyed"),
        route(OBSERVED, "/observed"),
        route("00000000-0000-4000-8000-000000000004", "/refused"),
        map(json!({"id": "00000000-0000-4000-8000-000000000005", "paths": ["/secure"], "service": {"id": SERVICE},
                   "protocols": ["https"], "https_redirect_status_code": 301})),
    ];
    let mut registry = Registry::default();
    registry.register("observer", 10, observer);
    let plugins = [
        map(json!({"id": "00000000-0000-4000-8000-0000000000a1", "name": "key-auth", "enabled": true,
                   "route": {"id": KEYED}, "config": {"key_names": ["apikey"]}})),
        map(json!({"id": "00000000-0000-4000-8000-0000000000a2", "name": "observer", "enabled": true,
                   "route": {"id": OBSERVED}, "config": {}})),
    ];
    publish_with_plugins(&proxy, Snapshot::build(&routes, &services, 1), &registry, &plugins);
    listen(&proxy, false).await
}

/// One request with exactly the given headers (hyper adds no `Accept`, unlike reqwest), over HTTP/2
/// (prior knowledge) when `h2`: status, headers and body.
async fn send(port: u16, path: &str, h2: bool, headers: &[(&str, &str)]) -> (u16, http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(h2)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let method = if h2 { "POST" } else { "GET" };
    let mut request = http::Request::builder().method(method).uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if h2 { vec![0u8; 5] } else { Vec::new() };
    let reply = client.request(request.body(http_body_util::Full::new(body.into())).unwrap()).await.unwrap();
    let (parts, body) = reply.into_parts();
    (parts.status.as_u16(), parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

/// Status, content type, request id and body of a GET with the given `Accept` (none when `None`).
async fn get(port: u16, path: &str, accept: Option<&str>) -> (u16, String, String, String) {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
    let (status, headers, body) = send(port, path, false, &headers).await;
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, header("content-type"), header("x-kong-request-id"), String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_errors_follow_the_accept_header() {
    let port = start(ProxyOptions::default()).await;
    let (status, content_type, id, body) = get(port, "/keyed", None).await;
    assert_eq!((status, content_type.as_str()), (401, "application/json; charset=utf-8"));
    assert_eq!(body, format!("{{\n  \"message\":\"No API key found in request\",\n  \"request_id\":\"{id}\"\n}}"));

    let (status, content_type, id, body) = get(port, "/keyed", Some("text/html")).await;
    assert_eq!((status, content_type.as_str()), (401, "text/html; charset=utf-8"));
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(body.contains("<p>No API key found in request.</p>\n    <p>request_id: ".to_string().as_str()));
    assert!(body.contains(&id));

    let (_, content_type, id, body) = get(port, "/keyed", Some("text/html;q=0.2, application/xml;q=0.8")).await;
    assert_eq!(content_type, "application/xml; charset=utf-8");
    assert_eq!(
        body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>No API key found in request</message>\n  \
             <requestid>{id}</requestid>\n</error>\n"
        )
    );

    let (_, content_type, id, body) = get(port, "/keyed", Some("text/*")).await;
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert_eq!(body, format!("No API key found in request\nrequest_id: {id}\n"));

    // An https-only route redirects with Kong's `kong.response.exit(301)`: a Location and no body.
    let (status, headers, body) = send(port, "/secure/x?a=1", false, &[]).await;
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "https://127.0.0.1/secure/x?a=1");
    assert_eq!(headers["content-length"], "0");
    assert!(body.is_empty() && !headers.contains_key("content-type"));

    // The proxy's own 404 goes through the same `kong.response.error`.
    let (status, content_type, id, body) = get(port, "/nowhere", Some("text/plain")).await;
    assert_eq!((status, content_type.as_str()), (404, "text/plain; charset=utf-8"));
    assert_eq!(body, format!("no Route matched with those values\nrequest_id: {id}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_requests_get_trailers_only_errors() {
    let port = start(ProxyOptions::default()).await;
    for (path, status, code, message) in [
        ("/keyed", 401, "16", "Unauthenticated"),
        ("/nowhere", 404, "5", "NotFound"),
        // The error page passes its own message (Kong's `error_handlers.lua`).
        ("/refused", 502, "13", "An invalid response was received from the upstream server"),
    ] {
        let grpc = [("content-type", "application/grpc"), ("te", "trailers")];
        let (got, headers, body) = send(port, path, true, &grpc).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(headers["grpc-status"], code, "{path}");
        assert_eq!(headers["grpc-message"], message, "{path}");
        assert!(body.is_empty(), "{path}: no body");
        if path != "/refused" {
            assert_eq!(headers["content-type"], "application/grpc", "{path}");
        }
        if path == "/keyed" {
            assert_eq!(headers["www-authenticate"], "Key");
        }
    }
    // The same requests over HTTP/1.1 are not gRPC for Kong: a JSON body.
    let (status, headers, _) = send(port, "/keyed", false, &[("content-type", "application/grpc")]).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (401, "application/json; charset=utf-8"));
    assert!(!headers.contains_key("grpc-status"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_fall_back_to_content_type_then_error_default_type() {
    let port = start(ProxyOptions::default()).await;
    // No Accept, no Content-Type: `error_default_type` (Kong's default is text/plain).
    let (status, content_type, id, body) = get(port, "/refused", None).await;
    assert_eq!((status, content_type.as_str()), (502, "text/plain; charset=utf-8"));
    assert_eq!(body, format!("An invalid response was received from the upstream server\nrequest_id: {id}\n"));
    // Accept wins over the default.
    let (_, content_type, _, _) = get(port, "/refused", Some("application/json")).await;
    assert_eq!(content_type, "application/json; charset=utf-8");
    // Content-Type stands in for a missing Accept.
    let (_, headers, _) = send(port, "/refused", false, &[("content-type", "text/html")]).await;
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");

    let port = start(ProxyOptions { error_default_type: ErrorType::Xml, ..ProxyOptions::default() }).await;
    let (_, content_type, _, body) = get(port, "/refused", None).await;
    assert_eq!(content_type, "application/xml; charset=utf-8");
    assert!(body.contains("<message>An invalid response was received from the upstream server</message>"));
    // `kong.response.error` ignores error_default_type: JSON without Accept.
    let (_, content_type, _, _) = get(port, "/nowhere", None).await;
    assert_eq!(content_type, "application/json; charset=utf-8");

    // `error_template_plain` replaces the plain-text body of plugin errors and error pages alike.
    let templates = ErrorTemplates { plain: Some("custom: %s [%s] 100%%".into()), ..ErrorTemplates::default() };
    let port = start(ProxyOptions { error_templates: templates, ..ProxyOptions::default() }).await;
    let (status, content_type, id, body) = get(port, "/keyed", Some("text/plain")).await;
    assert_eq!((status, content_type.as_str()), (401, "text/plain; charset=utf-8"));
    assert_eq!(body, format!("custom: No API key found in request [{id}] 100%"));
    let (_, _, id, body) = get(port, "/refused", None).await;
    assert_eq!(body, format!("custom: An invalid response was received from the upstream server [{id}] 100%"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_read_the_matched_route_and_service() {
    let port = start(ProxyOptions::default()).await;
    let (status, _, _, body) = get(port, "/observed/x", None).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["route"]["id"], OBSERVED);
    assert_eq!(seen["route"]["name"], "observed");
    assert_eq!(seen["route"]["paths"], json!(["/observed"]));
    assert_eq!(seen["service"]["id"], SERVICE);
    assert_eq!(seen["service"]["name"], "refusing");
    assert_eq!(seen["service"]["tags"], json!(["t1"]));
}
