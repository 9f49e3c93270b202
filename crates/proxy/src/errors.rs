//! Responses the proxy generates itself, with Kong's status codes and messages (rendered by `error_page`).

use crate::error_page::{self, ErrorRequest};
use crate::forward::ProxyBody;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

/// Why the proxy answered instead of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    NoRoute,
    NoService,
    HttpsRequired,
    BadGateway,
    /// Every target of the upstream is unhealthy when the request first picks one.
    NoPeer,
    /// No target is left for a retry (every one unhealthy, or the latency algorithm has tried them all):
    /// Kong's balancer phase exits with 503, which its error handler answers.
    RetryNoPeer,
    Timeout,
    BadRequest,
    /// The request body is larger than `client_max_body_size`.
    TooLarge,
    /// The request line does not fit in one of `large_client_header_buffers`' buffers (nginx's 414).
    UriTooLong,
    /// A header line or the whole head is larger than `large_client_header_buffers` allows (nginx's 494,
    /// which Kong's error handler answers as 400).
    HeaderTooLarge,
    /// The client paused its request body for longer than `client_body_timeout`.
    RequestTimeout,
    /// The service's host name has no address.
    NameResolution,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoService | ProxyError::NoPeer | ProxyError::RetryNoPeer | ProxyError::NameResolution => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::HttpsRequired => StatusCode::UPGRADE_REQUIRED,
            ProxyError::BadGateway => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest | ProxyError::HeaderTooLarge => StatusCode::BAD_REQUEST,
            ProxyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::UriTooLong => StatusCode::URI_TOO_LONG,
            ProxyError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Kong's message text for this error.
    pub fn message(self) -> &'static str {
        match self {
            ProxyError::NoRoute => "no Route matched with those values",
            ProxyError::NoService => "no Service found with those values",
            ProxyError::HttpsRequired => "Please use HTTPS protocol",
            ProxyError::BadGateway => "An invalid response was received from the upstream server",
            ProxyError::Timeout => "The upstream server is timing out",
            ProxyError::NoPeer => "failure to get a peer from the ring-balancer",
            ProxyError::RetryNoPeer => "The upstream server is currently unavailable",
            ProxyError::BadRequest => "Bad request",
            ProxyError::TooLarge => "Payload too large",
            ProxyError::UriTooLong => "URI too long",
            ProxyError::HeaderTooLarge => "Request header or cookie too large",
            ProxyError::RequestTimeout => "Request timeout",
            ProxyError::NameResolution => "name resolution failed",
        }
    }

    /// Whether Kong answers this through `kong.response.error` (router and balancer decisions) rather than
    /// an nginx error page (upstream failures, malformed or oversized requests).
    fn is_runloop_error(self) -> bool {
        matches!(
            self,
            ProxyError::NoRoute
                | ProxyError::NoService
                | ProxyError::HttpsRequired
                | ProxyError::NoPeer
                | ProxyError::NameResolution
        )
    }

    /// The answer as Kong renders it for this request (`Accept`, gRPC, `error_default_type`).
    pub fn response(self, request_id: &str, request: &ErrorRequest<'_>) -> Response<ProxyBody> {
        let status = self.status().as_u16();
        if !self.is_runloop_error() {
            let mut page = error_page::error_page(status, self.message(), request, request_id);
            // nginx keeps no connection open after these: the rest of what the client sent cannot be
            // trusted to frame the next request.
            if matches!(
                self,
                ProxyError::BadRequest
                    | ProxyError::TooLarge
                    | ProxyError::RequestTimeout
                    | ProxyError::UriTooLong
                    | ProxyError::HeaderTooLarge
            ) {
                page.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            }
            return page;
        }
        let headers = if self == ProxyError::HttpsRequired {
            vec![
                (hyper::header::CONNECTION, HeaderValue::from_static("Upgrade")),
                (hyper::header::UPGRADE, HeaderValue::from_static("TLS/1.2, HTTP/1.1")),
            ]
        } else {
            Vec::new()
        };
        error_page::error(status, self.message(), headers, request, request_id)
    }
}
