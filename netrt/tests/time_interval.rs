//! `netrt::time::interval` on a real runtime.

use std::time::Duration;

use netrt::runtime::Builder;
use netrt::time::{interval, interval_at, Instant, MissedTickBehavior};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn interval_ticks_on_schedule() {
    let rt = Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let p = ms(4);
        let mut iv = interval(p);
        let first = iv.tick().await;
        assert!(first >= start && first <= Instant::now());
        // Skip (default) may drop ticks if this thread is descheduled, but
        // every tick lies on the grid, strictly later, and is never early.
        let mut prev = first;
        for k in 1..=10 {
            let t = iv.tick().await;
            assert!(t > prev, "tick {k} not after the previous one");
            assert_eq!(
                (t - first).as_nanos() % p.as_nanos(),
                0,
                "tick {k} off grid"
            );
            assert!(Instant::now() >= t, "tick {k} early");
            prev = t;
        }
        assert!(start.elapsed() >= p * 10);

        // Burst keeps the exact schedule whatever the delays.
        let mut iv = interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let first = iv.tick().await;
        for k in 1..=10u32 {
            let t = iv.tick().await;
            assert_eq!(t, first + p * k, "burst tick {k} off schedule");
            assert!(Instant::now() >= t, "burst tick {k} early");
        }
    });
}

#[test]
fn interval_skip_and_burst_after_a_stall() {
    let rt = Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let p = ms(5);
        // Skip (default): one overdue tick, then back on the grid.
        let mut iv = interval(p);
        let t0 = iv.tick().await;
        std::thread::sleep(p * 3);
        assert_eq!(iv.tick().await, t0 + p);
        let t2 = iv.tick().await;
        assert!(t2 >= t0 + p * 4);
        assert_eq!((t2 - t0).as_nanos() % p.as_nanos(), 0);

        // Burst: every missed tick is delivered.
        let mut iv = interval_at(Instant::now(), p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let t0 = iv.tick().await;
        std::thread::sleep(p * 3);
        for k in 1..=3u32 {
            assert_eq!(iv.tick().await, t0 + p * k);
        }
    });
}
