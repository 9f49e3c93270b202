//! A timer for deadlines that move forward with every request on a connection (the client's header
//! timeout, the upstream's response-head deadline). Registering a tokio timer per request cost more than
//! the rest of the bookkeeping; this one is made once per connection and re-armed only when it fires
//! before the current deadline, so a request costs a clock reading at most. Nor is it polled while it has
//! not fired and the task it wakes is the same: a poll re-registers the waker, a fifth of the timer's cost.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
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
