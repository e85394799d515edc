//! `timeout`: bound how long a future may take.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;

use super::sleep::{sleep_until, Sleep};
use super::{deadline_after, Instant};

/// Requires `future` to complete within `duration`.
///
/// Resolves to `Ok(output)` if the future completes first, or
/// `Err(Elapsed)` once `duration` has passed. The inner future is polled
/// before the timer, so a future ready at the deadline still wins. On
/// timeout the inner future is not dropped by the `Timeout` resolving but
/// when the `Timeout` itself is dropped (as with any future combinator).
///
/// # Panics
/// Like [`sleep`](super::sleep), polling outside a netrt runtime panics
/// unless the future completes (or the deadline passes) on the first poll.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(duration), future)
}

/// Requires `future` to complete before `deadline`; see [`timeout`].
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        delay: sleep_until(deadline),
    }
}

/// Future returned by [`timeout`] and [`timeout_at`].
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Timeout<F> {
    #[pin]
    future: F,
    delay: Sleep,
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Consumes the `Timeout`, returning the wrapped future.
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The instant at which the timeout elapses.
    pub fn deadline(&self) -> Instant {
        self.delay.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        this.delay.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    }
}

/// Error returned by [`Timeout`] when its deadline passes first.
///
/// Converts into an [`io::Error`] of kind [`io::ErrorKind::TimedOut`], so
/// `timeout(d, stream.read(buf)).await??` works in `io::Result` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub(super) ());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}
