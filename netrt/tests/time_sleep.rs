//! `netrt::time::sleep` on a real runtime: never early, deadline order,
//! cancellation on drop, cross-core moves.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use netrt::runtime::{Builder, Runtime};
use netrt::time::{sleep, sleep_until, Instant, Sleep};
use netrt::{current_core, spawn, spawn_on, yield_now};

fn rt(cores: usize) -> Runtime {
    Builder::new().cores(cores).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn sleeps_are_never_early() {
    rt(1).block_on(async {
        for d in [
            Duration::ZERO,
            Duration::from_micros(200),
            Duration::from_micros(1_700),
            ms(1),
            ms(3),
            ms(10),
            ms(25),
        ] {
            let start = Instant::now();
            let s = sleep(d);
            let deadline = s.deadline();
            s.await;
            let now = Instant::now();
            assert!(now >= deadline, "{d:?} sleep woke early");
            assert!(now - start >= d);
        }
    });
}

/// 10k tasks on one core, each sleeping to its own deadline (0..=200 ms,
/// created in scrambled order): every one completes, none early, and
/// completions follow deadline order at the wheel's 1 ms resolution.
#[test]
fn ten_thousand_sleeps_complete_in_deadline_order() {
    const N: u64 = 10_000;
    let log = Arc::new(Mutex::new(Vec::with_capacity(N as usize)));
    rt(1).block_on({
        let log = log.clone();
        async move {
            let base = Instant::now() + ms(300);
            let started = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..N)
                .map(|i| {
                    let deadline = base + Duration::from_micros((i * 7_919) % 200_000);
                    let log = log.clone();
                    let started = started.clone();
                    spawn(async move {
                        started.fetch_add(1, Ordering::Relaxed);
                        sleep_until(deadline).await;
                        let now = Instant::now();
                        assert!(now >= deadline, "sleep woke early");
                        log.lock().unwrap().push(deadline);
                    })
                })
                .collect();
            while started.load(Ordering::Relaxed) < N as usize {
                yield_now().await;
            }
            // Every sleep is on the wheel before the first deadline, so the
            // order below is the wheel's, not the spawn order.
            assert!(Instant::now() < base, "set-up slower than 300 ms");
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), N as usize);
    // Wakes within one advance run in deadline order, so no deadline that
    // completed later may be more than a tick earlier than one before it.
    let mut max_seen = log[0];
    for &d in log.iter() {
        assert!(d + ms(1) > max_seen, "out of deadline order");
        max_seen = max_seen.max(d);
    }
}

/// Sleeps on every core of a 2-core runtime complete, none early, each on
/// the wheel of the core that polls it.
#[test]
fn sleeps_on_all_cores() {
    let done = Arc::new(AtomicUsize::new(0));
    rt(2).block_on({
        let done = done.clone();
        async move {
            let mut handles = Vec::new();
            for i in 0..400u64 {
                let done = done.clone();
                handles.push(spawn_on((i % 2) as usize, async move {
                    let core = current_core();
                    let d = Duration::from_micros(i * 97 % 20_000);
                    let start = Instant::now();
                    sleep(d).await;
                    assert!(start.elapsed() >= d);
                    assert_eq!(current_core(), core);
                    done.fetch_add(1, Ordering::Relaxed);
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 400);
}

/// Counts clones alive and wakes of a waker.
#[derive(Default)]
struct Probe {
    wakes: AtomicUsize,
}

impl Wake for Probe {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `s` once with the probe's waker.
async fn poll_with(s: &mut Sleep, probe: &Arc<Probe>) -> Poll<()> {
    poll_fn(|_| {
        let waker = Waker::from(probe.clone());
        let mut cx = Context::from_waker(&waker);
        Poll::Ready(Pin::new(&mut *s).poll(&mut cx))
    })
    .await
}

#[test]
fn dropping_a_sleep_cancels_its_timer() {
    rt(1).block_on(async {
        let probe = Arc::new(Probe::default());
        let mut s = sleep(ms(5));
        assert!(poll_with(&mut s, &probe).await.is_pending());
        // The wheel holds the only other clone of the waker.
        assert_eq!(Arc::strong_count(&probe), 2);
        drop(s);
        assert_eq!(
            Arc::strong_count(&probe),
            1,
            "cancel must release the waker"
        );
        sleep(ms(15)).await;
        assert_eq!(
            probe.wakes.load(Ordering::SeqCst),
            0,
            "cancelled timer fired"
        );

        // Not cancelled: the same set-up fires exactly once.
        let mut s = sleep(ms(5));
        assert!(poll_with(&mut s, &probe).await.is_pending());
        sleep(ms(15)).await;
        assert_eq!(probe.wakes.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&probe), 1);
        assert!(s.is_elapsed());
        assert!(poll_with(&mut s, &probe).await.is_ready());
    });
}

/// Re-polling with the same waker does not clone it again; a new waker
/// replaces the old one.
#[test]
fn repoll_keeps_or_replaces_waker() {
    rt(1).block_on(async {
        let a = Arc::new(Probe::default());
        let b = Arc::new(Probe::default());
        let mut s = sleep(ms(5));
        assert!(poll_with(&mut s, &a).await.is_pending());
        assert!(poll_with(&mut s, &a).await.is_pending());
        assert_eq!(Arc::strong_count(&a), 2);
        assert!(poll_with(&mut s, &b).await.is_pending());
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(Arc::strong_count(&b), 2);
        sleep(ms(10)).await;
        assert_eq!(a.wakes.load(Ordering::SeqCst), 0);
        assert_eq!(b.wakes.load(Ordering::SeqCst), 1);
    });
}

/// An aborted task's sleep is cancelled with the task's future.
#[test]
fn aborting_a_sleeping_task_cancels_its_sleep() {
    rt(1).block_on(async {
        let start = Instant::now();
        let h = spawn(sleep(Duration::from_secs(3600)));
        sleep(ms(2)).await;
        h.abort();
        assert!(h.await.is_err());
        // The runtime must now be able to finish without the hour-long
        // timer; block_on returning at all is the check.
        assert!(start.elapsed() < Duration::from_secs(60));
    });
}

/// A Sleep first polled on core 0 and then moved to core 1 re-registers
/// there and still completes on time (not early, not lost).
#[test]
fn sleep_moved_across_cores() {
    rt(2).block_on(async {
        let probe = Arc::new(Probe::default());
        let mut s = sleep(ms(20));
        let deadline = s.deadline();
        assert!(poll_with(&mut s, &probe).await.is_pending());
        let h = spawn_on(1, async move {
            s.await;
            (current_core(), Instant::now())
        });
        let (core, done) = h.await.unwrap();
        assert_eq!(core, Some(1));
        assert!(done >= deadline);
        // The stale entry on core 0 fires harmlessly and lets go of the waker.
        sleep(ms(5)).await;
        assert_eq!(probe.wakes.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&probe), 1);
    });
}

#[test]
#[should_panic(expected = "netrt::time::sleep must be polled inside a netrt runtime")]
fn sleep_outside_a_runtime_panics() {
    futures::executor::block_on(sleep(ms(10)));
}

#[test]
fn elapsed_sleep_outside_a_runtime_is_ready() {
    futures::executor::block_on(sleep(Duration::ZERO));
    futures::executor::block_on(sleep_until(Instant::now()));
}
