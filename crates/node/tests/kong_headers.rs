//! Kong's own response headers, each switched by kong.conf's `headers` as Kong 3.9 switches it (the cases
//! of Kong's `spec/02-integration/05-proxy/14-server_tokens_spec.lua`): proxied responses, including an
//! upstream failure, carry the upstream and proxy latencies and `Via`; responses made before proxying (no
//! route, a plugin's exit) carry `X-Kong-Response-Latency` and `Server`.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use serde_json::json;
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A node with `headers` set to `headers` (Kong's default when `None`), an echo route on `echo.test`, a
/// route to a closed port on `dead.test`, and a request-termination route on `closed.test`.
async fn node_with(headers: Option<&str>, echo: &EchoServer) -> Node {
    let env = headers.map(|h| vec![("KONG_HEADERS".to_string(), h.to_string())]).unwrap_or_default();
    let node = Node::start(binary(), NodeOptions { env, ..NodeOptions::default() }).await.expect("node");
    node.create("/services", json!({"name": "echo", "url": echo.url()})).await;
    node.create("/services/echo/routes", json!({"hosts": ["echo.test"]})).await;
    let closed_port = gatehouse_testkit::free_port();
    node.create("/services", json!({"name": "dead", "url": format!("http://127.0.0.1:{closed_port}")})).await;
    node.create("/services/dead/routes", json!({"hosts": ["dead.test"]})).await;
    let route = node.create("/services/echo/routes", json!({"hosts": ["closed.test"]})).await;
    let plugin = json!({"name": "request-termination", "route": {"id": route["id"]},
        "config": {"status_code": 503, "message": "closed"}});
    node.create("/plugins", plugin).await;
    node
}

/// The response's status and the names (lower case) and values of Kong's headers on it.
async fn kong_headers(node: &Node, host: &str, path: &str) -> (u16, Vec<(String, String)>) {
    let reply = reqwest::Client::new()
        .get(format!("{}{path}", node.proxy_url()))
        .header("host", host)
        .send()
        .await
        .expect("proxy");
    let names = [
        "x-kong-upstream-latency",
        "x-kong-proxy-latency",
        "x-kong-response-latency",
        "x-kong-upstream-status",
        "x-kong-request-id",
        "via",
        "server",
    ];
    let found = names
        .iter()
        .filter_map(|name| {
            reply.headers().get(*name).map(|v| (name.to_string(), v.to_str().unwrap_or("?").to_string()))
        })
        .collect();
    (reply.status().as_u16(), found)
}

fn names(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(name, _)| name.as_str()).collect()
}

fn value<'a>(found: &'a [(String, String)], name: &str) -> Option<&'a str> {
    found.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn default_headers_follow_whether_the_request_was_proxied() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with(None, &echo).await;
    let version = env!("CARGO_PKG_VERSION");

    // Proxied, relayed as received; the echo server sends no Server, so Kong's is added.
    let (status, found) = kong_headers(&node, "echo.test", "/").await;
    assert_eq!(status, 200);
    let expected = ["x-kong-upstream-latency", "x-kong-proxy-latency", "x-kong-request-id", "via", "server"];
    assert_eq!(names(&found), expected);
    assert_eq!(value(&found, "via"), Some(format!("1.1 gatehouse/{version}").as_str()));
    assert_eq!(value(&found, "server"), Some(format!("gatehouse/{version}").as_str()));
    // Upstream, Kong 3.8+ adds itself to the request's `Via` whatever `headers` says.
    let client = reqwest::Client::new();
    let request = client.get(format!("{}/", node.proxy_url())).header("host", "echo.test").header("via", "1.0 fred");
    let echoed: serde_json::Value = request.send().await.expect("proxy").json().await.expect("json");
    assert_eq!(echoed["headers"]["via"], format!("1.0 fred, 1.1 gatehouse/{version}"));
    // An upstream's own Server is left alone; its own `X-Kong-*` header sends the response through a
    // header map, with the same result.
    for path in ["/?respond_header=server:Demo", "/?respond_header=server:Demo&respond_header=x-kong-thing:1"] {
        let (status, found) = kong_headers(&node, "echo.test", path).await;
        assert_eq!((status, value(&found, "server")), (200, Some("Demo")), "{path}");
        assert_eq!(names(&found), expected, "{path}");
    }

    // An upstream that cannot be reached: still proxied in Kong's terms.
    let (status, found) = kong_headers(&node, "dead.test", "/").await;
    assert_eq!(status, 502);
    assert_eq!(names(&found), expected);

    // Made before proxying: no route, and a plugin's exit.
    for host in ["nowhere.test", "closed.test"] {
        let (status, found) = kong_headers(&node, host, "/").await;
        assert!(status == 404 || status == 503, "{host}: {status}");
        assert_eq!(names(&found), ["x-kong-response-latency", "x-kong-request-id", "server"], "{host}");
    }
}

#[tokio::test]
async fn each_header_can_be_switched_on_alone() {
    let echo = EchoServer::start().await.expect("echo");
    let node = node_with(Some("X-Kong-Upstream-Latency, X-Kong-Upstream-Status"), &echo).await;
    let (status, found) = kong_headers(&node, "echo.test", "/").await;
    assert_eq!(status, 200);
    assert_eq!(names(&found), ["x-kong-upstream-latency", "x-kong-upstream-status"]);
    assert_eq!(value(&found, "x-kong-upstream-status"), Some("200"));
    // The upstream's own value is replaced (the header-map path).
    let (_, found) = kong_headers(&node, "echo.test", "/?respond_header=x-kong-upstream-status:999").await;
    assert_eq!(value(&found, "x-kong-upstream-status"), Some("200"));
    let (status, found) = kong_headers(&node, "dead.test", "/").await;
    assert_eq!((status, value(&found, "x-kong-upstream-status")), (502, Some("502")));
    let (status, found) = kong_headers(&node, "nowhere.test", "/").await;
    assert_eq!((status, names(&found)), (404, vec![]), "nothing enabled applies to an unproxied response");

    let node = node_with(Some("X-Kong-Response-Latency, Via"), &echo).await;
    let (_, found) = kong_headers(&node, "echo.test", "/").await;
    assert_eq!(names(&found), ["via"]);
    let (_, found) = kong_headers(&node, "nowhere.test", "/").await;
    assert_eq!(names(&found), ["x-kong-response-latency"]);

    let node = node_with(Some("off"), &echo).await;
    let request = reqwest::Client::new().get(format!("{}/", node.proxy_url())).header("host", "echo.test");
    let echoed: serde_json::Value = request.send().await.expect("proxy").json().await.expect("json");
    assert_eq!(echoed["headers"]["via"], format!("1.1 gatehouse/{}", env!("CARGO_PKG_VERSION")));
    for host in ["echo.test", "dead.test", "nowhere.test", "closed.test"] {
        let (_, found) = kong_headers(&node, host, "/").await;
        assert_eq!(names(&found), Vec::<&str>::new(), "{host}");
    }
}
