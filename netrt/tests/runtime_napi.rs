//! NAPI: scheduling from any thread, weight, round budget, round robin,
//! completion exactly once, idempotent scheduling, unregistration.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netrt::runtime::napi::{self, Napi, NapiHandle, ROUND_BUDGET, WEIGHT};
use netrt::runtime::{Builder, Runtime};
use netrt::{current_core, spawn_on, yield_now};

fn rt(cores: usize) -> Runtime {
    Builder::new().cores(cores).build().unwrap()
}

/// Waits (yielding the task) until `cond` holds, failing after 10 s.
async fn until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        // Sleep, don't spin: the conditions take the shared log's mutex,
        // and a checker that re-locks it in a tight loop starves the core
        // under test (std's mutex lets the releasing thread barge back in),
        // which on an idle machine stalled that core for seconds.
        netrt::time::sleep(Duration::from_millis(1)).await;
    }
}

/// An event in a shared log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Poll {
        id: usize,
        budget: usize,
        core: Option<usize>,
    },
    Complete {
        id: usize,
    },
    Task,
}

type Log = Arc<Mutex<Vec<Ev>>>;

/// A device queue with a backlog of work units and an interrupt that is
/// masked while the instance is scheduled (like igb's EIMS/EIMC).
struct Queue {
    backlog: AtomicUsize,
    irq_enabled: AtomicBool,
    /// Set once registered.
    handle: Mutex<Option<NapiHandle>>,
    /// `usize::MAX` = endless work.
    schedules: AtomicUsize,
}

impl Queue {
    fn new(backlog: usize) -> Arc<Queue> {
        Arc::new(Queue {
            backlog: AtomicUsize::new(backlog),
            irq_enabled: AtomicBool::new(true),
            handle: Mutex::new(None),
            schedules: AtomicUsize::new(0),
        })
    }

    /// Device side: work arrived; fire the interrupt if it is enabled.
    fn add_work(&self, n: usize) {
        self.backlog.fetch_add(n, Ordering::SeqCst);
        self.fire();
    }

    fn fire(&self) {
        if self.backlog.load(Ordering::SeqCst) > 0 && self.irq_enabled.swap(false, Ordering::SeqCst)
        {
            self.schedules.fetch_add(1, Ordering::SeqCst);
            self.handle.lock().unwrap().as_ref().unwrap().schedule();
        }
    }
}

struct Driver {
    id: usize,
    q: Arc<Queue>,
    log: Log,
    endless: bool,
}

impl Napi for Driver {
    fn poll(&mut self, budget: usize) -> usize {
        self.log.lock().unwrap().push(Ev::Poll {
            id: self.id,
            budget,
            core: current_core(),
        });
        assert!(
            !self.q.irq_enabled.load(Ordering::SeqCst),
            "polled with the interrupt enabled"
        );
        if self.endless {
            return budget;
        }
        let mut done = 0;
        while done < budget {
            let cur = self.q.backlog.load(Ordering::SeqCst);
            if cur == 0 {
                break;
            }
            let take = cur.min(budget - done);
            self.q.backlog.fetch_sub(take, Ordering::SeqCst);
            done += take;
        }
        done
    }

    fn complete(&mut self) {
        self.log.lock().unwrap().push(Ev::Complete { id: self.id });
        let was = self.q.irq_enabled.swap(true, Ordering::SeqCst);
        assert!(!was, "complete called twice for one schedule");
        // A pending cause fires as soon as the vector is unmasked.
        self.q.fire();
    }
}

fn register(core: usize, id: usize, q: &Arc<Queue>, log: &Log, endless: bool) {
    let h = napi::register(
        core,
        Box::new(Driver {
            id,
            q: q.clone(),
            log: log.clone(),
            endless,
        }),
    )
    .unwrap();
    assert_eq!(h.core(), core);
    *q.handle.lock().unwrap() = Some(h);
}

fn count(log: &Log, pred: impl Fn(&Ev) -> bool) -> usize {
    log.lock().unwrap().iter().filter(|e| pred(e)).count()
}

#[test]
fn napi_scheduled_from_a_foreign_thread_is_polled_and_completed_once_per_schedule() {
    rt(2).block_on(async {
        let log: Log = Arc::default();
        let q = Queue::new(0);
        register(1, 0, &q, &log, false);
        let total = 10_000;
        let device = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..total / 10 {
                    q.add_work(10);
                    if i % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        };
        device.join().unwrap();
        until(|| q.backlog.load(Ordering::SeqCst) == 0 && q.irq_enabled.load(Ordering::SeqCst))
            .await;
        let polls = count(&log, |e| matches!(e, Ev::Poll { .. }));
        let completes = count(&log, |e| matches!(e, Ev::Complete { .. }));
        assert!(polls > 0);
        assert_eq!(
            completes,
            q.schedules.load(Ordering::SeqCst),
            "exactly one completion per schedule"
        );
        for e in log.lock().unwrap().iter() {
            if let Ev::Poll { budget, core, .. } = *e {
                assert_eq!(budget, WEIGHT);
                assert_eq!(core, Some(1), "polled on its own core");
            }
        }
        // Clean end state: unscheduled, interrupt enabled, nothing left.
        assert!(!q.handle.lock().unwrap().as_ref().unwrap().is_scheduled());
    });
}

#[test]
fn endless_work_is_polled_with_weight_64_in_rounds_of_300_and_round_robined() {
    rt(2).block_on(async {
        let log: Log = Arc::default();
        let (a, b) = (Queue::new(1), Queue::new(1));
        register(1, 0, &a, &log, true);
        register(1, 1, &b, &log, true);
        // A task on the same core marks the gaps between rounds.
        let stop = Arc::new(AtomicBool::new(false));
        let marker = {
            let (log, stop) = (log.clone(), stop.clone());
            spawn_on(1, async move {
                while !stop.load(Ordering::SeqCst) {
                    log.lock().unwrap().push(Ev::Task);
                    yield_now().await;
                }
            })
        };
        a.fire();
        b.fire();
        until(|| count(&log, |e| matches!(e, Ev::Poll { .. })) >= 200).await;
        stop.store(true, Ordering::SeqCst);
        marker.await.unwrap();
        // Unregister while they are still scheduled: no poll afterwards.
        let a_handle = a.handle.lock().unwrap().take().unwrap();
        let b_handle = b.handle.lock().unwrap().take().unwrap();
        drop((a_handle, b_handle));
        let polls_at_drop = count(&log, |e| matches!(e, Ev::Poll { .. }));
        for _ in 0..100 {
            yield_now().await;
        }
        let on_core1 = spawn_on(1, async {}); // one full loop of core 1
        on_core1.await.unwrap();
        assert_eq!(
            count(&log, |e| matches!(e, Ev::Poll { .. })),
            polls_at_drop,
            "polled after unregistration"
        );

        let log = log.lock().unwrap().clone();
        assert_eq!(count_complete(&log), 0, "endless work never completes");
        // Split the log into rounds (maximal runs of polls between task runs).
        let mut rounds: Vec<Vec<usize>> = Vec::new();
        let mut cur = Vec::new();
        for e in &log {
            match *e {
                Ev::Poll { id, budget, .. } => {
                    assert_eq!(budget, WEIGHT);
                    cur.push(id);
                }
                _ => {
                    if !cur.is_empty() {
                        rounds.push(std::mem::take(&mut cur));
                    }
                }
            }
        }
        assert!(rounds.len() > 10, "{} rounds", rounds.len());
        // A round ends when its budget is spent: after ceil(300/64) = 5
        // full-weight polls. It may end earlier on its 2 ms time limit (a
        // preempted core thread), never later.
        let per_round = ROUND_BUDGET.div_ceil(WEIGHT);
        for r in &rounds {
            assert!(r.len() <= per_round, "polls per round: {r:?}");
        }
        let full = rounds.iter().filter(|r| r.len() == per_round).count();
        assert!(
            full * 2 > rounds.len(),
            "{full} of {} rounds full",
            rounds.len()
        );
        // Round robin across rounds too: the two instances alternate.
        let order: Vec<usize> = rounds.concat();
        for w in order.windows(2) {
            assert_ne!(w[0], w[1], "not round robin: {order:?}");
        }
    });
}

fn count_complete(log: &[Ev]) -> usize {
    log.iter()
        .filter(|e| matches!(e, Ev::Complete { .. }))
        .count()
}

/// A driver that only counts.
struct Counting {
    polls: Arc<AtomicUsize>,
    completes: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Napi for Counting {
    fn poll(&mut self, _budget: usize) -> usize {
        self.polls.fetch_add(1, Ordering::SeqCst);
        0
    }
    fn complete(&mut self) {
        self.completes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn scheduling_while_scheduled_is_idempotent_and_wakers_schedule() {
    rt(2).block_on(async {
        let (polls, completes, dropped) = Default::default();
        let polls: Arc<AtomicUsize> = polls;
        let completes: Arc<AtomicUsize> = completes;
        let dropped: Arc<AtomicBool> = dropped;
        let h = napi::register(
            1,
            Box::new(Counting {
                polls: polls.clone(),
                completes: completes.clone(),
                dropped: dropped.clone(),
            }),
        )
        .unwrap();
        // Keep core 1 busy (blocked) while another thread schedules 10 times.
        let (blocked_tx, blocked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = spawn_on(1, async move {
            blocked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        blocked_rx.recv().unwrap();
        let waker = h.waker();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..10 {
                    if i % 2 == 0 {
                        h.schedule();
                    } else {
                        waker.wake_by_ref();
                    }
                }
            });
        });
        assert!(h.is_scheduled());
        release_tx.send(()).unwrap();
        blocker.await.unwrap();
        until(|| completes.load(Ordering::SeqCst) == 1).await;
        assert_eq!(polls.load(Ordering::SeqCst), 1, "ten schedules, one poll");
        assert!(!h.is_scheduled());

        // A clone of the waker, consumed by `wake`, schedules it again.
        let irq = waker.clone();
        irq.wake();
        until(|| completes.load(Ordering::SeqCst) == 2).await;
        assert_eq!(polls.load(Ordering::SeqCst), 2);

        // Unregistering drops the driver; wakers become no-ops.
        drop(h);
        assert!(dropped.load(Ordering::SeqCst));
        waker.wake_by_ref();
        spawn_on(1, async {}).await.unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn register_validates_the_core_and_needs_a_runtime() {
    let mk = || {
        Box::new(Counting {
            polls: Default::default(),
            completes: Default::default(),
            dropped: Default::default(),
        })
    };
    assert_eq!(
        napi::register(0, mk()).unwrap_err().kind(),
        std::io::ErrorKind::Other
    );
    let rt = rt(2);
    assert_eq!(
        rt.handle().register_napi(2, mk()).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    let h = rt.handle().register_napi(0, mk()).unwrap();
    rt.block_on(async move {
        assert_eq!(h.core(), 0);
    });
}

#[test]
fn a_napi_schedule_wakes_a_parked_core_with_one_syscall() {
    let rt = rt(2);
    let handle = rt.handle();
    rt.block_on(async move {
        let polls = Arc::new(AtomicUsize::new(0));
        let completes = Arc::new(AtomicUsize::new(0));
        let h = napi::register(
            1,
            Box::new(Counting {
                polls: polls.clone(),
                completes: completes.clone(),
                dropped: Default::default(),
            }),
        )
        .unwrap();
        // Let core 1 fall asleep.
        let start = Instant::now();
        while handle.core_stats(1).unwrap().parks == 0 {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
        let before = handle.core_stats(1).unwrap();
        let irq = h.waker();
        std::thread::spawn(move || irq.wake()).join().unwrap();
        // The core publishes its statistics at the end of the NAPI round,
        // after `complete` ran: wait for both before comparing.
        until(|| {
            completes.load(Ordering::SeqCst) == 1
                && handle.core_stats(1).unwrap().napi_polls > before.napi_polls
        })
        .await;
        let after = handle.core_stats(1).unwrap();
        assert_eq!(after.syscall_wakeups - before.syscall_wakeups, 1);
        assert_eq!(after.napi_polls - before.napi_polls, 1);
        drop(h);
    });
}

/// A driver that owns its own handle (a reference cycle through the
/// runtime), as a driver that reschedules itself might.
struct SelfOwning {
    me: Option<NapiHandle>,
    dropped: Arc<AtomicBool>,
}

impl Napi for SelfOwning {
    fn poll(&mut self, _budget: usize) -> usize {
        0
    }
    fn complete(&mut self) {}
}

impl Drop for SelfOwning {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_unregisters_every_napi_and_drops_the_drivers() {
    let dropped = Arc::new(AtomicBool::new(false));
    let rt = rt(2);
    let handle = rt.handle();
    let slot: Arc<Mutex<Option<NapiHandle>>> = Arc::default();
    // The handle ends up inside the driver: only shutdown can break that.
    struct Late {
        slot: Arc<Mutex<Option<NapiHandle>>>,
        inner: SelfOwning,
    }
    impl Napi for Late {
        fn poll(&mut self, budget: usize) -> usize {
            if self.inner.me.is_none() {
                self.inner.me = self.slot.lock().unwrap().take();
            }
            self.inner.poll(budget)
        }
        fn complete(&mut self) {}
    }
    let h = handle
        .register_napi(
            1,
            Box::new(Late {
                slot: slot.clone(),
                inner: SelfOwning {
                    me: None,
                    dropped: dropped.clone(),
                },
            }),
        )
        .unwrap();
    let waker = h.waker();
    *slot.lock().unwrap() = Some(h);
    let alive = dropped.clone();
    rt.block_on(async move {
        waker.wake_by_ref();
        until(|| slot.lock().unwrap().is_none()).await;
        assert!(!alive.load(Ordering::SeqCst));
    });
    assert!(
        dropped.load(Ordering::SeqCst),
        "driver outlived the runtime"
    );
    assert_eq!(
        handle
            .register_napi(
                0,
                Box::new(SelfOwning {
                    me: None,
                    dropped: Default::default()
                })
            )
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::Other,
        "registration after shutdown"
    );
}
