//! `response_buffering` (Kong's default; nginx's `proxy_buffering on`): the upstream response is read as
//! fast as the upstream sends it, up to a memory bound, whatever pace the client reads at, so a slow client
//! does not hold the upstream connection. A response that is complete in its first frame costs nothing
//! extra; a longer one gets a small task that reads ahead into a bounded queue. Unlike nginx there is no
//! spill to temporary files: past the bound, the upstream is slowed to the client's pace.

use crate::upstream::BoxError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};

/// Bytes read ahead per response before the upstream is made to wait for the client.
pub const READ_AHEAD_BYTES: usize = 1 << 20;

type Item = Result<Frame<Bytes>, BoxError>;

/// A response body that reads its source ahead of the client (see the module docs).
pub enum ReadAhead<B> {
    /// Polled in place until its first frame shows it is not complete.
    Direct(Option<B>),
    /// The rest arrives through the read-ahead task.
    Queued { frames: mpsc::UnboundedReceiver<Item>, budget: Arc<Budget> },
}

/// How many bytes are queued; the task waits while the queue holds more than [`READ_AHEAD_BYTES`].
pub struct Budget {
    queued: AtomicUsize,
    freed: Notify,
}

impl<B> ReadAhead<B> {
    pub fn new(body: B) -> Self {
        ReadAhead::Direct(Some(body))
    }
}

impl<B> Body for ReadAhead<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = &mut *self;
        match this {
            ReadAhead::Direct(slot) => {
                let Some(body) = slot.as_mut() else { return Poll::Ready(None) };
                let frame = match Pin::new(body).poll_frame(cx) {
                    Poll::Ready(frame) => frame,
                    Poll::Pending => return Poll::Pending,
                };
                let finished = slot.as_ref().is_none_or(|b| b.is_end_stream());
                if let (Some(Ok(_)), false) = (&frame, finished) {
                    if let Some(body) = slot.take() {
                        *this = spawn_reader(body);
                    }
                }
                Poll::Ready(frame)
            }
            ReadAhead::Queued { frames, budget } => match frames.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    if let Ok(data) = item.as_ref().map(|f| f.data_ref().map_or(0, Bytes::len)) {
                        budget.queued.fetch_sub(data, Ordering::AcqRel);
                        budget.freed.notify_one();
                    }
                    Poll::Ready(Some(item))
                }
                other => other,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReadAhead::Direct(slot) => slot.as_ref().is_none_or(|b| b.is_end_stream()),
            ReadAhead::Queued { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReadAhead::Direct(Some(body)) => body.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

/// Moves `body` to a task that reads it into a queue holding at most about [`READ_AHEAD_BYTES`]. The task
/// ends when the body does, or when the client goes away (the queue's receiver is dropped).
fn spawn_reader<B>(mut body: B) -> ReadAhead<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static,
{
    let (sender, frames) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget { queued: AtomicUsize::new(0), freed: Notify::new() });
    let shared = budget.clone();
    tokio::spawn(async move {
        loop {
            while shared.queued.load(Ordering::Acquire) > READ_AHEAD_BYTES {
                tokio::select! {
                    _ = shared.freed.notified() => {}
                    _ = sender.closed() => return,
                }
            }
            if sender.is_closed() {
                return;
            }
            let Some(item) = body.frame().await else { return };
            let failed = item.is_err();
            let size = item.as_ref().ok().and_then(|f| f.data_ref()).map_or(0, Bytes::len);
            shared.queued.fetch_add(size, Ordering::AcqRel);
            if sender.send(item).is_err() || failed {
                return;
            }
        }
    });
    ReadAhead::Queued { frames, budget }
}

#[cfg(test)]
mod tests {
    use super::{ReadAhead, READ_AHEAD_BYTES};
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const CHUNK: usize = 256 * 1024;

    /// A body of `chunks` chunks that counts how many were taken from it.
    fn source(
        chunks: usize,
        taken: Arc<AtomicUsize>,
    ) -> impl hyper::body::Body<Data = Bytes, Error = crate::upstream::BoxError> + Send + Unpin {
        let frames = (0..chunks).map(move |i| {
            taken.fetch_add(1, Ordering::SeqCst);
            Ok::<_, crate::upstream::BoxError>(Frame::data(Bytes::from(vec![i as u8; CHUNK])))
        });
        StreamBody::new(futures_util::stream::iter(frames))
    }

    async fn settle(taken: &AtomicUsize) -> usize {
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = taken.load(Ordering::SeqCst);
            if now == last {
                return now;
            }
            last = now;
        }
    }

    #[tokio::test]
    async fn reads_ahead_of_an_idle_client_up_to_the_bound_then_hands_everything_over_in_order() {
        let taken = Arc::new(AtomicUsize::new(0));
        let mut body = ReadAhead::new(source(12, taken.clone()));
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first[0], 0);
        let ahead = settle(&taken).await;
        let bound = 1 + READ_AHEAD_BYTES / CHUNK + 1;
        assert!(ahead > 2, "the rest is read without the client asking: {ahead}");
        assert!(ahead <= bound, "but no more than the bound: {ahead} > {bound}");
        let mut seen = vec![0u8];
        while let Some(frame) = body.frame().await {
            seen.push(frame.unwrap().into_data().unwrap()[0]);
        }
        assert_eq!(seen, (0..12).collect::<Vec<u8>>());
    }

    #[tokio::test]
    async fn a_complete_first_frame_needs_no_task() {
        let body = http_body_util::Full::new(Bytes::from_static(b"ok")).map_err(|never| match never {});
        let mut body = ReadAhead::new(body);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "ok");
        assert!(matches!(body, ReadAhead::Direct(_)));
        assert!(body.frame().await.is_none());
    }
}
