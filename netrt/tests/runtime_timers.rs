//! The core loop's side of timers: expired timers fire from the loop, a
//! core with only timers pending sleeps until the next deadline, and
//! aborting a sleeping task cancels it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netrt::runtime::Builder;
use netrt::time::sleep;
use netrt::{current_core, spawn_on};

#[test]
fn sleeps_on_every_core_fire_on_time_while_the_cores_park() {
    let rt = Builder::new().cores(2).build().unwrap();
    let h = rt.handle();
    rt.block_on(async move {
        let mut handles = Vec::new();
        for core in 0..2 {
            for ms in [5u64, 20, 40] {
                handles.push(spawn_on(core, async move {
                    let start = Instant::now();
                    sleep(Duration::from_millis(ms)).await;
                    (core, current_core(), ms, start.elapsed())
                }));
            }
        }
        for handle in handles {
            let (core, ran_on, ms, took) = handle.await.unwrap();
            assert_eq!(ran_on, Some(core));
            assert!(
                took >= Duration::from_millis(ms),
                "{ms} ms sleep took {took:?}"
            );
            assert!(
                took < Duration::from_millis(ms + 500),
                "{ms} ms sleep took {took:?}"
            );
        }
        // Core 1 had nothing but timers to wait for: it slept in epoll with
        // the deadline as timeout (parked) instead of spinning, and woke by
        // itself (no doorbell needed for timers).
        let s = h.core_stats(1).unwrap();
        assert!(s.parks >= 3, "{s:?}");
        assert!(s.parks < 200, "core 1 spun instead of sleeping: {s:?}");
    });
}

#[test]
fn aborting_a_sleeping_task_drops_it_and_cancels_its_timer() {
    Builder::new().cores(2).build().unwrap().block_on(async {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let f = Flag(dropped.clone());
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let h = spawn_on(1, async move {
            let _f = f;
            s.store(true, Ordering::SeqCst);
            sleep(Duration::from_secs(3600)).await;
        });
        while !started.load(Ordering::SeqCst) {
            netrt::yield_now().await;
        }
        sleep(Duration::from_millis(5)).await;
        let t = Instant::now();
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
        assert!(dropped.load(Ordering::SeqCst));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "abort waited for the timer"
        );
    });
}

#[test]
fn shutdown_with_armed_timers_is_prompt() {
    let t = Instant::now();
    Builder::new().cores(2).build().unwrap().block_on(async {
        for core in 0..2 {
            drop(spawn_on(core, sleep(Duration::from_secs(3600))));
        }
        sleep(Duration::from_millis(2)).await;
    });
    assert!(t.elapsed() < Duration::from_secs(2));
}
