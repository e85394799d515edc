//! The `Sleep` future: one timer on the current core's wheel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::wheel::TimerKey;
use super::{deadline_after, with_wheel, Instant};

/// Waits until `duration` has elapsed.
///
/// Equivalent to `sleep_until(Instant::now() + duration)`; a duration too
/// large for `Instant` means "about 30 years". The timer is registered on
/// the wheel of the core that first polls it, with millisecond resolution:
/// it never completes early and typically completes within a millisecond
/// after its deadline.
///
/// # Panics
/// Polling a `Sleep` with a deadline still in the future outside a netrt
/// runtime panics.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(deadline_after(duration))
}

/// Waits until `deadline` is reached. A deadline already passed completes
/// on the first poll without touching the timer wheel.
///
/// # Panics
/// As [`sleep`].
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// `Sleep` is `Unpin`: it can be polled through `&mut` and stored without
/// pinning (tokio-style `sleep.as_mut().reset(..)` on a pinned one works
/// too). Dropping it cancels its timer in O(1).
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not on any wheel yet (never polled, or reset).
    Idle,
    /// Armed on the wheel identified by the key.
    Armed(TimerKey),
    /// Completed; further polls return `Ready` at once.
    Elapsed,
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            state: State::Idle,
        }
    }

    /// The instant this sleep completes at (or after).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed, i.e. the next poll returns `Ready`.
    ///
    /// Once armed, this follows the timer wheel (which the runtime advances
    /// each loop iteration), not the clock.
    pub fn is_elapsed(&self) -> bool {
        match self.state {
            State::Elapsed => true,
            State::Idle => self.deadline <= Instant::now(),
            State::Armed(key) => with_wheel(|w| {
                w.is_fired(key) || (!w.contains(key) && self.deadline <= Instant::now())
            })
            .unwrap_or_else(|| self.deadline <= Instant::now()),
        }
    }

    /// Moves the deadline; works before and after completion.
    ///
    /// An armed timer is moved in place and keeps its waker. Otherwise the
    /// new timer is registered on the next poll, so the owner must poll the
    /// `Sleep` again (as with tokio's `Sleep::reset`).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let State::Armed(key) = self.state {
            if with_wheel(|w| w.reset(key, deadline)) == Some(true) {
                return;
            }
            // Fired, or armed on another core's wheel: that entry releases
            // itself when it fires (a spurious wake at most).
        }
        self.state = State::Idle;
    }

    /// The `Poll` half of `Future::poll`, usable without pinning.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let state = match self.state {
            State::Elapsed => return Poll::Ready(()),
            State::Idle if deadline <= Instant::now() => State::Elapsed,
            state => with_wheel(|w| match state {
                State::Armed(key) if w.is_fired(key) => State::Elapsed,
                State::Armed(key) if w.contains(key) => {
                    w.set_waker(key, cx.waker());
                    state
                }
                // Armed on another core's wheel (the future moved): that
                // entry fires and releases itself; re-arm here.
                _ if deadline <= Instant::now() => State::Elapsed,
                _ => State::Armed(w.insert(deadline, cx.waker().clone())),
            })
            .unwrap_or_else(|| panic!("netrt::time::sleep must be polled inside a netrt runtime")),
        };
        self.state = state;
        match state {
            State::Elapsed => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Armed(key) = self.state {
            // `None`: no current core (e.g. dropped while the runtime shuts
            // down); the wheel, if any, goes away with its core.
            let _ = with_wheel(|w| w.cancel(key));
        }
    }
}
