//! A write timeout for the upstream connections of hyper's client (`https` and gRPC services, upgrades),
//! which has none of its own: a write that finds the peer taking nothing for the service's
//! `write_timeout` fails, as nginx's `proxy_send_timeout` ends such an exchange. The proxy's own HTTP/1
//! pool keeps the same rule in `h1_pool`.

use crate::lazy_timer::StallTimer;
use crate::upstream::BoxError;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// A connection whose pending writes fail after `timeout` without progress.
pub(crate) struct WriteTimeout<T> {
    inner: T,
    stall: StallTimer,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        WriteTimeout { inner, stall: StallTimer::new(timeout) }
    }

    /// A write's outcome: progress resets the clock, a stall runs it.
    fn track<R>(&mut self, polled: Poll<std::io::Result<R>>, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        if polled.is_ready() {
            self.stall.progress();
            return polled;
        }
        ready!(self.stall.poll_expired(cx));
        let message = format!("the upstream took no bytes for {:?}", self.stall.timeout());
        Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))
    }
}

impl<T: Read + Unpin> Read for WriteTimeout<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for WriteTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for WriteTimeout<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

/// A connector whose connections carry a write timeout.
#[derive(Clone)]
pub(crate) struct WriteTimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> WriteTimeoutConnector<C> {
    pub fn new(inner: C, timeout: Duration) -> Self {
        WriteTimeoutConnector { inner, timeout }
    }
}

impl<C> tower_service::Service<hyper::Uri> for WriteTimeoutConnector<C>
where
    C: tower_service::Service<hyper::Uri, Error = BoxError>,
    C::Future: Send + 'static,
    C::Response: 'static,
{
    type Response = WriteTimeout<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let (connecting, timeout) = (self.inner.call(uri), self.timeout);
        Box::pin(async move { Ok(WriteTimeout::new(connecting.await?, timeout)) })
    }
}
