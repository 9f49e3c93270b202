//! Responses the proxy generates itself, with Kong's status codes and JSON bodies.

use crate::forward::{full, ProxyBody};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// Why the proxy answered instead of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    NoRoute,
    NoService,
    HttpsRequired,
    BadGateway,
    /// Every target of the upstream is unhealthy (or none is left to retry).
    NoPeer,
    Timeout,
    BadRequest,
    /// The request body is larger than `client_max_body_size`.
    TooLarge,
    /// The service's host name has no address.
    NameResolution,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoService | ProxyError::NoPeer | ProxyError::NameResolution => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::HttpsRequired => StatusCode::UPGRADE_REQUIRED,
            ProxyError::BadGateway => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest => StatusCode::BAD_REQUEST,
            ProxyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// Kong's message text for this error.
    pub fn message(self) -> &'static str {
        match self {
            ProxyError::NoRoute => "no Route matched with those values",
            ProxyError::NoService => "no Service found with those values",
            ProxyError::HttpsRequired => "Please use HTTPS protocol",
            ProxyError::BadGateway => "An invalid response was received from the upstream server",
            ProxyError::Timeout => "The upstream server is timed out",
            ProxyError::NoPeer => "failure to get a peer from the ring-balancer",
            ProxyError::BadRequest => "Bad request",
            ProxyError::TooLarge => "Request size limit exceeded",
            ProxyError::NameResolution => "name resolution failed",
        }
    }

    /// `{"message": ..., "request_id": ...}` as Kong renders it.
    pub fn response(self, request_id: &str) -> Response<ProxyBody> {
        let body = serde_json::json!({ "message": self.message(), "request_id": request_id }).to_string();
        let mut response = Response::new(full(body));
        *response.status_mut() = self.status();
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        if self == ProxyError::HttpsRequired {
            response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("Upgrade"));
            response.headers_mut().insert(hyper::header::UPGRADE, HeaderValue::from_static("TLS/1.2, HTTP/1.1"));
        }
        response
    }
}
