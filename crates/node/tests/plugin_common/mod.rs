//! What the plugin end-to-end tests share: a node in front of an echo upstream, and a request helper.

use gatehouse_testkit::{EchoServer, Node, NodeOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A node in front of an echo upstream.
pub struct Setup {
    pub node: Node,
    pub echo: EchoServer,
    pub client: reqwest::Client,
}

impl Setup {
    pub async fn start() -> Setup {
        let echo = EchoServer::start().await.expect("echo upstream");
        let node = Node::start(binary(), NodeOptions::default()).await.expect("node");
        Setup { node, echo, client: reqwest::Client::new() }
    }

    /// A service pointing at the echo upstream with one route per `(name, path)`.
    pub async fn service_with_routes(&self, service: &str, routes: &[(&str, &str)]) {
        self.node.create("/services", json!({"name": service, "url": self.echo.url()})).await;
        for (name, path) in routes {
            self.node.create(&format!("/services/{service}/routes"), json!({"name": name, "paths": [path]})).await;
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.node.proxy_url()))
    }

    pub async fn admin(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        self.node.admin(method, path, body).await
    }
}

/// Sends a request and returns the status, the response headers and the JSON body (null if none).
pub async fn call(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let reply = request.send().await.expect("proxy request");
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    (status, headers, reply.json().await.unwrap_or(Value::Null))
}
