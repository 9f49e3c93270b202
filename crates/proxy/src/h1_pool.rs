//! Keep-alive HTTP/1.1 connections to plain-`http` upstreams, as nginx's upstream `keepalive`: one pool per
//! worker thread, and each connection driven by the task of the request using it.
//!
//! The exchange is written and read here (framing in `h1_codec`) rather than through hyper's client
//! connection: that one hands every request to its dispatcher through a channel and the response back
//! through another, and runs a second state machine per connection, which measured as a sixth of the
//! proxy's CPU per request. The request's own task writes the head, streams the request body while it
//! waits for the response head, and reads the response body as the client takes it; when both bodies are
//! complete the connection goes back to this thread's pool. A connection that closed while idle is noticed
//! at checkout and skipped. Upgrade requests do not come here (they go through hyper's client).

mod exchange;

use exchange::Reading;
pub(crate) use exchange::{Exchange, UpstreamBody};

use crate::dispatch::{empty_body, Destination};
use crate::h1_codec::{self, CodecError, Framing};
use crate::lazy_timer::LazyTimer;
use crate::raw_fields::RawFields;
use crate::upstream::{BoxError, RequestBody};
use bytes::{Bytes, BytesMut};
use hyper::body::Body;
use hyper::{Method, Request, Response};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// Bytes a read asks the socket for, at least.
const READ_CHUNK: usize = 16 * 1024;

/// One upstream connection with its buffers, kept across requests.
struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet used (the start of a response, or body bytes).
    read_buf: BytesMut,
    /// Bytes to write; `written` of them are gone.
    write_buf: Vec<u8>,
    written: usize,
    /// Requests sent on it so far (`upstream_keepalive_max_requests`). A `u32` beside the flag below keeps
    /// the connection small enough to move without a `memcpy` call as it enters and leaves the pool.
    requests: u32,
    /// Bounds the wait for a response head, with no timer registration per request (a
    /// `tokio::time::timeout` per request cost one).
    timer: LazyTimer,
    /// The last write found the socket full: an upload's stall timer (`write_timeout`) runs from then.
    write_blocked: bool,
}

impl Conn {
    /// Reads what the socket has into `read_buf`; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.read_buf)
    }

    /// Writes all of `write_buf`.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.write_buf.len() {
            let written = Pin::new(&mut self.stream).poll_write(cx, &self.write_buf[self.written..]);
            self.write_blocked = written.is_pending();
            let n = ready!(written)?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.write_buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Ready once `deadline` has passed (never without one).
    fn poll_deadline(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        match deadline {
            Some(deadline) => self.timer.poll_passed(tokio::time::Instant::from_std(deadline), cx),
            None => Poll::Pending,
        }
    }

    /// Drops what was not written after a failed upload; the connection is not reused after that.
    fn abandon_writes(&mut self) {
        self.write_buf.clear();
        self.written = 0;
    }

    /// Whether an idle connection can take a request: the upstream has not closed it or sent anything.
    fn still_usable(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readiness may be left over from the last read; a read that would block clears it.
            Poll::Ready(Ok(())) => matches!(
                self.stream.try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            ),
        }
    }
}

/// Pool limits, from kong.conf's `upstream_keepalive_*`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepAlive {
    /// Idle connections kept per upstream address; 0 turns keep-alive off.
    pub pool_size: usize,
    pub idle_timeout: Duration,
    /// Requests per connection before it is closed; 0 = no limit.
    pub max_requests: u64,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Idle {
    /// Whether it has been idle for less than `timeout` at `now`.
    fn fresh(&self, now: Instant, timeout: Duration) -> bool {
        now.duration_since(self.since) < timeout
    }
}

#[derive(Default)]
struct Pools {
    idle: HashMap<SocketAddr, Vec<Idle>, crate::FastHash>,
    /// A task closing connections idle for longer than `idle_timeout` runs on this thread.
    sweeping: bool,
}

impl Pools {
    /// Drops connections idle for `timeout`; tells whether any are left.
    fn sweep(&mut self, timeout: Duration) -> bool {
        let now = Instant::now();
        self.idle.retain(|_, list| {
            list.retain(|idle| idle.fresh(now, timeout));
            !list.is_empty()
        });
        !self.idle.is_empty()
    }
}

thread_local! {
    static POOLS: RefCell<Pools> = RefCell::new(Pools::default());
}

/// Closes this thread's idle connections as their `idle_timeout` runs out, as nginx's keepalive timer
/// does, also when no request comes to reuse them; ends when the pool is empty. Proxy workers are
/// single-threaded runtimes, so the task runs on the thread whose pool it sweeps.
async fn sweep_until_empty(timeout: Duration) {
    let period = (timeout / 2).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let more = POOLS
            .try_with(|pools| match pools.try_borrow_mut() {
                Ok(mut pools) => {
                    let more = pools.sweep(timeout);
                    pools.sweeping = more;
                    more
                }
                Err(_) => true,
            })
            .unwrap_or(false);
        if !more {
            return;
        }
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made; nothing of the request was sent.
    #[error("connect to {0} failed: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("connect to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("upstream connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("reading the request body failed: {0}")]
    Body(#[source] BoxError),
    #[error("the request body does not match its content-length")]
    BodyLength,
    #[error("upstream connection closed without a response")]
    Closed,
    #[error("no response head from upstream in time")]
    Timeout,
}

impl SendError {
    /// Whether no byte of the request can have reached the upstream.
    pub fn before_sending(&self) -> bool {
        matches!(self, SendError::Connect(..) | SendError::ConnectTimeout(_))
    }
}

/// When an exchange starts and how long its parts may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Also the time idle connections are checked against.
    pub started: Instant,
    pub connect_timeout: Duration,
    /// The response head must have come by then (none while a streamed upload may still be going).
    pub deadline: Option<Instant>,
}

fn checkout(addr: SocketAddr, keep_alive: &KeepAlive, now: Instant) -> Option<Conn> {
    POOLS
        .try_with(|pools| {
            let mut pools = pools.try_borrow_mut().ok()?;
            let list = pools.idle.get_mut(&addr)?;
            while let Some(idle) = list.pop() {
                if idle.fresh(now, keep_alive.idle_timeout) {
                    return Some(idle.conn);
                }
            }
            None
        })
        .ok()
        .flatten()
}

fn checkin(addr: SocketAddr, conn: Conn, keep_alive: &KeepAlive) {
    let _ = POOLS.try_with(|pools| {
        let Ok(mut pools) = pools.try_borrow_mut() else { return };
        let list = pools.idle.entry(addr).or_default();
        if list.len() >= keep_alive.pool_size {
            return;
        }
        list.push(Idle { conn, since: Instant::now() });
        if !pools.sweeping {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                pools.sweeping = true;
                runtime.spawn(sweep_until_empty(keep_alive.idle_timeout));
            }
        }
    });
}

async fn connect(addr: SocketAddr, connect_timeout: Duration) -> Result<Conn, SendError> {
    let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(SendError::Connect(addr, e)),
        Err(_) => return Err(SendError::ConnectTimeout(addr)),
    };
    stream.set_nodelay(true).map_err(|e| SendError::Connect(addr, e))?;
    Ok(Conn {
        stream,
        read_buf: BytesMut::new(),
        write_buf: Vec::new(),
        written: 0,
        requests: 0,
        timer: LazyTimer::default(),
        write_blocked: false,
    })
}

/// The request body still going out while the response comes in.
struct Outgoing {
    body: RequestBody,
    framing: Framing,
    /// Bytes sent so far (checked against `Content-Length`).
    sent: u64,
    /// The data of the frame being written (written as it is, not copied), after `Conn::write_buf`.
    data: Bytes,
    /// A chunk's closing CRLF is due once `data` is written.
    chunk_end: bool,
}

/// Moves request body bytes to the upstream. Ready with `Ok` once the whole body (and its framing) is
/// written; `outgoing` is `None` from then on.
fn poll_send(conn: &mut Conn, outgoing: &mut Option<Outgoing>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
    loop {
        let Some(out) = outgoing else { return conn.poll_flush(cx).map_err(SendError::Io) };
        if conn.written < conn.write_buf.len() || !out.data.is_empty() {
            // Framing bytes and the frame's data in one write.
            let slices = [std::io::IoSlice::new(&conn.write_buf[conn.written..]), std::io::IoSlice::new(&out.data)];
            let written = Pin::new(&mut conn.stream).poll_write_vectored(cx, &slices);
            conn.write_blocked = written.is_pending();
            let n = ready!(written)?;
            if n == 0 {
                return Poll::Ready(Err(SendError::Io(std::io::ErrorKind::WriteZero.into())));
            }
            let from_buffer = n.min(conn.write_buf.len() - conn.written);
            conn.written += from_buffer;
            bytes::Buf::advance(&mut out.data, n - from_buffer);
            if conn.written == conn.write_buf.len() {
                conn.write_buf.clear();
                conn.written = 0;
                if out.data.is_empty() && out.chunk_end {
                    out.chunk_end = false;
                    conn.write_buf.extend_from_slice(b"\r\n");
                }
            }
            continue;
        }
        let frame = match ready!(Pin::new(&mut out.body).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Err(SendError::Body(e))),
            None => {
                match out.framing {
                    Framing::Length(length) if out.sent != length => return Poll::Ready(Err(SendError::BodyLength)),
                    Framing::Chunked => conn.write_buf.extend_from_slice(b"0\r\n\r\n"),
                    _ => {}
                }
                *outgoing = None;
                continue;
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        out.sent += data.len() as u64;
        match out.framing {
            Framing::Length(length) if out.sent > length => return Poll::Ready(Err(SendError::BodyLength)),
            Framing::Chunked => {
                h1_codec::chunk_prefix(&mut conn.write_buf, data.len());
                out.chunk_end = true;
            }
            _ => {}
        }
        out.data = data;
    }
}

/// A request body on its way while the response head is awaited.
struct Upload {
    outgoing: Option<Outgoing>,
    /// A failed write stops the upload, but the upstream may have answered already (a 413, say).
    error: Option<SendError>,
    /// Since when the upstream has taken no body bytes while some wait to be written.
    blocked_since: Option<Instant>,
}

impl Upload {
    /// Whether bytes of the request are still to go (and can: no write has failed).
    fn going(&self, conn: &Conn) -> bool {
        self.error.is_none() && (self.outgoing.is_some() || !conn.write_buf.is_empty())
    }
}

/// Sends what is left of the request and reads until a response head has come: ready with the head, or
/// with why none will. `deadline` bounds the wait for the head; `write_timeout` (the service's, nginx's
/// `proxy_send_timeout`) bounds each stall of the upload.
fn poll_head(
    conn: &mut Conn,
    upload: &mut Upload,
    (deadline, write_timeout): (Option<Instant>, Duration),
    method: &Method,
    cx: &mut Context<'_>,
) -> Poll<Result<h1_codec::ResponseHead, SendError>> {
    if upload.going(conn) {
        if let Poll::Ready(Err(e)) = poll_send(conn, &mut upload.outgoing, cx) {
            upload.outgoing = None;
            conn.abandon_writes();
            upload.error = Some(e);
        }
    }
    let stalled = if upload.going(conn) && conn.write_blocked {
        Some(*upload.blocked_since.get_or_insert_with(Instant::now) + write_timeout)
    } else {
        upload.blocked_since = None;
        None
    };
    let deadline = match (deadline, stalled) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if conn.poll_deadline(deadline, cx).is_ready() {
        return Poll::Ready(Err(SendError::Timeout));
    }
    loop {
        if !conn.read_buf.is_empty() {
            if let Some(head) = h1_codec::parse_response(&mut conn.read_buf, method)? {
                return Poll::Ready(Ok(head));
            }
        }
        match conn.poll_fill(cx)? {
            Poll::Ready(0) => return Poll::Ready(Err(SendError::Closed)),
            Poll::Ready(_) => {}
            // A body the client stopped sending ends the exchange unless an answer is already here: the
            // upstream is still waiting for the rest.
            Poll::Pending if matches!(upload.error, Some(SendError::Body(_))) => {
                return Poll::Ready(Err(SendError::Closed))
            }
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Sends `request` to `addr` at the destination's path (origin form; `Host` set), with the forwarding
/// headers, on a pooled connection or a new one. On a failure before anything was sent the request comes
/// back, so the caller may try another target.
pub(crate) async fn send(
    addr: SocketAddr,
    timing: Timing,
    keep_alive: KeepAlive,
    to: &Destination<'_>,
    mut request: Request<RequestBody>,
) -> Result<(Response<UpstreamBody>, RawFields), (SendError, Option<Request<RequestBody>>)> {
    let body = request.body();
    let (framing, extra) = h1_codec::request_framing(request.headers(), body.is_end_stream(), body.size_hint().exact());
    let length = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let method = request.method().clone();
    // nginx's rule for a kept-alive connection that fails under a request: it goes again, unless its
    // method is not idempotent (POST, LOCK, PATCH). Only bodiless requests here: a body is sent once.
    let resend = framing == Framing::Empty && !matches!(method.as_str(), "POST" | "LOCK" | "PATCH");
    let (conn, upload, head) = loop {
        let (mut conn, reused) = loop {
            let (mut conn, reused) = match checkout(addr, &keep_alive, timing.started) {
                Some(mut conn) => match conn.still_usable() {
                    true => (conn, true),
                    false => continue,
                },
                None => match connect(addr, timing.connect_timeout).await {
                    Ok(conn) => (conn, false),
                    Err(e) => return Err((e, Some(request))),
                },
            };
            let head = h1_codec::Head { method: request.method(), path: to.path, headers: request.headers() };
            h1_codec::encode_request_head(&mut conn.write_buf, &head, &to.forwarded, (extra, length));
            let flushed = poll_fn(|cx| match conn.poll_deadline(timing.deadline, cx) {
                Poll::Ready(()) => Poll::Ready(Err(None)),
                Poll::Pending => conn.poll_flush(cx).map_err(Some),
            });
            match flushed.await {
                Ok(()) => break (conn, reused),
                Err(None) => return Err((SendError::Timeout, None)),
                // A kept-alive connection the upstream had closed took nothing: try a fresh one.
                Err(_) if reused && conn.written == 0 => continue,
                Err(Some(e)) => return Err((SendError::Io(e), None)),
            }
        };
        conn.requests = conn.requests.saturating_add(1);
        let outgoing = (framing != Framing::Empty).then(|| Outgoing {
            body: std::mem::replace(request.body_mut(), empty_body()),
            framing,
            sent: 0,
            data: Bytes::new(),
            chunk_end: false,
        });
        let mut upload = Upload { outgoing, error: None, blocked_since: None };
        let limits = (timing.deadline, to.service.write_timeout);
        let head = poll_fn(|cx| poll_head(&mut conn, &mut upload, limits, &method, cx)).await;
        // The upstream closed the kept-alive connection as the request went out: nothing of an answer came.
        let lost = matches!(head, Err(SendError::Closed | SendError::Io(_))) && conn.read_buf.is_empty();
        if reused && resend && lost {
            tracing::debug!(%addr, "a kept-alive upstream connection closed under a request; sending it again");
            continue;
        }
        break (conn, upload, head);
    };
    let Upload { outgoing, error: send_error, .. } = upload;
    let upload_failed = send_error.is_some();
    let head = match (head, send_error) {
        (Ok(head), _) if head.status == hyper::StatusCode::SWITCHING_PROTOCOLS => {
            return Err((CodecError::Invalid("switching protocols without an upgrade request").into(), None))
        }
        (Ok(head), _) => head,
        // A body the client failed to send (or sent too slowly) is the more useful error.
        (Err(_), Some(e)) | (Err(e), None) => return Err((e, None)),
    };
    let reusable = head.keep_alive && !upload_failed;
    let mut response = Response::new(UpstreamBody::Pooled(Box::new(Exchange {
        addr,
        conn: Some(conn),
        outgoing,
        keep_alive,
        reusable,
        read: Reading::of(head.framing),
    })));
    *response.status_mut() = head.status;
    *response.version_mut() = head.version;
    if let UpstreamBody::Pooled(exchange) = response.body_mut() {
        exchange.release_if_done();
    }
    Ok((response, head.fields))
}
