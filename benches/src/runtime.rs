//! Executor benchmarks: netrt against tokio, in the same run, on the same
//! number of cores.
//!
//! Every benchmark body is written once, generic over [`Rt`], and run on
//! each system: netrt (2 cores), tokio's multi-thread scheduler (2
//! workers; the body runs inside a spawned task, i.e. on a worker, which is
//! tokio's fast path) and tokio's current-thread scheduler. Each figure is
//! the best of [`REPS`] repetitions inside one runtime.

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
const REPS: usize = 3;
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

/// Runs `bench` [`REPS`] times and returns the best throughput.
async fn best_of<F, Fut>(ops: usize, bench: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut best = Duration::MAX;
    for _ in 0..REPS {
        best = best.min(bench().await);
    }
    ops as f64 / best.as_secs_f64()
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

/// Cross-thread round trips with each task pinned to its own tokio
/// current-thread runtime (the closest tokio has to `spawn_on`).
fn tokio_pinned_ping_pong(rounds: usize) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..REPS {
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
        best = best.min(start.elapsed());
    }
    rounds as f64 / best.as_secs_f64()
}

/// Measures `bench::<R>` on the three systems.
macro_rules! on_all {
    ($ops:expr, $bench:ident $(, $arg:expr)*) => {{
        let ops: usize = $ops;
        vec![
            Some(on_netrt(Duration::ZERO, best_of(ops, || $bench::<Netrt>(ops $(, $arg)*)))),
            Some(on_tokio_mt(best_of(ops, move || $bench::<Tokio>(ops $(, $arg)*)))),
            Some(on_tokio_ct(best_of(ops, || $bench::<Tokio>(ops $(, $arg)*)))),
        ]
    }};
}

/// Runs the suite.
pub fn run() -> Table {
    let mut t = Table::new(
        &format!("runtime: netrt vs tokio, {CORES} cores, best of {REPS}"),
        &["netrt", "tokio-mt", "tokio-ct"],
    );
    t.row(
        &format!("spawn+join (batches of {BATCH})"),
        on_all!(500_000, spawn_join),
    );
    t.row("same-core yield_now", on_all!(2_000_000, yields));
    t.row(
        "same-core wake ping-pong",
        on_all!(500_000, ping_pong, 0, 0),
    );
    let rounds = 50_000;
    t.row(
        "cross-core wake round trip",
        vec![
            Some(on_netrt(
                Duration::ZERO,
                best_of(rounds, || ping_pong::<Netrt>(rounds, 0, 1)),
            )),
            Some(on_tokio_mt(best_of(rounds, move || {
                ping_pong::<Tokio>(rounds, 0, 1)
            }))),
            Some(tokio_pinned_ping_pong(rounds)),
        ],
    );
    t.row(
        "cross-core round trip, busy-poll 50us",
        vec![
            Some(on_netrt(
                Duration::from_micros(50),
                best_of(rounds, || ping_pong::<Netrt>(rounds, 0, 1)),
            )),
            None,
            None,
        ],
    );
    t.row("timer arm+cancel", on_all!(1_000_000, timers));
    t.note("tokio-mt runs the body in a spawned task (worker fast path); it places tasks itself, so its 'same-core'/'cross-core' rows are whatever its scheduler chose");
    t.note("tokio-ct cross-core row: two current-thread runtimes on two threads, one task each");
    t.note("ops: spawn+join = tasks, yield = yields, ping-pong = round trips, timers = arm+cancel pairs");
    t
}
