//! Unit tests of the timer futures on a single-thread test driver (a
//! thread-local wheel advanced with the real clock).

use std::cell::RefCell;
use std::future::{pending, poll_fn, Future};
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::test_driver::{armed, block_on};
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn sleep_is_never_early() {
    block_on(async {
        for d in [
            Duration::from_micros(300),
            Duration::from_micros(1500),
            ms(1),
            ms(7),
            ms(20),
        ] {
            let start = Instant::now();
            let s = sleep(d);
            let deadline = s.deadline();
            s.await;
            let now = Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
            assert!(now - start >= d);
        }
    });
    assert!(!super::test_driver::installed());
}

#[test]
fn zero_and_past_sleeps_complete_without_the_wheel() {
    // No driver installed: touching the wheel would panic.
    let mut cx = Context::from_waker(Waker::noop());
    let mut s = sleep(Duration::ZERO);
    assert!(s.is_elapsed());
    assert_eq!(pin!(&mut s).poll(&mut cx), Poll::Ready(()));
    let past = sleep_until(Instant::now() - ms(5));
    assert_eq!(pin!(past).poll(&mut cx), Poll::Ready(()));
}

#[test]
#[should_panic(expected = "netrt::time::sleep must be polled inside a netrt runtime")]
fn sleep_outside_runtime_panics() {
    let mut cx = Context::from_waker(Waker::noop());
    let _ = pin!(sleep(ms(100))).poll(&mut cx);
}

#[test]
fn dropping_sleep_cancels_its_timer() {
    block_on(async {
        let mut s = sleep(Duration::from_secs(3600));
        let mut other = sleep(ms(2));
        poll_fn(|cx| {
            assert!(s.poll_elapsed(cx).is_pending());
            assert!(other.poll_elapsed(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(armed(), 2);
        assert!(!s.is_elapsed());
        drop(s);
        assert_eq!(armed(), 1);
        other.await;
        assert_eq!(armed(), 0);
    });
}

#[test]
fn reset_moves_an_armed_sleep() {
    block_on(async {
        let start = Instant::now();
        let mut s = sleep(Duration::from_secs(3600));
        poll_fn(|cx| {
            assert!(s.poll_elapsed(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        // Earlier, in place (same timer, waker kept).
        s.reset(start + ms(5));
        assert_eq!(armed(), 1);
        (&mut s).await;
        assert!(Instant::now() >= start + ms(5));
        assert!(s.is_elapsed());
        assert_eq!(armed(), 0);
        // Reset after completion re-arms on the next poll.
        let again = Instant::now() + ms(3);
        s.reset(again);
        assert!(!s.is_elapsed());
        s.await;
        assert!(Instant::now() >= again);
    });
}

#[test]
fn many_sleeps_complete_in_deadline_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    block_on(async {
        // Deterministic spread of delays 0..=40 ms, created shuffled.
        let delays: Vec<u64> = (0..200u64).map(|i| (i * 37) % 41).collect();
        let futs = delays.iter().map(|&d| {
            let order = order.clone();
            async move {
                let s = sleep(ms(d));
                let deadline = s.deadline();
                s.await;
                assert!(Instant::now() >= deadline);
                order.borrow_mut().push(deadline);
            }
        });
        futures::future::join_all(futs).await;
    });
    let order = order.borrow();
    assert_eq!(order.len(), 200);
    // Completion follows deadline order at tick (1 ms) granularity.
    for (i, a) in order.iter().enumerate() {
        for b in &order[i + 1..] {
            assert!(*b + ms(1) > *a, "sleep completed after a later one");
        }
    }
}

#[test]
fn timeout_ok_when_future_wins() {
    let r = block_on(timeout(ms(50), async { 7 }));
    assert_eq!(r, Ok(7));
    let r = block_on(timeout(ms(50), async {
        sleep(ms(2)).await;
        8
    }));
    assert_eq!(r, Ok(8));
    // A ready future wins even with a zero timeout (polled first).
    assert_eq!(block_on(timeout(Duration::ZERO, async { 9 })), Ok(9));
}

struct DropFlag(Rc<RefCell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        *self.0.borrow_mut() = true;
    }
}

#[test]
fn timeout_elapses_and_drops_inner_future_with_itself() {
    let dropped = Rc::new(RefCell::new(false));
    block_on(async {
        let guard = DropFlag(dropped.clone());
        let start = Instant::now();
        let mut t = Box::pin(timeout(ms(10), async move {
            let _guard = guard;
            pending::<()>().await
        }));
        let r = poll_fn(|cx| t.as_mut().poll(cx)).await;
        assert_eq!(r, Err(Elapsed(())));
        assert!(Instant::now() - start >= ms(10));
        assert!(
            !*dropped.borrow(),
            "inner future dropped before the Timeout"
        );
        drop(t);
        assert!(
            *dropped.borrow(),
            "inner future not dropped with the Timeout"
        );
        assert_eq!(armed(), 0);
    });
}

#[test]
fn timeout_at_and_accessors() {
    block_on(async {
        let deadline = Instant::now() + ms(3);
        let mut t = timeout_at(deadline, pending::<u8>());
        assert_eq!(t.deadline(), deadline);
        let by_ref: *const std::future::Pending<u8> = t.get_ref();
        let by_mut: *mut std::future::Pending<u8> = t.get_mut();
        assert_eq!(by_ref, by_mut.cast_const());
        assert!(t.await.is_err());
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn elapsed_is_an_io_timed_out_error() {
    let e = Elapsed(());
    assert_eq!(e.to_string(), "deadline has elapsed");
    let io: io::Error = e.into();
    assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert_eq!(boxed.to_string(), "deadline has elapsed");
    // `?` conversion in io::Result code.
    fn f() -> io::Result<()> {
        Err(Elapsed(()))?;
        Ok(())
    }
    assert_eq!(f().unwrap_err().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn interval_first_tick_immediate_then_periodic() {
    block_on(async {
        let start = Instant::now();
        let mut iv = interval(ms(5));
        assert_eq!(iv.period(), ms(5));
        let first = iv.tick().await;
        assert!(first <= Instant::now() && first >= start);
        // Skip may drop ticks if the thread is descheduled, but ticks stay
        // on the grid, move forward and are never early.
        let mut prev = first;
        for _ in 0..4 {
            let t = iv.tick().await;
            assert!(t > prev);
            assert_eq!((t - first).as_nanos() % ms(5).as_nanos(), 0, "off grid");
            assert!(Instant::now() >= t, "tick completed early");
            prev = t;
        }
    });
}

#[test]
fn interval_first_tick_needs_no_wheel() {
    // No driver installed: the first tick must complete on the first poll.
    let mut cx = Context::from_waker(Waker::noop());
    let mut iv = interval(Duration::from_secs(3600));
    assert!(iv.poll_tick(&mut cx).is_ready());
}

#[test]
fn interval_poll_tick_registers_and_reset_restarts() {
    block_on(async {
        let mut iv = interval_at(Instant::now() + ms(4), ms(4));
        poll_fn(|cx| {
            assert!(iv.poll_tick(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(armed(), 1);
        let before = Instant::now();
        iv.reset();
        let after = Instant::now();
        assert_eq!(armed(), 1, "reset moves the armed timer in place");
        let t = iv.tick().await;
        assert!(t >= before + ms(4) && t <= after + ms(4));
        assert!(Instant::now() >= t);
    });
}

/// Blocks the thread for `periods` periods so ticks are missed.
fn miss(period: Duration, periods: u32) {
    std::thread::sleep(period * periods);
}

#[test]
fn interval_skip_drops_missed_ticks() {
    block_on(async {
        let p = ms(4);
        let mut iv = interval(p);
        assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Skip);
        let t0 = iv.tick().await;
        miss(p, 3);
        // The overdue tick fires at once...
        let t1 = iv.tick().await;
        assert_eq!(t1, t0 + p);
        // ...then the schedule resumes at the next future multiple.
        let t2 = iv.tick().await;
        assert!(t2 >= t0 + p * 4, "skipped ticks must not burst");
        assert_eq!((t2 - t0).as_nanos() % p.as_nanos(), 0, "phase kept");
    });
}

#[test]
fn interval_burst_and_delay() {
    block_on(async {
        let p = ms(4);
        let mut iv = interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let t0 = iv.tick().await;
        miss(p, 3);
        let burst_start = Instant::now();
        for k in 1..=3 {
            assert_eq!(iv.tick().await, t0 + p * k);
        }
        assert!(
            Instant::now() - burst_start < p,
            "missed ticks come back to back"
        );

        let mut iv = interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        iv.tick().await;
        miss(p, 2);
        let before = Instant::now();
        let late = iv.tick().await;
        let seen = Instant::now();
        let next = iv.tick().await;
        // Rescheduled one period after the late tick was observed.
        assert!(next >= before + p && next <= seen + p);
        assert!(next - late >= p * 2);
    });
}

#[test]
fn missed_tick_arithmetic() {
    let t = Instant::now();
    let p = ms(10);
    use MissedTickBehavior::*;
    assert_eq!(Skip.next(t, t + ms(3), p), t + ms(10));
    assert_eq!(Skip.next(t, t + ms(35), p), t + ms(40));
    assert_eq!(Skip.next(t, t + ms(40), p), t + ms(50));
    assert_eq!(Burst.next(t, t + ms(35), p), t + ms(10));
    assert_eq!(Delay.next(t, t + ms(35), p), t + ms(45));
}

#[test]
#[should_panic(expected = "`period` must be non-zero")]
fn interval_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

#[test]
fn huge_durations_saturate() {
    let s = sleep(Duration::MAX);
    assert!(s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 29));
    let t = timeout(Duration::MAX, pending::<()>());
    assert!(t.deadline() > Instant::now());
}
