//! A real upstream for proxy tests: answers every request with a JSON description of what it received
//! (method, path with query, headers, body length), so tests can assert what the proxy forwarded.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;

/// A running echo upstream; it stops when dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EchoServer {
    pub async fn start() -> anyhow::Result<EchoServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let headers: serde_json::Map<String, serde_json::Value> = parts
                                .headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.to_str().unwrap_or_default())))
                                .collect();
                            let description = serde_json::json!({
                                "method": parts.method.as_str(),
                                "uri": parts.uri.to_string(),
                                "path": parts.uri.path(),
                                "query": parts.uri.query(),
                                "headers": headers,
                                "body_length": body.len(),
                            });
                            let mut response = hyper::Response::new(Full::new(Bytes::from(description.to_string())));
                            response
                                .headers_mut()
                                .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
                            Ok::<_, std::convert::Infallible>(response)
                        });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(EchoServer { addr, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
