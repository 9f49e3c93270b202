//! The response side of a pooled exchange: the body read from the connection (with the rest of the
//! request still being written), and the connection given back to the pool once both are complete.

use super::{checkin, poll_send, Conn, KeepAlive, Outgoing, SendError};
use crate::h1_codec::{Chunked, Decoded, Framing};
use crate::upstream::BoxError;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Where reading the response body is.
pub(super) enum Reading {
    /// This many bytes left (0: complete).
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

impl Reading {
    pub(super) fn of(framing: Framing) -> Reading {
        match framing {
            Framing::Empty => Reading::Done,
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(Chunked::Size),
            Framing::UntilClose => Reading::UntilClose,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self, Reading::Done | Reading::Length(0) | Reading::Chunked(Chunked::Done))
    }
}

/// One response being read from a pooled connection, and the rest of its request being written.
pub(crate) struct Exchange {
    pub(super) addr: SocketAddr,
    /// Taken when the connection goes back to the pool or is dropped.
    pub(super) conn: Option<Conn>,
    pub(super) outgoing: Option<Outgoing>,
    pub(super) keep_alive: KeepAlive,
    /// Both sides kept the connection open and framed.
    pub(super) reusable: bool,
    pub(super) read: Reading,
}

impl Exchange {
    /// Once the response is complete: back to the pool if the request went out whole and the connection
    /// may carry another; else closed.
    pub(super) fn release_if_done(&mut self) {
        if !self.read.is_done() {
            return;
        }
        let Some(conn) = self.conn.take() else { return };
        let limit = self.keep_alive.max_requests;
        let sent_all = self.outgoing.is_none() && conn.write_buf.is_empty();
        if self.reusable
            && sent_all
            && self.keep_alive.pool_size > 0
            && (limit == 0 || u64::from(conn.requests) < limit)
        {
            checkin(self.addr, conn, &self.keep_alive);
        }
    }

    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, SendError>>> {
        let Some(conn) = self.conn.as_mut() else { return Poll::Ready(None) };
        if self.outgoing.is_some() || !conn.write_buf.is_empty() {
            if let Poll::Ready(Err(_)) = poll_send(conn, &mut self.outgoing, cx) {
                // The upstream answered and stopped reading: finish the response, then close.
                self.outgoing = None;
                self.reusable = false;
                conn.abandon_writes();
            }
        }
        loop {
            let frame = match &mut self.read {
                Reading::Done | Reading::Length(0) | Reading::Chunked(Chunked::Done) => return Poll::Ready(None),
                Reading::Length(left) if !conn.read_buf.is_empty() => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(conn.read_buf.len());
                    *left -= take as u64;
                    Frame::data(conn.read_buf.split_to(take).freeze())
                }
                Reading::UntilClose if !conn.read_buf.is_empty() => Frame::data(conn.read_buf.split().freeze()),
                Reading::Chunked(state) => match state.decode(&mut conn.read_buf)? {
                    Decoded::Data(data) => Frame::data(data),
                    Decoded::Trailers(trailers) => Frame::trailers(trailers),
                    Decoded::End => return Poll::Ready(None),
                    Decoded::More => {
                        if ready!(conn.poll_fill(cx))? == 0 {
                            return Poll::Ready(Some(Err(SendError::Closed)));
                        }
                        continue;
                    }
                },
                Reading::Length(_) | Reading::UntilClose => {
                    if ready!(conn.poll_fill(cx))? == 0 {
                        if let Reading::UntilClose = self.read {
                            self.read = Reading::Done;
                            self.reusable = false;
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Err(SendError::Closed)));
                    }
                    continue;
                }
            };
            return Poll::Ready(Some(Ok(frame)));
        }
    }
}

/// An upstream response body: from a pooled connection (given back once complete), or hyper's client.
pub(crate) enum UpstreamBody {
    Pooled(Box<Exchange>),
    Hyper(Incoming),
}

impl UpstreamBody {
    /// A body read by hyper's client.
    pub fn detached(incoming: Incoming) -> Self {
        UpstreamBody::Hyper(incoming)
    }

    /// Whether the response's hop-by-hop headers were already left out (as `h1_codec` parses a head).
    pub fn hop_by_hop_removed(&self) -> bool {
        matches!(self, UpstreamBody::Pooled(_))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::Hyper(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
            UpstreamBody::Pooled(exchange) => {
                let polled = exchange.poll_body(cx);
                match &polled {
                    Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => exchange.release_if_done(),
                    Poll::Ready(Some(Err(_))) => exchange.conn = None,
                    Poll::Pending => {}
                }
                polled.map_err(Into::into)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Hyper(incoming) => incoming.is_end_stream(),
            UpstreamBody::Pooled(exchange) => exchange.read.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Hyper(incoming) => incoming.size_hint(),
            UpstreamBody::Pooled(exchange) => match exchange.read {
                Reading::Length(n) => SizeHint::with_exact(n),
                Reading::Done => SizeHint::with_exact(0),
                _ => SizeHint::default(),
            },
        }
    }
}
