//! Parking: an idle core sleeps (no CPU), a parked core is woken by one
//! eventfd write, a busy or busy-polling core is never woken by syscall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netrt::runtime::{Builder, CoreStats, Handle};
use netrt::{current_core, spawn_on, yield_now};

/// CPU time (user + system) consumed so far by the thread named `name`.
fn thread_cpu(name: &str) -> Duration {
    let tick = 1.0 / unsafe_sysconf_clk_tck() as f64;
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = entry.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised comm: state is field 3; utime 14, stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        return Duration::from_secs_f64(ticks as f64 * tick);
    }
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("comm")).unwrap_or_default())
        .collect();
    panic!("no thread named {name}: {names:?}");
}

fn unsafe_sysconf_clk_tck() -> i64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }
}

fn stats(h: &Handle, core: usize) -> CoreStats {
    h.core_stats(core).unwrap()
}

/// Waits until `core` is asleep.
fn wait_parked(h: &Handle, core: usize) {
    let start = Instant::now();
    while !stats(h, core).parked {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "core {core} never parked"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_idle_core_sleeps_and_a_cross_core_spawn_wakes_it_with_one_syscall() {
    let rt = Builder::new()
        .cores(2)
        .thread_name("park-idle")
        .build()
        .unwrap();
    let h = rt.handle();
    rt.block_on(async move {
        // Core 1 has had nothing to do since it started.
        wait_parked(&h, 1);
        let cpu0 = thread_cpu("park-idle-1");
        std::thread::sleep(Duration::from_millis(400));
        let burned = thread_cpu("park-idle-1") - cpu0;
        assert!(
            burned < Duration::from_millis(60),
            "idle core burned {burned:?} of CPU in 400 ms"
        );
        assert!(stats(&h, 1).parks >= 1);

        for round in 0..5 {
            wait_parked(&h, 1);
            let before = stats(&h, 1);
            let on = spawn_on(1, async { current_core() }).await.unwrap();
            assert_eq!(on, Some(1));
            let after = stats(&h, 1);
            assert_eq!(
                after.syscall_wakeups - before.syscall_wakeups,
                1,
                "round {round}: a parked core costs exactly one doorbell"
            );
        }
    });
}

#[test]
fn a_busy_core_is_never_woken_by_syscall() {
    let rt = Builder::new()
        .cores(2)
        .thread_name("park-busy")
        .build()
        .unwrap();
    let h = rt.handle();
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let spinner = {
            let (stop, running) = (stop.clone(), running.clone());
            spawn_on(1, async move {
                running.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    yield_now().await;
                }
            })
        };
        while !running.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let before = stats(&h, 1);
        let mut handles = Vec::new();
        for i in 0..2000 {
            handles.push(spawn_on(1, async move { i }));
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Join through polling, not awaiting, so core 0 stays busy too.
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 1999 * 2000 / 2);
        let after = stats(&h, 1);
        assert_eq!(
            after.syscall_wakeups, before.syscall_wakeups,
            "core 1 never slept, so nobody may ring its doorbell"
        );
        assert_eq!(after.parks, before.parks);
        stop.store(true, Ordering::SeqCst);
        spinner.await.unwrap();
    });
}

#[test]
fn a_busy_polling_core_is_woken_without_syscalls() {
    let rt = Builder::new()
        .cores(2)
        .busy_poll(Duration::from_secs(3))
        .build()
        .unwrap();
    let h = rt.handle();
    rt.block_on(async move {
        let before = [stats(&h, 0), stats(&h, 1)];
        for i in 0..200 {
            assert_eq!(spawn_on(1, async move { i * 2 }).await.unwrap(), i * 2);
        }
        // Every idle period restarts the 3 s spin window; none is that long.
        for (core, before) in before.iter().enumerate() {
            let after = stats(&h, core);
            assert_eq!(
                after.syscall_wakeups, before.syscall_wakeups,
                "core {core} was spinning"
            );
        }
    });
}
