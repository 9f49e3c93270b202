//! Where the proxy runs plugin phases: rewrite before routing, access after it, then the response head,
//! the streamed response body and the log phase once the response is done. Requests on routes without
//! plugins never enter this module.

use crate::dispatch::read_limited;
use crate::error_page::{self, ErrorRequest};
use crate::forward::ProxyBody;
use crate::request_body::RequestBody;
use crate::upstream::{BoxError, IdleTimeout};
use bytes::Bytes;
use gatehouse_plugins::context::ExitBody;
use gatehouse_plugins::{Entity, EntityCache, Exit, LogRecord, PluginSet, Protocol, RequestCtx};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::Response;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What the access phase leaves for the response phases.
pub(crate) struct Ran {
    /// The authenticated consumer's id, or the credential's when there is none (`hash_on = consumer`).
    pub consumer_id: Option<Uuid>,
    /// The plugins that ran in access, as indexes into the set.
    collected: Vec<u32>,
    response_headers: Vec<(HeaderName, HeaderValue)>,
    log: Option<LogRecord>,
}

/// The request's protocol as plugin `protocols` name it.
pub(crate) fn protocol(scheme: &str, headers: &hyper::HeaderMap) -> Protocol {
    let grpc = headers.get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    match (scheme, grpc) {
        ("https", true) => Protocol::Grpcs,
        (_, true) => Protocol::Grpc,
        ("https", false) => Protocol::Https,
        _ => Protocol::Http,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The request identity the phases need besides the request itself.
pub(crate) struct Target<'a> {
    pub plugins: &'a Arc<PluginSet>,
    pub cache: &'a EntityCache,
    pub client_ip: IpAddr,
    pub protocol: Protocol,
    pub route_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    /// The matched route's and service's entities, borrowed from the snapshot.
    pub route: Option<&'a Entity>,
    pub service: Option<&'a Entity>,
    pub request_id: &'a str,
    pub errors: &'a ErrorRequest<'a>,
}

fn context<'a>(target: &Target<'a>, parts: &'a mut hyper::http::request::Parts, body: Option<Bytes>) -> RequestCtx<'a> {
    RequestCtx {
        parts,
        body,
        client_ip: target.client_ip,
        protocol: target.protocol,
        route_id: target.route_id,
        service_id: target.service_id,
        route: target.route,
        service: target.service,
        consumer: None,
        credential: None,
        authenticated_groups: None,
        response_headers: Vec::new(),
        shared: Default::default(),
        cache: target.cache,
        now: unix_now(),
    }
}

/// The rewrite phase (global plugins, before routing); `Some` is a plugin's answer to send instead.
pub(crate) fn rewrite(target: &Target<'_>, parts: &mut hyper::http::request::Parts) -> Option<Response<ProxyBody>> {
    let mut ctx = context(target, parts, None);
    target.plugins.rewrite(&mut ctx).err().map(|exit| exit_response(exit, target))
}

/// The access phase. Reads the body first when a plugin needs it (bounded by `limit`). On an exit the
/// response is ready to send, with the collected plugins' header phase already applied.
pub(crate) async fn access(
    target: &Target<'_>,
    parts: &mut hyper::http::request::Parts,
    body: RequestBody,
    (limit, body_timeout): (u64, Duration),
) -> Result<(RequestBody, Ran), Response<ProxyBody>> {
    let (buffered, mut rest) = if target.plugins.needs_body(target.route_id, target.service_id) {
        match read_limited(IdleTimeout::client(body, body_timeout), limit).await {
            Ok(bytes) => (Some(bytes), None),
            Err(e) => return Err(e.response(target.request_id, target.errors)),
        }
    } else {
        (None, Some(body))
    };
    let mut collected = Vec::new();
    let mut ctx = context(target, parts, buffered);
    let outcome = target.plugins.access(&mut ctx, &mut collected).await;
    let (consumer_id, response_headers, body_bytes) =
        (ctx.consumer.as_ref().map(|c| c.id), std::mem::take(&mut ctx.response_headers), ctx.body.take());
    let hash_consumer = consumer_id.or(ctx.credential.as_ref().map(|c| c.id));
    let wants_log = target.plugins.any_phase(&collected, |p| p.log);
    let log = wants_log.then(|| LogRecord {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        status: 0,
        client_ip: target.client_ip,
        route_id: target.route_id,
        service_id: target.service_id,
        consumer_id,
        request_id: target.request_id.to_string(),
        response_size: 0,
        latency: Duration::ZERO,
    });
    let ran = Ran { consumer_id: hash_consumer, collected, response_headers, log };
    if let Err(exit) = outcome {
        return Err(respond(ran, target.plugins, exit_response(exit, target), Instant::now()));
    }
    let body = match body_bytes {
        Some(bytes) => {
            parts.headers.remove(hyper::header::TRANSFER_ENCODING);
            parts.headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            RequestBody::Buffered(Some(bytes))
        }
        None => rest.take().unwrap_or(RequestBody::Buffered(None)),
    };
    Ok((body, ran))
}

/// A plugin's exit as Kong renders it: `kong.response.error` for messages, `kong.response.exit` otherwise.
fn exit_response(exit: Exit, target: &Target<'_>) -> Response<ProxyBody> {
    match exit.body {
        ExitBody::Message(message) => {
            error_page::error(exit.status, &message, exit.headers, target.errors, target.request_id)
        }
        ExitBody::Json(json) => {
            error_page::exit(exit.status, error_page::ExitBody::Json(&json), exit.headers, target.errors)
        }
        ExitBody::Raw(raw) => {
            error_page::exit(exit.status, error_page::ExitBody::Raw(raw), exit.headers, target.errors)
        }
    }
}

/// Applies the response phases: headers now, the body and log phases as the body streams.
pub(crate) fn respond(
    ran: Ran,
    plugins: &Arc<PluginSet>,
    mut response: Response<ProxyBody>,
    started: Instant,
) -> Response<ProxyBody> {
    let status = response.status().as_u16();
    let headers = response.headers_mut();
    for (name, value) in ran.response_headers {
        headers.insert(name, value);
    }
    plugins.response_headers(&ran.collected, status, headers);
    let filters = plugins.any_phase(&ran.collected, |p| p.response_body);
    if !filters && ran.log.is_none() {
        return response;
    }
    let log = ran.log.map(|mut record| {
        record.status = status;
        record
    });
    let ran = Arc::new((plugins.clone(), ran.collected));
    response.map(|inner| PhasedBody { inner, ran, filters, log, sent: 0, started }.boxed())
}

/// A response body passed through the body phase chunk by chunk; the log phase is scheduled when it ends
/// (or when the client goes away), on its own task so it never delays the response.
struct PhasedBody {
    inner: ProxyBody,
    /// The set and the indexes of the plugins that ran (shared with the log task).
    ran: Arc<(Arc<PluginSet>, Vec<u32>)>,
    filters: bool,
    log: Option<LogRecord>,
    sent: u64,
    started: Instant,
}

impl PhasedBody {
    fn schedule_log(&mut self) {
        if let Some(mut record) = self.log.take() {
            record.response_size = self.sent;
            record.latency = self.started.elapsed();
            let ran = self.ran.clone();
            tokio::spawn(async move { ran.0.log(&ran.1, &record) });
        }
    }
}

impl Body for PhasedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        let eof = this.inner.is_end_stream();
                        let data = if this.filters { this.ran.0.response_body(&this.ran.1, data, eof) } else { data };
                        this.sent += data.len() as u64;
                        Frame::data(data)
                    }
                    Err(other) => other,
                };
                if this.inner.is_end_stream() {
                    this.schedule_log();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                if this.filters {
                    // Give the body phase its end-of-stream call when the last chunk was not flagged.
                    let tail = this.ran.0.response_body(&this.ran.1, Bytes::new(), true);
                    this.filters = false;
                    if !tail.is_empty() {
                        this.sent += tail.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(tail))));
                    }
                }
                this.schedule_log();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && !self.filters
    }
}

impl Drop for PhasedBody {
    fn drop(&mut self) {
        self.schedule_log();
    }
}
