//! The client connections the own HTTP/1 path ([`crate::h1_server`]) serves: plain TCP, and TLS over it.
//! Both get the same request-head limits and timeouts; the two operations here are where they differ.

use bytes::BytesMut;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection as the own HTTP/1 path reads and writes it.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Reads what the connection has ready into `buf` (`Ok(0)`: the client closed), registering the task
    /// to be woken when more arrives. Used while a request is in flight, to notice a client that leaves.
    fn poll_fill(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<std::io::Result<usize>>;

    /// Writes what the connection takes right now without waiting, `WouldBlock` when it must wait. On a
    /// plain socket a direct write does not count against tokio's cooperative budget, so a task that did
    /// much in one poll is not made to yield with its response unsent.
    fn try_write_now(&mut self, data: &[u8]) -> std::io::Result<usize>;
}

impl ClientIo for TcpStream {
    fn poll_fill(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<std::io::Result<usize>> {
        // The socket's own read-readiness slot: unlike a `readable()` future, no waiter is listed and
        // unlisted per request.
        loop {
            std::task::ready!(self.poll_read_ready(cx))?;
            buf.reserve(4096);
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn try_write_now(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.try_write(data)
    }
}

/// Boxed: the TLS session state is large, and the connection's future is moved when it is spawned.
impl ClientIo for Box<TlsStream<TcpStream>> {
    fn poll_fill(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<std::io::Result<usize>> {
        buf.reserve(4096);
        tokio_util::io::poll_read_buf(Pin::new(self), cx, buf)
    }

    fn try_write_now(&mut self, _data: &[u8]) -> std::io::Result<usize> {
        // Records are sealed and written by the stream's own writer, which also flushes them.
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}
