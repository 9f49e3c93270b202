//! The plugin phases around a real proxied exchange: a plugin registered at run time changes the response
//! head and body, and its log phase runs after the client already has the whole response.

#[allow(dead_code)] // `listen` serves the other plugin tests; this one runs a worker thread.
mod plugin_common;

use bytes::Bytes;
use gatehouse_plugins::runtime::{DynPlugin, Phases, Plugin};
use gatehouse_plugins::{LogRecord, Registry, RequestCtx};
use gatehouse_proxy::{Proxy, ProxyOptions, Snapshot};
use plugin_common::{map, publish_with_plugins};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the test plugin saw, shared with the test.
static LOGGED: Mutex<Vec<(u16, u64, Instant)>> = Mutex::new(Vec::new());
static ACCESS_CALLS: AtomicU64 = AtomicU64::new(0);

struct Shouting;

impl Plugin for Shouting {
    fn phases(&self) -> Phases {
        Phases { rewrite: true, response_headers: true, response_body: true, log: true, ..Phases::default() }
    }
    fn rewrite(&self, ctx: &mut RequestCtx<'_>) -> Result<(), gatehouse_plugins::Exit> {
        // Before routing: the path can still change which route matches.
        if ctx.parts.uri.path() == "/old" {
            ctx.parts.uri = http::Uri::from_static("/anything");
        }
        Ok(())
    }
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), gatehouse_plugins::Exit> {
        ACCESS_CALLS.fetch_add(1, Ordering::SeqCst);
        ctx.parts.headers.insert("x-from-plugin", http::HeaderValue::from_static("yes"));
        Ok(())
    }
    fn response_headers(&self, _status: u16, headers: &mut http::HeaderMap) {
        headers.insert("x-phase", http::HeaderValue::from_static("response-headers"));
        headers.remove(http::header::CONTENT_LENGTH);
    }
    fn response_body(&self, chunk: Bytes, _eof: bool) -> Bytes {
        Bytes::from(chunk.to_ascii_uppercase())
    }
    fn log(&self, record: &LogRecord) {
        // A slow log sink: the client must not wait for it.
        std::thread::sleep(Duration::from_millis(500));
        LOGGED.lock().unwrap().push((record.status, record.response_size, Instant::now()));
    }
}

fn shouting(_: &Value) -> Result<Arc<dyn DynPlugin>, String> {
    Ok(Arc::new(Shouting))
}

/// An upstream answering every request with `hello`, reporting whether it saw the plugin's header.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let body = if head.contains("x-from-plugin: yes") { "hello plugin" } else { "hello" };
                let reply =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_phases_apply_and_logging_never_delays_the_response() {
    let upstream = upstream().await;
    let proxy = Proxy::new(ProxyOptions::default()).unwrap();
    let service_id = "00000000-0000-4000-8000-000000000001";
    let services = [map(json!({"id": service_id, "protocol": "http", "host": "127.0.0.1", "port": upstream.port()}))];
    let routes = [map(json!({
        "id": "00000000-0000-4000-8000-000000000002", "paths": ["/anything"], "service": {"id": service_id},
        "protocols": ["http"], "strip_path": true, "preserve_host": false,
    }))];
    let mut registry = Registry::default();
    registry.register("shouting", 10, shouting);
    let plugin = map(json!({"id": "00000000-0000-4000-8000-000000000003", "name": "shouting", "enabled": true,
                            "protocols": ["http"], "config": {}}));
    publish_with_plugins(&proxy, Snapshot::build(&routes, &services, 1), &registry, &[plugin]);
    // The proxy on a worker thread of its own, as the node runs it: the log phase's blocking sleep holds
    // that thread, never the client's (on one shared runtime it held the client up and the order of the
    // two tasks decided the test).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(stop_tx);
    let _worker = proxy.serve_workers(([127, 0, 0, 1], port).into(), 1, (None, false), stop).unwrap();

    let reply = reqwest::get(format!("http://127.0.0.1:{port}/old")).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-phase"], "response-headers");
    let body = reply.text().await.unwrap();
    let answered = Instant::now();
    assert_eq!(body, "HELLO PLUGIN", "access changed the request, the body phase the response");
    assert_eq!(ACCESS_CALLS.load(Ordering::SeqCst), 1);
    assert!(LOGGED.lock().unwrap().is_empty(), "the response did not wait for the log phase");
    let deadline = Instant::now() + Duration::from_secs(5);
    let logged = loop {
        if let Some(entry) = LOGGED.lock().unwrap().first().copied() {
            break entry;
        }
        assert!(Instant::now() < deadline, "the log phase never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((logged.0, logged.1), (200, 12));
    assert!(logged.2 > answered);
}
