//! A wake gate: polls a rarely ready source only after it has woken the task.
//!
//! A connection's idle wait selects on its socket, its pub/sub queue and its end
//! signals (kill, shutdown). `tokio::select!` polls every branch each time the task
//! wakes, and at `-P 1` the task wakes once or twice per request, almost always for
//! the socket. Polling a `Notify` waiter takes its list's lock and polling a channel
//! walks its block list: together more instructions than running a GET. A [`Gate`]
//! registers the source with a waker of its own that records the wake-up and passes
//! it on to the task; until that waker fires, polling the gate costs one atomic swap
//! and one comparison of wakers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

/// Guards one source (a future or a channel's `poll_recv`) polled through it.
pub struct Gate {
    inner: Arc<Inner>,
    /// `inner` as a waker, built once.
    waker: Waker,
}

struct Inner {
    /// The source woke (or has never been polled): poll it on the next poll.
    fired: AtomicBool,
    /// The waker of the task that polls the gate, woken with the source's wake-up.
    task: Mutex<Option<Waker>>,
}

impl Wake for Inner {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        if let Some(w) = self.task.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

impl Default for Gate {
    fn default() -> Gate {
        let inner = Arc::new(Inner {
            fired: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Gate {
            waker: Waker::from(inner.clone()),
            inner,
        }
    }
}

impl Gate {
    /// Polls the source with `poll` if it woke since it was last polled; `Pending`
    /// otherwise. The source must be polled only through this gate, so that its
    /// registered waker is always the gate's.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        {
            let mut task = self.inner.task.lock();
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // Cleared before the poll: a wake-up during or after it sets it again.
        if !self.inner.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let poll_result = poll(&mut Context::from_waker(&self.waker));
        if poll_result.is_ready() {
            // A ready source may be ready again at once (a channel with more items).
            self.inner.fired.store(true, Ordering::Release);
        }
        poll_result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::{poll_fn, Future};
    use tokio::sync::{mpsc, Notify};

    #[tokio::test]
    async fn channel_items_pass_the_gate_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let gate = Gate::default();
        let waiter = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = poll_fn(|cx| gate.poll(cx, |cx| rx.poll_recv(cx))).await {
                got.push(v);
            }
            got
        });
        for v in 0..100 {
            tx.send(v).unwrap();
            if v % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        assert_eq!(waiter.await.unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_notification_after_the_first_poll_is_seen() {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let waiter = tokio::spawn(async move {
            let gate = Gate::default();
            let mut notified = std::pin::pin!(n.notified());
            let mut polls = 0;
            poll_fn(|cx| {
                polls += 1;
                gate.poll(cx, |cx| notified.as_mut().poll(cx))
            })
            .await;
            polls
        });
        tokio::task::yield_now().await;
        notify.notify_one();
        assert!(waiter.await.unwrap() >= 1);
    }

    #[test]
    fn pending_until_the_source_wakes() {
        let gate = Gate::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut polled = 0;
        let mut poll = |gate: &Gate| {
            gate.poll(&mut cx, |_| {
                polled += 1;
                Poll::<()>::Pending
            })
        };
        assert!(poll(&gate).is_pending());
        assert!(poll(&gate).is_pending());
        gate.waker.wake_by_ref();
        assert!(poll(&gate).is_pending());
        assert_eq!(
            polled, 2,
            "polled on the first poll and after the wake-up only"
        );
    }
}
