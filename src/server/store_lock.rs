//! The store's lock, taken once per batch of commands.
//!
//! **Why not a plain mutex.** With two runtime workers, a task that finds the lock
//! taken used to block its worker thread in `parking_lot`'s spin-then-park: a burst
//! of `sched_yield` calls (59,000 for 400,000 pipelined quorum writes, 98% of the
//! coordinator's `sched_yield` and `futex` calls), then a futex sleep and a wakeup,
//! while the worker's other tasks (peer links, other connections) waited behind it.
//! Here a task that finds the lock taken is parked as a task: it waits for the
//! holder's release notice and its worker goes on with other work. The releasing
//! worker wakes the waiter, which tokio then runs on that same worker, so a contended
//! store tends to be served by one thread at a time, as a single-threaded Redis is.
//! Threads that are not tasks (the stats endpoint) block as before, and their
//! releases wake waiting tasks too.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::store::Store;

/// The store behind its lock, with the queue of tasks waiting for it.
pub struct StoreLock {
    mutex: Mutex<Store>,
    released: Notify,
    /// Tasks between "the lock was taken" and getting it; releases notify only then.
    waiting: AtomicUsize,
}

/// The store, locked; releasing it wakes one waiting task.
pub struct StoreGuard<'a> {
    guard: Option<MutexGuard<'a, Store>>,
    lock: &'a StoreLock,
}

impl StoreLock {
    pub fn new(store: Store) -> StoreLock {
        StoreLock {
            mutex: Mutex::new(store),
            released: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<StoreGuard<'_>> {
        self.mutex.try_lock().map(|g| self.guard(g))
    }

    /// Takes the lock, blocking the thread: for threads that are not runtime tasks.
    pub fn lock_blocking(&self) -> StoreGuard<'_> {
        let g = self.mutex.lock();
        self.guard(g)
    }

    /// Takes the lock, waiting as a task for at most `slice`; `None` when it is still
    /// held then (the caller checks for a busy script and tries again).
    pub async fn lock_within(&self, slice: Duration) -> Option<StoreGuard<'_>> {
        if let Some(g) = self.try_lock() {
            return Some(g);
        }
        let _waiting = Waiting::enter(&self.waiting);
        let timer = tokio::time::sleep(slice);
        tokio::pin!(timer);
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            // Registered before the next try: a release after it is not missed. The
            // fence pairs with the one in `drop` (the lock itself orders only its own
            // memory, not `waiting`).
            notified.as_mut().enable();
            fence(Ordering::SeqCst);
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            tokio::select! {
                biased;
                () = &mut notified => {}
                () = &mut timer => return self.try_lock(),
            }
        }
    }

    fn guard<'a>(&'a self, g: MutexGuard<'a, Store>) -> StoreGuard<'a> {
        StoreGuard {
            guard: Some(g),
            lock: self,
        }
    }
}

/// One task counted in `waiting`, also when its wait is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(n: &'a AtomicUsize) -> Waiting<'a> {
        n.fetch_add(1, Ordering::SeqCst);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Deref for StoreGuard<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        // Only `drop` takes it out.
        self.guard.as_deref().expect("a live guard holds the lock")
    }
}

impl DerefMut for StoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.guard
            .as_deref_mut()
            .expect("a live guard holds the lock")
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        fence(Ordering::SeqCst);
        if self.lock.waiting.load(Ordering::Relaxed) > 0 {
            self.lock.released.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Many tasks on two workers increment under the lock: every wait ends with the
    /// lock (none runs out its 10 s slice: no release is missed) and every increment
    /// lands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contended_tasks_all_get_the_lock() {
        let lock = new_lock();
        let missed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let lock = lock.clone();
                let missed = missed.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        match lock.lock_within(Duration::from_secs(10)).await {
                            Some(mut g) => {
                                g.dirty += 1;
                                // Hold it for a while sometimes, so that others wait.
                                if g.dirty % 7 == 0 {
                                    std::thread::sleep(Duration::from_micros(50));
                                }
                            }
                            None => {
                                missed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(missed.load(Ordering::SeqCst), 0);
        assert_eq!(lock.lock_blocking().dirty, 16 * 500);
        assert_eq!(lock.waiting.load(Ordering::SeqCst), 0);
    }

    fn new_lock() -> Arc<StoreLock> {
        Arc::new(StoreLock::new(Store::new(
            crate::params::Params::default(),
            0,
        )))
    }

    /// A release by a blocking thread wakes a waiting task at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocking_release_wakes_a_task() {
        let lock = new_lock();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let _g = lock.lock_blocking();
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            })
        };
        held_rx.recv().unwrap();
        let waiter = {
            let lock = lock.clone();
            tokio::spawn(async move {
                let t = std::time::Instant::now();
                let got = lock.lock_within(Duration::from_secs(30)).await.is_some();
                (got, t.elapsed())
            })
        };
        while lock.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        go_tx.send(()).unwrap();
        holder.join().unwrap();
        let (got, waited) = waiter.await.unwrap();
        assert!(got);
        assert!(
            waited < Duration::from_secs(30),
            "woken by the release, not the slice"
        );
    }
}
