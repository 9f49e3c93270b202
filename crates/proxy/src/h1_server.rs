//! HTTP/1.1 client connections, plain or TLS, served without hyper for the requests that make up most
//! traffic: a head with no body, no upgrade and no `Expect`. Such a request is parsed in place (header
//! values share the read buffer), handed to the proxy, and its response written with one write when the
//! body is ready. hyper's server took about a seventh of the proxy's user-space CPU per request (its
//! dispatcher, a timer allocated and registered per request, moves of the service future); this path
//! keeps one timer per connection ([`LazyTimer`]), and holds every request head to nginx's
//! `large_client_header_buffers` limits.
//!
//! Everything else — a request with a body, an upgrade, HTTP/1.0, h2c's preface, a malformed head —
//! hands the connection to hyper for the rest of its life, with the bytes read so far replayed, so hyper
//! answers it exactly as it would have from the start.

use crate::client_io::ClientIo;
use crate::error_page::ErrorRequest;
use crate::errors::ProxyError;
use crate::forward;
use crate::h1_codec::{has_token, header_at, Span, Spans};
use crate::h1_response::ResponseWriter;
use crate::headers::{field_kind, FieldKind, CONNECTION_INDEX, TRANSFER_ENCODING_INDEX, UPGRADE_INDEX};
use crate::lazy_timer::LazyTimer;
use crate::reply::Reply;
use crate::request_body::RequestBody;
use crate::Client;
use bytes::{Buf, Bytes, BytesMut};
use hyper::header::HeaderMap;
use hyper::{Method, Request, Uri};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// Most headers in a request this path serves (hyper's server default; more go to hyper, which answers 431).
const MAX_HEADERS: usize = 100;
/// Longest request target this path serves (hyper answers longer ones with 414).
const MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// What a connection hands to hyper when it stops serving requests itself.
pub(crate) struct HandOver {
    pub builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    pub watcher: hyper_util::server::graceful::Watcher,
}

/// What the start of the read buffer holds. (Not boxed: a box would be an allocation per request, for a
/// value moved once.)
#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// A complete bodiless HTTP/1.1 request, and whether the client keeps the connection open after it.
    Request(Request<RequestBody>, bool),
    /// Not a whole head yet.
    Partial,
    /// A request hyper serves (see the module documentation).
    HandOver,
    /// A head whose target or header values cannot be represented: 400, then close (as hyper does).
    Invalid,
    /// A header line longer than one of `large_client_header_buffers`' buffers (nginx's 494).
    TooLarge,
}

/// Parses the request at the start of `buf`, taking its head out of the buffer when this path serves it.
/// `line_limit` is the longest header line accepted (one of `large_client_header_buffers`' buffers).
fn parse_request(buf: &mut BytesMut, line_limit: usize) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut spans = Spans::new();
    let mut request = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let length =
        match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut slots) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::HandOver,
        };
    // A head shorter than the limit cannot hold a longer line: the common case costs one comparison.
    if length > line_limit && request.headers.iter().any(|h| h.name.len() + h.value.len() + 4 > line_limit) {
        return Parsed::TooLarge;
    }
    let (Some(method), Some(path), Some(1)) = (request.method, request.path, request.version) else {
        return Parsed::HandOver;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Parsed::HandOver };
    if method == Method::CONNECT || path.len() >= MAX_URI_BYTES {
        return Parsed::HandOver;
    }
    let mut keep_alive = true;
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        match field_kind(name) {
            FieldKind::ContentLength if header.value != b"0" => return Parsed::HandOver,
            FieldKind::HopByHop(TRANSFER_ENCODING_INDEX | UPGRADE_INDEX) => return Parsed::HandOver,
            FieldKind::HopByHop(CONNECTION_INDEX) if has_token(header.value, b"close") => keep_alive = false,
            FieldKind::Other if name.eq_ignore_ascii_case(b"expect") => return Parsed::HandOver,
            _ => {}
        }
        spans.push((Span::of(base, name), Span::of(base, header.value)));
    }
    let count = spans.len();
    let target = Span::of(base, path.as_bytes());
    let origin_form = path.starts_with('/');
    let head = buf.split_to(length).freeze();
    let uri = match Uri::from_maybe_shared(head.slice(target.range())) {
        Ok(uri) => uri,
        Err(_) => match escaped_target(&head[target.range()]) {
            Some(uri) => uri,
            None => return Parsed::Invalid,
        },
    };
    // nginx takes an origin-form or an absolute-form target only (`GET host` is a 400, not a host).
    if uri.scheme().is_none() && !origin_form {
        return Parsed::Invalid;
    }
    // Room for what the proxy adds on the way (Host, forwarding headers go straight into the encoding).
    let mut headers = HeaderMap::with_capacity(count + 2);
    for &header in &spans {
        let Ok((name, value)) = header_at(&head, header) else { return Parsed::Invalid };
        headers.append(name, value);
    }
    let mut request = Request::new(RequestBody::Buffered(None));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Parsed::Request(request, keep_alive)
}

/// A request target the `http` crate refuses but nginx takes as it comes (`<`, `>` and `` ` `` anywhere,
/// `"`, `\` and `^` in the query), percent-encoded by Kong's `escape` (the router's, which also encodes
/// every upstream path). Kong answers such a request: its router decodes these bytes again
/// (`normalize`), as ours does, and its `escape` encodes them the same way on the path it sends
/// upstream. (Kong sends the query string as it came; here it goes encoded, which a server decoding it
/// reads the same.)
fn escaped_target(target: &[u8]) -> Option<Uri> {
    // httparse took the target as text, so it is UTF-8.
    let escaped = gatehouse_router::escape(std::str::from_utf8(target).ok()?).into_owned();
    Uri::from_maybe_shared(Bytes::from(escaped)).ok()
}

/// One client connection and its buffers, reused from request to request.
struct ClientConn<S> {
    stream: S,
    read_buf: BytesMut,
    writer: ResponseWriter,
}

/// Why reading a head stopped without a request.
enum Stop {
    /// The client closed, timed out, or the node is shutting down.
    Close,
    HandOver,
    Invalid,
    /// The head or one of its lines is larger than `large_client_header_buffers` allows: Kong's answer
    /// (414 for a request line, else 400), then close.
    TooLarge(ProxyError),
}

/// Serves a connection until the client closes it, the node stops, or a request needs hyper.
pub(crate) async fn serve<S: ClientIo>(client: Client, stream: S, hand_over: HandOver, stop: watch::Receiver<bool>) {
    let proxy = &client.proxy;
    let mut conn = ClientConn { stream, read_buf: BytesMut::with_capacity(8192), writer: ResponseWriter::default() };
    // Bounded so that adding it to a clock reading cannot overflow.
    let header_timeout = proxy.options.header_timeout.min(Duration::from_secs(365 * 24 * 3600));
    let head_limit = proxy.options.max_header_bytes.max(8192);
    let line_limit = proxy.options.max_request_line_bytes;
    let mut timer = LazyTimer::default();
    // One future for the connection's life as well: a new one per wait would register with the channel
    // each time.
    let stopped = stop.clone();
    let stopping = async move {
        let mut stop = stop;
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    tokio::pin!(stopping);
    loop {
        let deadline = Instant::now() + header_timeout;
        let limits = (head_limit, line_limit);
        let waited = next_request(&mut conn, limits, (deadline, &mut timer), stopping.as_mut()).await;
        let (request, keep_alive) = match waited {
            Ok(pair) => pair,
            Err(Stop::Close) => return,
            Err(Stop::Invalid) => {
                let _ = conn.writer.bad_request(&mut conn.stream).await;
                return;
            }
            Err(Stop::TooLarge(error)) => {
                // Nothing of the request can be trusted, not even its Accept: the default error format,
                // with the headers of any response made before proxying (Kong's error handler exits
                // through its header filter).
                let id = forward::new_request_id();
                let page = error.response(id.as_str(), &ErrorRequest::without_head(&proxy.options));
                let page = forward::finish(page, id.as_str(), proxy, std::time::Instant::now());
                let _ = conn.writer.write(&mut conn.stream, page, false, false).await;
                return;
            }
            Err(Stop::HandOver) => {
                let replay = Replay { prefix: conn.read_buf.freeze(), stream: conn.stream };
                return client.serve_with_hyper(replay, hand_over.builder, hand_over.watcher).await;
            }
        };
        let is_head = request.method() == Method::HEAD;
        // Pinned here rather than in a helper's future, so the large request future is not moved again.
        let remote = (client.remote, client.proxied_from);
        let (local_port, scheme, sni) = (client.local_port, client.scheme, client.sni.as_deref());
        let handled = forward::handle(proxy, request, remote, local_port, scheme, sni);
        tokio::pin!(handled);
        let Some(response) = watch_client(&mut conn, handled, head_limit).await else { return };
        // hyper's graceful shutdown: the response in flight says `Connection: close`.
        let keep_alive = keep_alive && !*stopped.borrow();
        let kept = conn.writer.write(&mut conn.stream, response, is_head, keep_alive).await;
        if !matches!(kept, Ok(true)) {
            return;
        }
    }
}

/// Reads until a whole request head is in the buffer (or the connection ends, times out, or goes to hyper).
async fn next_request<S: ClientIo>(
    conn: &mut ClientConn<S>,
    (head_limit, line_limit): (usize, usize),
    (deadline, timer): (Instant, &mut LazyTimer),
    mut stopping: Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<(Request<RequestBody>, bool), Stop> {
    loop {
        if !conn.read_buf.is_empty() {
            match parse_request(&mut conn.read_buf, line_limit) {
                Parsed::Request(request, keep_alive) => return Ok((request, keep_alive)),
                Parsed::Invalid => return Err(Stop::Invalid),
                Parsed::HandOver => return Err(Stop::HandOver),
                Parsed::TooLarge => return Err(Stop::TooLarge(ProxyError::HeaderTooLarge)),
                // Past the head's limit: 414 while the request line is still unfinished, as nginx.
                Parsed::Partial if conn.read_buf.len() >= head_limit => {
                    let in_request_line = !conn.read_buf.contains(&b'\n');
                    let error = if in_request_line { ProxyError::UriTooLong } else { ProxyError::HeaderTooLarge };
                    return Err(Stop::TooLarge(error));
                }
                Parsed::Partial => {}
            }
        }
        conn.read_buf.reserve(4096);
        let idle = conn.read_buf.is_empty();
        tokio::select! {
            biased;
            read = conn.stream.read_buf(&mut conn.read_buf) => match read {
                Ok(0) | Err(_) => return Err(Stop::Close),
                Ok(_) => {}
            },
            () = std::future::poll_fn(|cx| timer.poll_passed(deadline, cx)) => {
                tracing::debug!("closing a client connection that sent no complete request head in time");
                return Err(Stop::Close);
            }
            () = stopping.as_mut(), if idle => return Err(Stop::Close),
        }
    }
}

/// Waits for the proxy's response while watching the client: a client that closes its connection before
/// the response is ready cancels the request, as with hyper (and nginx's `proxy_ignore_client_abort off`).
/// Bytes a pipelining client sends meanwhile are kept for the next request. `None` when the client left.
async fn watch_client<S: ClientIo>(
    conn: &mut ClientConn<S>,
    mut handled: Pin<&mut impl std::future::Future<Output = Reply>>,
    head_limit: usize,
) -> Option<Reply> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(reply) = handled.as_mut().poll(cx) {
            return Poll::Ready(Some(reply));
        }
        while conn.read_buf.len() < head_limit {
            match conn.stream.poll_fill(cx, &mut conn.read_buf) {
                Poll::Pending => break,
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// A connection whose first bytes were already read: they are read again before the connection's.
pub(crate) struct Replay<S> {
    prefix: Bytes,
    stream: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "h1_server_tests.rs"]
mod tests;
