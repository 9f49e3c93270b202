//! What plugins see of one request: the client request (which they may change before it goes upstream),
//! the route and service it matched, the authenticated consumer and credential, and a per-request store
//! plugins share (Kong's `kong.ctx.shared`).

use crate::cache::EntityCache;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

/// The protocol of a request as plugin `protocols` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    Grpc,
    Grpcs,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
        }
    }

    /// A bit for protocol sets.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Some(match name {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "grpc" => Protocol::Grpc,
            "grpcs" => Protocol::Grpcs,
            _ => return None,
        })
    }
}

/// A consumer as plugins use it, with its upstream header values rendered once when it is cached.
#[derive(Debug)]
pub struct Consumer {
    pub id: Uuid,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub id_header: HeaderValue,
    pub username_header: Option<HeaderValue>,
    pub custom_id_header: Option<HeaderValue>,
}

impl crate::cache::ThreadCopy for Consumer {
    fn thread_copy(&self) -> Self {
        use crate::cache::own_header;
        Consumer {
            id: self.id,
            username: self.username.clone(),
            custom_id: self.custom_id.clone(),
            id_header: own_header(&self.id_header),
            username_header: self.username_header.as_ref().map(own_header),
            custom_id_header: self.custom_id_header.as_ref().map(own_header),
        }
    }
}

/// The credential a request authenticated with.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Uuid,
    pub consumer_id: Uuid,
    /// `X-Credential-Identifier`: the credential's id, or its username/key depending on the plugin.
    pub identifier: HeaderValue,
}

/// An entity as stored (routes, services): what Kong's `kong.router.get_route()` and `get_service()`
/// return. The snapshot holds it in an `Arc`; plugins borrow it, so a request copies nothing.
pub type Entity = serde_json::Map<String, Value>;

/// The body of a plugin's exit.
#[derive(Debug, Clone)]
pub enum ExitBody {
    /// Kong's `kong.response.error`: the proxy renders the message with the template the request's
    /// `Accept` header asks for (or as `grpc-message` for gRPC requests).
    Message(Cow<'static, str>),
    /// Sent as is (Kong's `kong.response.exit` with a table; gRPC requests get its `message`).
    Json(Value),
    /// A raw body (Kong's `kong.response.exit` with a string), without a JSON content type.
    Raw(String),
}

/// A response a plugin answers with instead of proxying.
#[derive(Debug, Clone)]
pub struct Exit {
    pub status: u16,
    pub body: ExitBody,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Exit {
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> Exit {
        Exit { status, body: ExitBody::Message(message.into()), headers: Vec::new() }
    }

    /// An exit whose body is exactly `body`.
    pub fn json(status: u16, body: Value) -> Exit {
        Exit { status, body: ExitBody::Json(body), headers: Vec::new() }
    }

    /// An exit with a raw body (no content type unless a header sets one).
    pub fn raw(status: u16, body: String) -> Exit {
        Exit { status, body: ExitBody::Raw(body), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Exit {
        self.headers.push((name, value));
        self
    }

    /// 500 with Kong's generic message, for failures that are not the client's fault.
    pub fn unexpected() -> Exit {
        Exit::new(500, "An unexpected error occurred")
    }
}

/// What the certificate phase sees of a TLS ClientHello (Kong's `ssl_certificate_by_lua` context).
#[derive(Debug, Clone, Copy)]
pub struct ClientHelloInfo<'a> {
    /// The server name the client asked for (as sent, not lower-cased).
    pub sni: Option<&'a str>,
    /// ALPN protocols the client offers, in its order.
    pub alpn: &'a [&'a [u8]],
}

/// The server certificate a plugin picks in the certificate phase.
#[derive(Clone)]
pub enum ServerCertificate {
    /// A certificate entity of the current configuration, by id (its `cert_alt` is used when the client
    /// prefers that key type, as for SNI selection).
    Entity(Uuid),
    /// A certificate the plugin holds itself: an `Arc<rustls::sign::CertifiedKey>` behind `Any`, so this
    /// crate needs no TLS library; anything else is ignored (with a log line) by the proxy.
    Key(Arc<dyn std::any::Any + Send + Sync>),
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerCertificate::Entity(id) => f.debug_tuple("Entity").field(id).finish(),
            ServerCertificate::Key(_) => f.write_str("Key(..)"),
        }
    }
}

/// One request as plugins see it in the rewrite and access phases.
pub struct RequestCtx<'a> {
    /// Method, URI and headers as they will be sent upstream; plugins may change them.
    pub parts: &'a mut http::request::Parts,
    /// The whole request body, when a plugin in the chain asked for it to be buffered.
    pub body: Option<Bytes>,
    pub client_ip: IpAddr,
    pub protocol: Protocol,
    pub route_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    /// The matched route (`kong.router.get_route()`); `None` in the rewrite phase.
    pub route: Option<&'a Entity>,
    /// The route's service (`kong.router.get_service()`); `None` in the rewrite phase.
    pub service: Option<&'a Entity>,
    pub consumer: Option<Arc<Consumer>>,
    pub credential: Option<Credential>,
    /// Groups an authentication plugin established (used by acl).
    pub authenticated_groups: Option<Arc<[String]>>,
    /// Headers added to the client response (rate-limit headers and the like).
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Kong's `kong.ctx.shared`: values plugins pass each other.
    pub shared: HashMap<&'static str, Value>,
    pub cache: &'a EntityCache,
    /// Unix time in seconds when the request arrived.
    pub now: i64,
}

impl RequestCtx<'_> {
    /// Kong's `kong.client.authenticate`.
    pub fn authenticate(&mut self, consumer: Option<Arc<Consumer>>, credential: Option<Credential>) {
        self.consumer = consumer;
        self.credential = credential;
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn method(&self) -> &http::Method {
        &self.parts.method
    }
}

/// What the log phase receives: a summary of the finished exchange, owned so it outlives the request.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub method: http::Method,
    pub uri: http::Uri,
    pub status: u16,
    pub client_ip: IpAddr,
    pub route_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub consumer_id: Option<Uuid>,
    pub request_id: String,
    /// Response body bytes sent to the client.
    pub response_size: u64,
    pub latency: std::time::Duration,
}
