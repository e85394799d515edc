//! Tasks: spawning, joining, panics, abort, cross-core wakes, `!Send`
//! tasks and shutdown.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use netrt::runtime::{Builder, Handle, Runtime};
use netrt::{current_core, spawn, spawn_local, spawn_on, yield_now, JoinHandle};

fn rt(cores: usize) -> Runtime {
    Builder::new().cores(cores).build().unwrap()
}

/// `Some(core)` once the guard was dropped, `core` being `current_core()`.
type DroppedOn = Arc<Mutex<Option<Option<usize>>>>;

/// Sets a flag when dropped, remembering on which core that happened.
struct DropGuard {
    dropped: Arc<AtomicBool>,
    core: DroppedOn,
}

impl DropGuard {
    fn new() -> (DropGuard, Arc<AtomicBool>, DroppedOn) {
        let dropped = Arc::new(AtomicBool::new(false));
        let core = Arc::new(Mutex::new(None));
        (
            DropGuard {
                dropped: dropped.clone(),
                core: core.clone(),
            },
            dropped,
            core,
        )
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        *self.core.lock().unwrap() = Some(current_core());
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn block_on_returns_the_future_output_and_runs_on_core_0() {
    let out = rt(2).block_on(async {
        assert_eq!(current_core(), Some(0));
        String::from("done")
    });
    assert_eq!(out, "done");
    assert_eq!(current_core(), None, "the thread is no core after block_on");
}

#[test]
fn block_on_accepts_borrowing_non_send_futures() {
    let local = Rc::new(Cell::new(1));
    let borrowed = &local;
    let v = rt(1).block_on(async move {
        borrowed.set(borrowed.get() + 1);
        spawn_local({
            let l = borrowed.clone();
            async move { l.set(l.get() * 10) }
        })
        .await
        .unwrap();
        borrowed.get()
    });
    assert_eq!(v, 20);
}

#[test]
fn hundred_thousand_tasks_across_two_cores_all_complete() {
    const N: usize = 100_000;
    let counted = Arc::new(AtomicUsize::new(0));
    let per_core = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let c = counted.clone();
    let pc = per_core.clone();
    let sum = rt(2).block_on(async move {
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let (c, pc) = (c.clone(), pc.clone());
            handles.push(spawn_on(i % 2, async move {
                let core = current_core().unwrap();
                assert_eq!(core, i % 2, "task ran on the wrong core");
                pc[core].fetch_add(1, Ordering::Relaxed);
                c.fetch_add(1, Ordering::Relaxed);
                i
            }));
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(counted.load(Ordering::Relaxed), N);
    assert_eq!(per_core[0].load(Ordering::Relaxed), N / 2);
    assert_eq!(per_core[1].load(Ordering::Relaxed), N / 2);
    assert_eq!(sum, N * (N - 1) / 2);
}

#[test]
fn a_panicking_task_gives_a_join_error_and_the_core_keeps_running() {
    rt(2).block_on(async {
        for core in 0..2 {
            let err = spawn_on(core, async {
                if current_core().is_some() {
                    panic!("boom on purpose");
                }
                7
            })
            .await
            .unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert!(err.to_string().contains("boom on purpose"), "{err}");
            let payload = err.into_panic();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom on purpose"));
            // The same core still runs tasks.
            assert_eq!(spawn_on(core, async { 5 }).await.unwrap(), 5);
        }
    });
}

/// A future that is never ready but counts its polls.
struct Never(Arc<AtomicUsize>);
impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    }
}

#[test]
fn abort_cancels_an_idle_task_and_drops_its_future_on_its_core() {
    rt(2).block_on(async {
        let (guard, dropped, where_) = DropGuard::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let h = spawn_on(1, async move {
            let _g = guard;
            Never(p).await;
        });
        while polls.load(Ordering::SeqCst) == 0 {
            yield_now().await;
        }
        assert!(!h.is_finished());
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.load(Ordering::SeqCst), "future dropped by then");
        assert_eq!(
            *where_.lock().unwrap(),
            Some(Some(1)),
            "dropped on its core"
        );
        assert_eq!(polls.load(Ordering::SeqCst), 1, "never polled after abort");
    });
}

#[test]
fn abort_before_the_first_poll_and_after_completion() {
    rt(1).block_on(async {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let h = spawn(async move { r.store(true, Ordering::SeqCst) });
        h.abort(); // not polled yet: we have not yielded
        assert!(h.await.unwrap_err().is_cancelled());
        assert!(!ran.load(Ordering::SeqCst));

        let h = spawn(async { 3 });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        assert_eq!(
            h.await.unwrap(),
            3,
            "abort after completion keeps the output"
        );
    });
}

#[test]
fn a_task_can_abort_itself() {
    rt(1).block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<JoinHandle<()>>();
        let (guard, dropped, _) = DropGuard::new();
        let resumed = Arc::new(AtomicBool::new(false));
        let r = resumed.clone();
        let h = spawn(async move {
            let _g = guard;
            let me = rx.await.unwrap();
            me.abort();
            yield_now().await;
            r.store(true, Ordering::SeqCst);
        });
        tx.send(h).unwrap();
        while !dropped.load(Ordering::SeqCst) {
            yield_now().await;
        }
        assert!(!resumed.load(Ordering::SeqCst), "aborted task resumed");
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    rt(2).block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel();
        drop(spawn_on(1, async move {
            yield_now().await;
            tx.send(current_core()).unwrap();
        }));
        assert_eq!(rx.await.unwrap(), Some(1));
    });
}

#[test]
fn cross_core_wake_returns_the_task_to_its_own_core() {
    rt(2).block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let waiter = spawn_on(1, async move {
            let before = current_core();
            let v = rx.await.unwrap();
            (before, current_core(), v)
        });
        // Let it park on the channel, then wake it from core 0.
        for _ in 0..10 {
            yield_now().await;
        }
        tx.send(9).unwrap();
        assert_eq!(waiter.await.unwrap(), (Some(1), Some(1), 9));

        // Ping-pong between the cores through channels.
        let (to1, mut from0) = futures::channel::mpsc::unbounded::<u32>();
        let (to0, mut from1) = futures::channel::mpsc::unbounded::<u32>();
        let echo = spawn_on(1, async move {
            use futures::StreamExt;
            let mut n = 0;
            while let Some(v) = from0.next().await {
                assert_eq!(current_core(), Some(1));
                to0.unbounded_send(v + 1).unwrap();
                n += 1;
            }
            n
        });
        use futures::StreamExt;
        let mut v = 0;
        for _ in 0..1000 {
            to1.unbounded_send(v).unwrap();
            v = from1.next().await.unwrap();
        }
        assert_eq!(v, 1000);
        drop(to1);
        assert_eq!(echo.await.unwrap(), 1000);
    });
}

#[test]
fn wake_from_a_foreign_thread() {
    rt(2).block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<&'static str>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send("from outside").unwrap();
        });
        let h = spawn_on(1, async move { (rx.await.unwrap(), current_core()) });
        assert_eq!(h.await.unwrap(), ("from outside", Some(1)));
        t.join().unwrap();
    });
}

#[test]
#[allow(clippy::async_yields_async)] // the outer task hands back a handle on purpose
fn spawn_local_runs_a_non_send_future_on_the_current_core() {
    rt(2).block_on(async {
        // The outer task only creates the !Send state on core 1 and hands
        // back the (Send) handle of a local task that owns it.
        let h = spawn_on(1, async {
            let shared = Rc::new(RefCell::new(Vec::new()));
            let mut hs = Vec::new();
            for i in 0..10 {
                let s = shared.clone();
                hs.push(spawn_local(async move {
                    yield_now().await;
                    s.borrow_mut().push((i, current_core()));
                }));
            }
            spawn_local(async move {
                for h in hs {
                    h.await.unwrap();
                }
                let v = shared.borrow().clone();
                v
            })
        })
        .await
        .unwrap();
        let v = h.await.unwrap();
        assert_eq!(v.len(), 10);
        assert!(v.iter().all(|(_, c)| *c == Some(1)));
    });
}

#[test]
fn yield_now_lets_the_other_tasks_of_the_core_run() {
    rt(1).block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut hs = Vec::new();
        for id in 0..2 {
            let log = log.clone();
            hs.push(spawn_local(async move {
                for step in 0..3 {
                    log.borrow_mut().push((id, step));
                    yield_now().await;
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(
            *log.borrow(),
            [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
        );
    });
}

#[test]
fn spawning_outside_a_runtime_panics_clearly() {
    let err = catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.downcast_ref::<String>().cloned().unwrap_or_default());
    assert!(msg.contains("outside of a netrt runtime"), "{msg}");
    assert!(catch_unwind(|| drop(spawn_local(async {}))).is_err());
    assert!(catch_unwind(|| drop(spawn_on(0, async {}))).is_err());
    assert!(Handle::try_current().is_err());
    assert_eq!(current_core(), None);
}

#[test]
fn out_of_range_cores_are_rejected() {
    assert_eq!(
        Builder::new().cores(0).build().unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    let rt = rt(2);
    let handle = rt.handle();
    assert_eq!(
        handle.try_spawn_on(2, async {}).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    rt.block_on(async {
        let r = catch_unwind(AssertUnwindSafe(|| drop(spawn_on(5, async {}))));
        assert!(r.is_err());
        assert_eq!(spawn_on(1, async { 1 }).await.unwrap(), 1, "still fine");
    });
}

#[test]
fn handles_spawn_from_foreign_threads() {
    let rt = rt(2);
    let handle = rt.handle();
    assert_eq!(handle.cores(), 2);
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let on0 = handle.spawn(async { current_core() });
        let on1 = handle.spawn_on(1, async { current_core() });
        let _enter = handle.enter();
        let entered = spawn(async { current_core() });
        assert!(Handle::try_current().is_ok());
        tx.send((on0, on1, entered)).unwrap();
    });
    t.join().unwrap();
    let (on0, on1, entered) = rx.recv().unwrap();
    rt.block_on(async move {
        assert_eq!(on0.await.unwrap(), Some(0));
        assert_eq!(on1.await.unwrap(), Some(1));
        assert_eq!(entered.await.unwrap(), Some(0));
        assert_eq!(Handle::current().cores(), 2);
    });
}

static EXITED_CORE_THREADS: AtomicUsize = AtomicUsize::new(0);

struct CountExit;
impl Drop for CountExit {
    fn drop(&mut self) {
        EXITED_CORE_THREADS.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static EXIT_FLAG: RefCell<Option<CountExit>> = const { RefCell::new(None) };
}

#[test]
fn shutdown_drops_remaining_tasks_on_their_core_and_joins_every_thread() {
    let before = EXITED_CORE_THREADS.load(Ordering::SeqCst);
    let (g1, dropped1, where1) = DropGuard::new();
    let (g2, dropped2, where2) = DropGuard::new();
    let names = rt(3).block_on(async move {
        let mut names = Vec::new();
        for core in 1..3 {
            names.push(
                spawn_on(core, async {
                    EXIT_FLAG.with(|f| *f.borrow_mut() = Some(CountExit));
                    std::thread::current().name().map(str::to_string)
                })
                .await
                .unwrap(),
            );
        }
        // Left pending at shutdown: a Send task on core 1 and a !Send one on core 2.
        drop(spawn_on(1, async move {
            let _g = g1;
            std::future::pending::<()>().await;
        }));
        spawn_on(2, async move {
            let g2 = Rc::new(g2); // makes the inner task !Send
            drop(spawn_local(async move {
                let _g = g2;
                std::future::pending::<()>().await;
            }));
        })
        .await
        .unwrap();
        names
    });
    assert_eq!(
        names,
        [Some("netrt-core-1".into()), Some("netrt-core-2".into())]
    );
    // block_on returned: the two core threads ran their TLS destructors,
    // i.e. they exited and were joined.
    assert_eq!(EXITED_CORE_THREADS.load(Ordering::SeqCst) - before, 2);
    assert!(dropped1.load(Ordering::SeqCst) && dropped2.load(Ordering::SeqCst));
    assert_eq!(*where1.lock().unwrap(), Some(Some(1)));
    assert_eq!(*where2.lock().unwrap(), Some(Some(2)));
}

#[test]
fn dropping_a_runtime_without_block_on_shuts_it_down() {
    let rt = Builder::new()
        .cores(2)
        .thread_name("dropped-rt")
        .build()
        .unwrap();
    let handle = rt.handle();
    let (g0, dropped0, where0) = DropGuard::new();
    let (g1, dropped1, where1) = DropGuard::new();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let h0 = handle.spawn_on(0, async move {
        let _g = g0;
        std::future::pending::<()>().await;
    });
    let h1 = handle.spawn_on(1, async move {
        let _g = g1;
        s.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    });
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    drop(rt);
    assert!(dropped0.load(Ordering::SeqCst) && dropped1.load(Ordering::SeqCst));
    // Core 0 never ran: its task is dropped by the dropping thread.
    assert_eq!(*where0.lock().unwrap(), Some(Some(0)));
    assert_eq!(*where1.lock().unwrap(), Some(Some(1)));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for mut h in [h0, h1] {
        match Pin::new(&mut h).poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
            other => panic!("expected cancellation, got {other:?}"),
        }
    }
    // Spawning onto a stopped runtime is cancelled immediately.
    let mut late = handle.spawn_on(1, async { 1 });
    assert!(matches!(
        Pin::new(&mut late).poll(&mut cx),
        Poll::Ready(Err(ref e)) if e.is_cancelled()
    ));
}

#[test]
fn a_panic_of_the_main_future_is_re_raised_after_shutdown() {
    let (g, dropped, _) = DropGuard::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt(2).block_on(async move {
            drop(spawn_on(1, async move {
                let _g = g;
                std::future::pending::<()>().await;
            }));
            yield_now().await;
            panic!("main failed");
        })
    }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main failed"));
    assert!(
        dropped.load(Ordering::SeqCst),
        "shutdown ran before the re-raise"
    );
}

#[test]
fn block_on_inside_a_core_panics() {
    rt(1).block_on(async {
        let r = catch_unwind(AssertUnwindSafe(|| rt(1).block_on(async {})));
        assert!(r.is_err());
    });
}
