//! Time: sleeping, timeouts and intervals.
//!
//! Every core owns a hierarchical timer wheel (1 ms resolution) that its
//! loop advances once per iteration and whose next deadline bounds how long
//! the core parks. A [`Sleep`] registers lazily, on its first poll, on the
//! wheel of the core polling it; dropping it cancels the timer in O(1). No
//! timer operation takes a lock or crosses cores.
//!
//! Timers never complete early: deadlines are rounded up to the next
//! millisecond tick.
//!
//! ```
//! use std::time::Duration;
//! use netrt::time::{interval, sleep, timeout, Instant};
//!
//! let rt = netrt::runtime::Builder::new().cores(1).build().unwrap();
//! rt.block_on(async {
//!     let start = Instant::now();
//!     sleep(Duration::from_millis(2)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(2));
//!
//!     let never = std::future::pending::<()>();
//!     let err = timeout(Duration::from_millis(5), never).await.unwrap_err();
//!     assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
//!
//!     let mut ticks = interval(Duration::from_millis(1));
//!     for _ in 0..3 {
//!         ticks.tick().await;
//!     }
//! });
//! ```

mod interval;
mod sleep;
#[cfg(all(test, not(loom)))]
mod tests;
mod timeout;
pub(crate) mod wheel;

use std::time::Duration;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
/// A monotonic clock reading; netrt timers use `std`'s clock directly.
pub use std::time::Instant;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

use wheel::Wheel;

/// `now + duration`, saturating at roughly 30 years from now (what "never"
/// means for a timer) instead of overflowing `Instant`.
fn deadline_after(duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(duration.min(FAR)).unwrap_or(now)
}

/// Runs `f` on the current core's timer wheel; `None` outside a runtime
/// core (or while it shuts down).
fn with_wheel<R>(f: impl FnOnce(&mut Wheel) -> R) -> Option<R> {
    #[cfg(all(test, not(loom)))]
    if test_driver::installed() {
        return test_driver::with(f);
    }
    crate::runtime::with_timers(f)
}

/// A single-thread stand-in for a runtime core in unit tests: a thread-local
/// wheel and a `block_on` that advances it with the real clock, parking
/// until the wheel's next deadline like a core's loop does.
#[cfg(all(test, not(loom)))]
pub(crate) mod test_driver {
    use super::wheel::Wheel;
    use super::Instant;
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    thread_local! {
        static WHEEL: RefCell<Option<Wheel>> = const { RefCell::new(None) };
    }

    pub(crate) fn installed() -> bool {
        WHEEL.with(|w| w.borrow().is_some())
    }

    pub(crate) fn with<R>(f: impl FnOnce(&mut Wheel) -> R) -> Option<R> {
        WHEEL.with(|w| w.borrow_mut().as_mut().map(f))
    }

    /// Armed timers on this thread's wheel.
    pub(crate) fn armed() -> usize {
        with(|w| w.len()).unwrap_or(0)
    }

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Runs `fut` to completion with a fresh wheel installed on this thread.
    pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
        WHEEL.with(|w| *w.borrow_mut() = Some(Wheel::new(Instant::now())));
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let out = {
            let mut fut = pin!(fut);
            loop {
                if flag.0.swap(false, Ordering::SeqCst) {
                    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                        break v;
                    }
                }
                // Fire due timers outside the wheel borrow, then park until the
                // next deadline if nothing woke us.
                let mut due = Vec::new();
                with(|w| w.advance(Instant::now(), |k| due.push(k)));
                due.into_iter().for_each(Waker::wake);
                if !flag.0.load(Ordering::SeqCst) {
                    let next = with(|w| w.next_deadline()).flatten();
                    let next = next.expect("test future pending with no timer armed");
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }
        };
        WHEEL.with(|w| *w.borrow_mut() = None);
        out
    }
}
