//! Executor benchmarks: netrt against tokio, in the same run, on the same
//! number of cores.
//!
//! Every benchmark body is written once, generic over [`Rt`], and run on
//! each system: netrt (2 cores), tokio's multi-thread scheduler (2
//! workers; the body runs inside a spawned task, i.e. on a worker, which is
//! tokio's fast path) and tokio's current-thread scheduler. Each figure is
//! the best of [`REPS`] runs, each on a freshly built runtime, interleaved
//! across the systems.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

use crate::Table;

const CORES: usize = 2;
const REPS: usize = 5;
/// Tasks spawned before joining them, in the spawn+join benchmark.
const BATCH: usize = 100;

/// The operations the benchmarks need from a runtime.
trait Rt: 'static {
    /// Spawns on the current core (netrt) / wherever the scheduler wants.
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns on `core` where the runtime can pin tasks; elsewhere like `spawn`.
    fn spawn_on<F>(core: usize, f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let _ = core;
        Self::spawn(f)
    }

    fn yield_now() -> impl Future<Output = ()> + Send;

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
}

struct Netrt;

impl Rt for Netrt {
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = netrt::spawn(f);
        async move { h.await.expect("task failed") }
    }

    fn spawn_on<F>(core: usize, f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = netrt::spawn_on(core, f);
        async move { h.await.expect("task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        netrt::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        netrt::time::sleep(d)
    }
}

struct Tokio;

impl Rt for Tokio {
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = tokio::spawn(f);
        async move { h.await.expect("task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------
// Benchmark bodies.

/// Spawns `n` trivial tasks in batches of [`BATCH`], joining each batch.
async fn spawn_join<R: Rt>(n: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(BATCH);
    for _ in 0..n / BATCH {
        for i in 0..BATCH {
            handles.push(R::spawn(async move { black_box(i) }));
        }
        for h in handles.drain(..) {
            black_box(h.await);
        }
    }
    start.elapsed()
}

/// One task yielding `n` times (a self-wake through the run queue).
async fn yields<R: Rt>(n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        R::yield_now().await;
    }
    start.elapsed()
}

/// Two tasks passing a baton `n` times each way: every pass is one wake of
/// a task that is waiting.
struct Baton {
    turn: AtomicUsize,
    waiters: [AtomicWaker; 2],
}

async fn play(baton: Arc<Baton>, me: usize, rounds: usize) {
    for _ in 0..rounds {
        std::future::poll_fn(|cx| {
            if baton.turn.load(Ordering::Acquire) == me {
                return Poll::Ready(());
            }
            baton.waiters[me].register(cx.waker());
            if baton.turn.load(Ordering::Acquire) == me {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        baton.turn.store(1 - me, Ordering::Release);
        baton.waiters[1 - me].wake();
    }
}

/// Round trips of the baton between two tasks on cores `a` and `b`.
async fn ping_pong<R: Rt>(rounds: usize, a: usize, b: usize) -> Duration {
    let baton = Arc::new(Baton {
        turn: AtomicUsize::new(0),
        waiters: [AtomicWaker::new(), AtomicWaker::new()],
    });
    let start = Instant::now();
    let pa = R::spawn_on(a, play(baton.clone(), 0, rounds));
    let pb = R::spawn_on(b, play(baton, 1, rounds));
    pa.await;
    pb.await;
    start.elapsed()
}

/// Arms a timer (first poll of a sleep) and cancels it (drop), `n` times,
/// with deadlines spread over a second.
async fn timers<R: Rt>(n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let mut sleep = pin!(R::sleep(Duration::from_millis(50 + (i % 1000) as u64)));
        assert!(futures::poll!(sleep.as_mut()).is_pending());
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------
// Runners.

/// The benchmarks of the suite.
#[derive(Clone, Copy)]
enum Bench {
    SpawnJoin,
    Yield,
    /// Baton round trips between tasks on cores `a` and `b`.
    PingPong {
        a: usize,
        b: usize,
    },
    Timers,
}

impl Bench {
    async fn run<R: Rt>(self, ops: usize) -> Duration {
        match self {
            Bench::SpawnJoin => spawn_join::<R>(ops).await,
            Bench::Yield => yields::<R>(ops).await,
            Bench::PingPong { a, b } => ping_pong::<R>(ops, a, b).await,
            Bench::Timers => timers::<R>(ops).await,
        }
    }
}

/// A system under test; each measurement builds it afresh.
#[derive(Clone, Copy)]
enum System {
    Netrt,
    /// netrt with busy-polling idle cores.
    NetrtSpin(Duration),
    TokioMt,
    TokioCt,
    /// Two tokio current-thread runtimes on two threads, one baton player
    /// on each (the closest tokio has to `spawn_on`); ping-pong only.
    TokioPinned,
}

fn on_netrt<T>(busy_poll: Duration, body: impl Future<Output = T>) -> T {
    netrt::runtime::Builder::new()
        .cores(CORES)
        .busy_poll(busy_poll)
        .build()
        .expect("netrt runtime")
        .block_on(body)
}

fn on_tokio_mt<T: Send + 'static>(body: impl Future<Output = T> + Send + 'static) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CORES)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async { tokio::spawn(body).await.expect("bench task") })
}

fn on_tokio_ct<T>(body: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body)
}

fn tokio_pinned_ping_pong(rounds: usize) -> Duration {
    let baton = Arc::new(Baton {
        turn: AtomicUsize::new(0),
        waiters: [AtomicWaker::new(), AtomicWaker::new()],
    });
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|me| {
            let baton = baton.clone();
            std::thread::spawn(move || on_tokio_ct(play(baton, me, rounds)))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().expect("player"));
    start.elapsed()
}

/// One measurement of `bench` on a fresh `system`.
fn once(system: System, bench: Bench, ops: usize) -> Duration {
    match system {
        System::Netrt => on_netrt(Duration::ZERO, bench.run::<Netrt>(ops)),
        System::NetrtSpin(spin) => on_netrt(spin, bench.run::<Netrt>(ops)),
        System::TokioMt => on_tokio_mt(bench.run::<Tokio>(ops)),
        System::TokioCt => on_tokio_ct(bench.run::<Tokio>(ops)),
        System::TokioPinned => tokio_pinned_ping_pong(ops),
    }
}

/// Measures `bench` on each system, [`REPS`] times round-robin (so that
/// load from other processes hits all systems alike), and adds the best
/// throughput of each as a row.
fn measure(t: &mut Table, name: &str, bench: Bench, ops: usize, systems: [Option<System>; 3]) {
    let mut best = [Duration::MAX; 3];
    for _ in 0..REPS {
        for (best, system) in best.iter_mut().zip(systems) {
            if let Some(system) = system {
                *best = (*best).min(once(system, bench, ops));
            }
        }
    }
    let ops_per_sec = best
        .iter()
        .map(|d| (*d != Duration::MAX).then(|| ops as f64 / d.as_secs_f64()))
        .collect();
    t.row(name, ops_per_sec);
}

/// Runs the suite.
pub fn run() -> Table {
    use System::*;
    let mut t = Table::new(
        &format!("runtime: netrt vs tokio, {CORES} cores, best of {REPS}"),
        &["netrt", "tokio-mt", "tokio-ct"],
    );
    let all = [Some(Netrt), Some(TokioMt), Some(TokioCt)];
    measure(
        &mut t,
        &format!("spawn+join (batches of {BATCH})"),
        Bench::SpawnJoin,
        200_000,
        all,
    );
    measure(&mut t, "same-core yield_now", Bench::Yield, 500_000, all);
    let same = Bench::PingPong { a: 0, b: 0 };
    measure(&mut t, "same-core wake ping-pong", same, 200_000, all);
    let cross = Bench::PingPong { a: 0, b: 1 };
    let pinned = [Some(Netrt), Some(TokioMt), Some(TokioPinned)];
    measure(&mut t, "cross-core wake round trip", cross, 20_000, pinned);
    let spin = [Some(NetrtSpin(Duration::from_micros(50))), None, None];
    measure(&mut t, "  same, netrt busy-poll 50us", cross, 20_000, spin);
    measure(&mut t, "timer arm+cancel", Bench::Timers, 300_000, all);
    t.note(
        "tokio-mt runs the body in a spawned task (worker fast path) and places tasks itself: \
         its 'cross-core' row is whatever its scheduler chose (often one worker)",
    );
    t.note("tokio-ct cross-core row: two current-thread runtimes on two threads, one task each");
    t.note(
        "ops: spawn+join = tasks, yield = yields, ping-pong = round trips, \
         timers = arm+cancel pairs",
    );
    t
}
