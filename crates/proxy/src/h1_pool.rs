//! Keep-alive HTTP/1 connections to plain-`http` upstreams, as nginx's upstream `keepalive`: one pool per
//! worker thread, and each connection driven by the task of the request using it.
//!
//! hyper's pooled client runs every upstream connection as a task of its own, so each request crosses
//! tasks twice (request in, response out through channels), takes the pool's lock twice and spawns a task
//! to hand the connection back. Here the request's task polls the connection itself while it waits for the
//! response and while the response body streams; when the body is done the connection goes back to this
//! thread's pool. A connection that closed while idle is noticed at checkout and skipped.

use crate::upstream::RequestBody;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The connection's state machine, with upgrade support (its type cannot be named).
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send + Sync>>;

/// One upstream connection: the handle requests are sent through and the connection state machine.
struct Conn {
    sender: http1::SendRequest<RequestBody>,
    driver: Driver,
    /// Requests sent on it so far (`upstream_keepalive_max_requests`).
    requests: u64,
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
    idle: HashMap<SocketAddr, Vec<Idle>>,
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
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error("upstream connection closed without a response")]
    Closed,
}

impl SendError {
    /// Whether no byte of the request can have reached the upstream.
    pub fn before_sending(&self) -> bool {
        matches!(self, SendError::Connect(..) | SendError::ConnectTimeout(_))
    }
}

fn checkout(addr: SocketAddr, keep_alive: &KeepAlive) -> Option<Conn> {
    POOLS
        .try_with(|pools| {
            let mut pools = pools.try_borrow_mut().ok()?;
            let now = Instant::now();
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

/// Polls an idle connection once: it is usable when it is still open and ready for a request.
async fn still_usable(conn: &mut Conn) -> bool {
    poll_fn(|cx| {
        if conn.driver.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Ready(matches!(conn.sender.poll_ready(cx), Poll::Ready(Ok(()))))
    })
    .await
}

async fn connect(addr: SocketAddr, connect_timeout: Duration) -> Result<Conn, SendError> {
    let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(SendError::Connect(addr, e)),
        Err(_) => return Err(SendError::ConnectTimeout(addr)),
    };
    stream.set_nodelay(true).map_err(|e| SendError::Connect(addr, e))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    Ok(Conn { sender, driver: Box::pin(connection.with_upgrades()), requests: 0 })
}

/// Sends `request` (origin-form URI, `Host` set) to `addr` on a pooled connection or a new one. On a
/// failure before anything was sent the request comes back, so the caller may try another target.
pub(crate) async fn send(
    addr: SocketAddr,
    connect_timeout: Duration,
    keep_alive: KeepAlive,
    mut request: Request<RequestBody>,
) -> Result<Response<UpstreamBody>, (SendError, Option<Request<RequestBody>>)> {
    loop {
        let (mut conn, reused) = match checkout(addr, &keep_alive) {
            Some(mut conn) => {
                if !still_usable(&mut conn).await {
                    continue;
                }
                (conn, true)
            }
            None => match connect(addr, connect_timeout).await {
                Ok(conn) => (conn, false),
                Err(e) => return Err((e, Some(request))),
            },
        };
        conn.requests += 1;
        let mut response = std::pin::pin!(conn.sender.try_send_request(request));
        let mut driver_done = false;
        let outcome = poll_fn(|cx| {
            if !driver_done && conn.driver.as_mut().poll(cx).is_ready() {
                driver_done = true;
            }
            match response.as_mut().poll(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                // The connection ended without answering; hyper answers every request it took first, so
                // this is only a guard against waiting forever.
                Poll::Pending if driver_done => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match outcome {
            Some(Ok(response)) => {
                let lease = Lease { addr, conn, keep_alive, closed: driver_done };
                if response.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                    // The connection becomes the tunnel once its driver hands the socket over.
                    let driver = lease.conn.driver;
                    tokio::spawn(async move {
                        let _ = driver.await;
                    });
                    return Ok(response.map(UpstreamBody::detached));
                }
                return Ok(response.map(|incoming| UpstreamBody { incoming, lease: Some(lease) }));
            }
            Some(Err(mut e)) => match e.take_message() {
                // A kept-alive connection the upstream had closed took nothing: try a fresh one.
                Some(unsent) if reused => request = unsent,
                unsent => return Err((SendError::Http(e.into_error()), unsent)),
            },
            None => return Err((SendError::Closed, None)),
        }
    }
}

/// The pooled connection a response body is read from, returned to the pool once the body is complete.
struct Lease {
    addr: SocketAddr,
    conn: Conn,
    keep_alive: KeepAlive,
    /// The driver finished: the connection cannot be reused.
    closed: bool,
}

impl Lease {
    fn release(self) {
        let limit = self.keep_alive.max_requests;
        if self.closed || self.keep_alive.pool_size == 0 || (limit > 0 && self.conn.requests >= limit) {
            return;
        }
        checkin(self.addr, self.conn, &self.keep_alive);
    }
}

/// An upstream response body. While it streams it keeps the connection's driver going; once complete it
/// gives the connection back.
pub(crate) struct UpstreamBody {
    incoming: Incoming,
    lease: Option<Lease>,
}

impl UpstreamBody {
    /// A body with no pooled connection behind it (hyper's client, or an upgraded connection).
    pub fn detached(incoming: Incoming) -> Self {
        UpstreamBody { incoming, lease: None }
    }

    fn release_if_done(&mut self) {
        if self.incoming.is_end_stream() {
            if let Some(lease) = self.lease.take() {
                lease.release();
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(lease) = this.lease.as_mut().filter(|l| !l.closed) {
            if lease.conn.driver.as_mut().poll(cx).is_ready() {
                lease.closed = true;
            }
        }
        let polled = Pin::new(&mut this.incoming).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => this.release_if_done(),
            Poll::Ready(Some(Err(_))) => this.lease = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A body never polled because it was empty from the start (HEAD, 204, 304) is complete too; one
        // dropped half-read takes its connection with it.
        self.release_if_done();
    }
}
