//! What the proxy answers a request with. Most upstream responses are relayed with their fields as
//! received ([`RawFields`]) and the few headers the proxy adds kept aside, so the plain HTTP/1.1 front end
//! writes them without ever building a header map; hyper's server, plugins and the rest get a full
//! `http::Response`.

use crate::forward::{with_request_id, ProxyBody, RequestId};
use crate::kong_headers::Added;
use crate::raw_fields::RawFields;
use hyper::{Response, StatusCode, Version};

/// A response, in one of two forms.
pub(crate) enum Reply {
    /// Headers in a map: a response the proxy made, one from hyper's client, or one plugins saw.
    Full(Response<ProxyBody>),
    Relayed(Relayed),
}

/// An upstream response whose fields are as the upstream sent them (less hop-by-hop headers), with what
/// the proxy adds to them.
pub(crate) struct Relayed {
    pub status: StatusCode,
    /// The client's HTTP version (hyper's server writes the status line with it).
    pub version: Version,
    pub fields: RawFields,
    /// Kong's headers for it (latencies, `Via`, ...).
    pub added: Added,
    /// `X-Kong-Request-Id` for the client.
    pub request_id: Option<RequestId>,
    pub body: ProxyBody,
}

impl Reply {
    /// The reply as an `http::Response`, its headers in the order the proxy has always set them.
    pub fn into_response(self) -> Response<ProxyBody> {
        let relayed = match self {
            Reply::Full(response) => return response,
            Reply::Relayed(relayed) => relayed,
        };
        let mut response = Response::new(relayed.body);
        *response.status_mut() = relayed.status;
        *response.version_mut() = relayed.version;
        let headers = response.headers_mut();
        *headers = relayed.fields.into_map();
        relayed.added.add_to(headers);
        match relayed.request_id {
            Some(id) => with_request_id(response, id.as_str()),
            None => response,
        }
    }
}
