//! A timer for deadlines that move forward with every request on a connection (the client's header
//! timeout, the upstream's response-head deadline). Registering a tokio timer per request cost more than
//! the rest of the bookkeeping; this one is made once per connection and re-armed only when it fires
//! before the current deadline, so a request costs a clock reading at most. Nor is it polled while it has
//! not fired and the task it wakes is the same: a poll re-registers the waker, a fifth of the timer's cost.
//! Also [`StallTimer`], the clock for pauses that body and write timeouts share.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

#[derive(Default)]
pub(crate) struct LazyTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The waker the sleep was last polled with.
    registered: Option<Waker>,
}

impl LazyTimer {
    /// Ready once `deadline` has passed; otherwise wakes the task when it may have.
    pub fn poll_passed(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if let (Some(sleep), Some(waker)) = (&self.sleep, &self.registered) {
            // Still armed no later than `deadline`, for this task: it wakes the task when it fires.
            if sleep.deadline() <= deadline && !sleep.is_elapsed() && waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        while sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            sleep.as_mut().reset(deadline);
        }
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A clock for pauses in a stream of progress (a body's frames, a connection's writes): it starts at the
/// first poll of a pause and is reset by progress. The sleep is made at the first pause and reused, so a
/// stream that never pauses, the common case, never touches the timer wheel.
pub(crate) struct StallTimer {
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether `sleep` runs for the current pause.
    armed: bool,
}

impl StallTimer {
    pub fn new(timeout: Duration) -> Self {
        StallTimer { timeout, sleep: None, armed: false }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The stream moved: the next pause starts a new clock.
    pub fn progress(&mut self) {
        self.armed = false;
    }

    /// The stream is paused: ready once this pause has lasted `timeout`.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            let deadline = Instant::now() + self.timeout;
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}
