//! Tasks waiting on a socket, and the wake-ups taken out of it so they
//! run after the socket's lock is released (linux: the socket's wait
//! queue and `sk_data_ready` / `sk_write_space`).

use std::task::Waker;

/// Tasks waiting for one event. One waiter is the common case and costs
/// no allocation; concurrent waiters (several tasks awaiting one socket)
/// go to `rest`.
#[derive(Default)]
pub(crate) struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakers {
    /// Adds `waker` unless it (or one that wakes the same task) is there.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
            }
        }
    }

    /// Whether nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Takes every waiter out, to be woken once the lock is released.
    pub(crate) fn take(&mut self) -> Wake {
        Wake {
            first: self.first.take(),
            rest: if self.rest.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut self.rest)
            },
        }
    }
}

/// Waiters taken out of a socket, woken by [`Wake::wake`] after unlock.
#[must_use = "wake the waiters once the socket lock is released"]
#[derive(Default)]
pub(crate) struct Wake {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wake {
    /// Wakes every task taken out.
    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }

    /// Adds the waiters of `other` (a socket's readers and writers woken
    /// together).
    pub(crate) fn merge(&mut self, other: Wake) {
        match (&self.first, other.first) {
            (_, None) => {}
            (None, Some(w)) => self.first = Some(w),
            (Some(_), Some(w)) => self.rest.push(w),
        }
        self.rest.extend(other.rest);
    }
}
