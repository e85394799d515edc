//! The socket lock with a receive backlog (linux: `lock_sock`,
//! `sk_add_backlog`, `release_sock`).
//!
//! A socket's state is touched by its user (a task on any core) and by
//! the receive path (a NAPI poll on the core RSS chose). The receive path
//! never waits for a user: if the state is locked it parks the segment on
//! the backlog and moves on; whoever holds the lock processes the backlog
//! before letting go.
//!
//! The one subtle moment is a segment queued just as the holder checks
//! the backlog for the last time and unlocks. Both sides close it in the
//! same order, store then fence then load (the Dekker pattern):
//!
//! ```text
//! receive path:  push, pending += 1 │ holder: unlock
//!                fence(SeqCst)      │         fence(SeqCst)
//!                try_lock           │         pending == 0 ?
//! ```
//!
//! At least one side sees the other: either the receiver gets the lock
//! and drains, or the holder sees `pending` and takes the lock back. The
//! loom models below check that no segment is ever stranded.

use crate::loom::atomic::{fence, AtomicUsize, Ordering};
use crate::loom::Mutex;

#[cfg(not(loom))]
type Guard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(loom)]
type Guard<'a, T> = loom::sync::MutexGuard<'a, T>;

/// Socket state `T` behind its lock, with a backlog of `B`s (segments)
/// that arrived while the lock was held.
pub(crate) struct SockLock<T, B> {
    state: Mutex<T>,
    backlog: Mutex<Vec<B>>,
    /// Items in `backlog`, readable without its lock.
    pending: AtomicUsize,
}

impl<T, B> SockLock<T, B> {
    /// `state` behind a new lock with an empty backlog.
    pub(crate) fn new(state: T) -> Self {
        SockLock {
            state: Mutex::new(state),
            backlog: Mutex::new(Vec::new()),
            pending: AtomicUsize::new(0),
        }
    }

    /// The user side: runs `f` on the locked state, then processes
    /// whatever the receive path queued meanwhile with `process`, then
    /// unlocks. // linux: lock_sock … release_sock
    pub(crate) fn with_user<R>(
        &self,
        f: impl FnOnce(&mut T) -> R,
        mut process: impl FnMut(&mut T, B),
    ) -> R {
        let mut guard = lock(&self.state);
        let r = f(&mut guard);
        self.drain_and_unlock(guard, &mut process);
        r
    }

    /// The receive side: processes `item` now if the state is free,
    /// otherwise queues it for the holder. Returns whether it was queued.
    /// // linux: tcp_v4_rcv's sock_owned_by_user / tcp_add_backlog
    pub(crate) fn deliver(&self, item: B, mut process: impl FnMut(&mut T, B)) -> bool {
        if let Some(mut guard) = try_lock(&self.state) {
            process(&mut guard, item);
            self.drain_and_unlock(guard, &mut process);
            return false;
        }
        {
            let mut backlog = lock(&self.backlog);
            backlog.push(item);
            self.pending.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        // The holder may have unlocked before seeing our item.
        if let Some(guard) = try_lock(&self.state) {
            self.drain_and_unlock(guard, &mut process);
        }
        true
    }

    /// Processes the backlog until it stays empty across the unlock.
    fn drain_and_unlock<'a>(
        &'a self,
        mut guard: Guard<'a, T>,
        process: &mut impl FnMut(&mut T, B),
    ) {
        loop {
            while self.pending.load(Ordering::SeqCst) > 0 {
                let items = std::mem::take(&mut *lock(&self.backlog));
                self.pending.fetch_sub(items.len(), Ordering::SeqCst);
                for item in items {
                    process(&mut guard, item);
                }
            }
            drop(guard);
            fence(Ordering::SeqCst);
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            // Someone else holding the lock now will drain it.
            match try_lock(&self.state) {
                Some(g) => guard = g,
                None => return,
            }
        }
    }
}

/// Locks, ignoring poisoning: a panic while holding a socket leaves state
/// that is still memory-safe, and the stack never panics on purpose.
fn lock<T>(m: &Mutex<T>) -> Guard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn try_lock<T>(m: &Mutex<T>) -> Option<Guard<'_, T>> {
    #[cfg(not(loom))]
    {
        match m.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
    #[cfg(loom)]
    {
        m.try_lock().ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn free_lock_processes_at_once_held_lock_queues() {
        let l: SockLock<Vec<u32>, u32> = SockLock::new(Vec::new());
        assert!(!l.deliver(1, |s, b| s.push(b)));
        let queued = l.with_user(
            |s| {
                s.push(100);
                // The receive path runs on another thread while we hold
                // the lock.
                std::thread::scope(|sc| sc.spawn(|| l.deliver(2, |s, b| s.push(b))).join()).unwrap()
            },
            |s, b| s.push(b),
        );
        assert!(queued);
        l.with_user(|s| assert_eq!(*s, vec![1, 100, 2]), |_, _| {});
    }

    #[test]
    fn concurrent_users_and_receivers_lose_nothing() {
        let l: SockLock<Vec<u32>, u32> = SockLock::new(Vec::new());
        std::thread::scope(|sc| {
            for t in 0..2u32 {
                let l = &l;
                sc.spawn(move || {
                    for i in 0..10_000 {
                        l.deliver(t * 100_000 + i, |s, b| s.push(b));
                    }
                });
            }
            let l = &l;
            sc.spawn(move || {
                for _ in 0..10_000 {
                    l.with_user(|s| s.len(), |s, b| s.push(b));
                }
            });
        });
        l.with_user(
            |s| {
                assert_eq!(s.len(), 20_000);
                let mut v = s.clone();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), 20_000);
            },
            |_, _| panic!("backlog left over"),
        );
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{thread, Arc};

    /// A receiver racing a user: the segment is processed exactly once,
    /// by one of them, before both return.
    #[test]
    fn receiver_vs_user_never_strands_a_segment() {
        loom::model(|| {
            let l: Arc<SockLock<Vec<u32>, u32>> = Arc::new(SockLock::new(Vec::new()));
            let rx = {
                let l = l.clone();
                thread::spawn(move || {
                    l.deliver(7, |s, b| s.push(b));
                })
            };
            // Yielding while holding the lock lets the receiver find it
            // taken (loom does not preempt inside a plain critical section).
            l.with_user(
                |s| {
                    s.push(1);
                    thread::yield_now();
                },
                |s, b| s.push(b),
            );
            rx.join().unwrap();
            let mut s = std::mem::take(&mut *lock(&l.state));
            assert_eq!(l.pending.load(Ordering::SeqCst), 0);
            s.sort_unstable();
            assert_eq!(s, vec![1, 7]);
        });
    }

    /// Two receivers (RPS and the home core) racing one user.
    #[test]
    fn two_receivers_one_user() {
        loom::model(|| {
            let l: Arc<SockLock<Vec<u32>, u32>> = Arc::new(SockLock::new(Vec::new()));
            let rxs: Vec<_> = [7u32, 8]
                .into_iter()
                .map(|v| {
                    let l = l.clone();
                    thread::spawn(move || {
                        l.deliver(v, |s, b| s.push(b));
                    })
                })
                .collect();
            l.with_user(|_| thread::yield_now(), |s, b| s.push(b));
            for t in rxs {
                t.join().unwrap();
            }
            let mut s = std::mem::take(&mut *lock(&l.state));
            s.sort_unstable();
            assert_eq!(s, vec![7, 8]);
            assert_eq!(l.pending.load(Ordering::SeqCst), 0);
        });
    }
}
