//! The body of a request on its way upstream: the client's stream as it arrives, or the whole body when a
//! plugin needed to read (and maybe rewrite) it first, or when the request had none.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

pub enum RequestBody {
    Streaming(Incoming),
    /// Read in full; `None` once sent, or for a request without a body.
    Buffered(Option<Bytes>),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Streaming(inner) => Pin::new(inner).poll_frame(cx),
            RequestBody::Buffered(data) => {
                Poll::Ready(data.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Streaming(inner) => inner.is_end_stream(),
            RequestBody::Buffered(data) => data.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Streaming(inner) => inner.size_hint(),
            RequestBody::Buffered(data) => SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
