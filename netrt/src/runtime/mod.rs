//! The thread-per-core executor.
//!
//! A [`Runtime`] has N cores. Core 0 is the thread that calls
//! [`Runtime::block_on`]; cores 1..N are threads the runtime starts
//! (`netrt-core-1`, ...). Each core owns a run queue, an inbox for work sent
//! from other threads, a timer wheel, a NAPI poll list ([`napi`]) and an
//! epoll instance ([`io`]); its loop is described in `core.rs`. Tasks never
//! migrate: [`spawn`] and [`spawn_local`] run a task on the calling core,
//! [`spawn_on`] on a chosen one, and a task woken from another thread is
//! sent back to its own core.
//!
//! ```
//! let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
//! let sum = rt.block_on(async {
//!     let on_1 = netrt::spawn_on(1, async { netrt::current_core() });
//!     assert_eq!(on_1.await.unwrap(), Some(1));
//!     let here = netrt::spawn(async { 20 + 1 });
//!     here.await.unwrap() * 2
//! });
//! assert_eq!(sum, 42);
//! ```

pub(crate) mod batch;
pub(crate) mod context;
mod core;
pub mod io;
pub mod napi;
mod park;
mod shared;
mod slab;
mod sys;
mod task;

use std::fmt;
use std::future::Future;
use std::io as stdio;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub(crate) use self::context::with_timers;
pub use self::context::{current_core, EnterGuard};
pub use self::task::{spawn, spawn_local, spawn_on, yield_now, JoinError, JoinHandle};

use self::core::{Core, CoreParts};
use self::io::IoDriver;
use self::napi::{Napi, NapiHandle};
use self::shared::{Config, Remote, Shared};
use self::sys::EventFd;

/// The error for runtime-only operations attempted outside a runtime.
fn not_in_runtime() -> stdio::Error {
    stdio::Error::other("not called from within a netrt runtime")
}

/// Configures and builds a [`Runtime`].
#[derive(Clone, Debug)]
pub struct Builder {
    cores: usize,
    thread_name: String,
    busy_poll: Duration,
    tx_batching: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// One core per available CPU, threads named `netrt-core-N`, no
    /// busy-polling, transmit batching on.
    pub fn new() -> Builder {
        Builder {
            cores: thread::available_parallelism().map_or(1, |n| n.get()),
            thread_name: "netrt-core".to_string(),
            busy_poll: Duration::ZERO,
            tx_batching: true,
        }
    }

    /// The number of cores, including the thread that calls
    /// [`Runtime::block_on`] (core 0).
    pub fn cores(mut self, n: usize) -> Builder {
        self.cores = n;
        self
    }

    /// Alias of [`Builder::cores`], for tokio-style code.
    pub fn worker_threads(self, n: usize) -> Builder {
        self.cores(n)
    }

    /// Prefix of the core threads' names; core `i` is named `{name}-{i}`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// How long an idle core spins, looking for work, before it sleeps.
    /// Trades CPU for wake-up latency; zero (the default) sleeps at once.
    pub fn busy_poll(mut self, spin: Duration) -> Builder {
        self.busy_poll = spin;
        self
    }

    /// Whether packets that tasks transmit are held until the end of the
    /// task batch they were sent in (at most 128 tasks; the batch ends
    /// before the core polls the network, fires timers or sleeps) and
    /// handed to each device queue as one burst: one tail write and one
    /// interrupt on the receiver per burst instead of per packet. On by
    /// default; off sends every packet at once (for comparison).
    pub fn tx_batching(mut self, on: bool) -> Builder {
        self.tx_batching = on;
        self
    }

    /// Starts the cores 1..N; core 0 runs in [`Runtime::block_on`].
    ///
    /// Errors: `InvalidInput` for zero cores; the OS error if an eventfd,
    /// an epoll instance or a thread cannot be created.
    pub fn build(self) -> stdio::Result<Runtime> {
        if self.cores == 0 {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                "a netrt runtime needs at least one core",
            ));
        }
        let mut remotes = Vec::with_capacity(self.cores);
        let mut parts = Vec::with_capacity(self.cores);
        for _ in 0..self.cores {
            let doorbell = EventFd::new()?;
            let io = Arc::new(IoDriver::new(doorbell.raw())?);
            let (remote, inbox) = Remote::new(doorbell);
            remotes.push(remote);
            parts.push(CoreParts { inbox, io });
        }
        let shared = Arc::new(Shared {
            cores: remotes.into_boxed_slice(),
            shutdown: AtomicBool::new(false),
            config: Config {
                busy_poll: self.busy_poll,
                tx_batching: self.tx_batching,
            },
        });
        let mut parts = parts.into_iter();
        let core0 = parts.next();
        let mut rt = Runtime {
            shared: shared.clone(),
            core0,
            threads: Vec::with_capacity(self.cores - 1),
            finished: false,
        };
        for (i, part) in parts.enumerate() {
            let index = i + 1;
            let shared = shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || {
                    let core = Core::new(index, shared, part);
                    let _enter = context::enter_core(&core);
                    core.run(&|| false);
                    core.shutdown();
                });
            match spawned {
                Ok(t) => rt.threads.push(t),
                // `rt`'s drop stops the cores started so far.
                Err(e) => return Err(e),
            }
        }
        Ok(rt)
    }
}

/// A running set of cores. Build one with [`Builder`].
///
/// [`Runtime::block_on`] turns the calling thread into core 0 until its
/// future completes, then shuts the runtime down. Dropping a runtime
/// without calling `block_on` shuts it down too. Shutdown drops every
/// remaining task on its own core and joins all core threads.
pub struct Runtime {
    shared: Arc<Shared>,
    /// Core 0's queues until `block_on` (or drop) takes them.
    core0: Option<CoreParts>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Set by `block_on`, which shut everything down already.
    finished: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.shared.cores.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds a runtime with [`Builder::new`]'s defaults.
    pub fn new() -> stdio::Result<Runtime> {
        Builder::new().build()
    }

    /// A handle to spawn onto this runtime from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// The number of cores.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// Runs `future` to completion on the calling thread, which becomes
    /// core 0 meanwhile (tasks spawned there run on it too), then shuts the
    /// runtime down and returns the future's output. A panic of `future`
    /// is re-raised here, after the shutdown.
    ///
    /// # Panics
    ///
    /// When called from a thread that is already a netrt core.
    #[track_caller]
    pub fn block_on<F: Future>(mut self, future: F) -> F::Output {
        assert!(
            current_core().is_none(),
            "Runtime::block_on called from a thread that is already a netrt core \
             (it would block that core); spawn the future instead"
        );
        // Invariant: only `block_on` (which consumes the runtime) and drop
        // take core 0's parts.
        let parts = self.core0.take().expect("core 0 already taken");
        let core = Core::new(0, self.shared.clone(), parts);
        let result = {
            let _enter = context::enter_core(&core);
            // SAFETY: the main task lives on core 0, which is this thread
            // for as long as `block_on` runs, so a `!Send` future is polled
            // and dropped here only. Its borrows outlive it: `core.shutdown`
            // returns only once every future of core 0 has been dropped.
            let mut main = unsafe { task::spawn_task(self.shared.clone(), 0, future) };
            core.run(&|| main.is_finished());
            self.shared.begin_shutdown();
            core.shutdown();
            main.try_take()
        };
        drop(core);
        let worker_panic = self.join_cores();
        self.finished = true;
        match result {
            Some(Ok(output)) => {
                if let Some(p) = worker_panic {
                    resume_unwind(p);
                }
                output
            }
            Some(Err(e)) if e.is_panic() => resume_unwind(e.into_panic()),
            _ => panic!("the runtime shut down before the block_on future completed"),
        }
    }

    /// Joins the core threads; returns the first panic payload, if any.
    fn join_cores(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        let mut first = None;
        for t in self.threads.drain(..) {
            if let Err(p) = t.join() {
                first.get_or_insert(p);
            }
        }
        first
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.shared.begin_shutdown();
        if let Some(parts) = self.core0.take() {
            // Tasks sent to core 0 before anyone ran it are dropped here;
            // they are `Send` (only `Handle::spawn*` can reach core 0 then).
            let core = Core::new(0, self.shared.clone(), parts);
            let _enter = context::enter_core(&core);
            core.shutdown();
        }
        // Panics of core threads are not re-raised from a destructor.
        let _ = self.join_cores();
    }
}

/// A cloneable reference to a runtime, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cores", &self.shared.cores.len())
            .finish_non_exhaustive()
    }
}

/// Counters of one core, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreStats {
    /// Times another thread woke this core with an eventfd write.
    pub syscall_wakeups: u64,
    /// Times the core went to sleep in `epoll_wait`.
    pub parks: u64,
    /// Task polls.
    pub polls: u64,
    /// NAPI polls.
    pub napi_polls: u64,
    /// Fd readiness events delivered.
    pub io_events: u64,
    /// Whether the core is asleep (or committed to sleep) right now.
    pub parked: bool,
}

impl Handle {
    /// The runtime of the calling thread (a core, or a thread that entered
    /// a handle).
    ///
    /// # Panics
    ///
    /// Outside a runtime; see [`Handle::try_current`].
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(_) => panic!(
                "Handle::current called outside of a netrt runtime \
                 (not a core thread, and no Handle::enter guard)"
            ),
        }
    }

    /// The runtime of the calling thread, or an `Other` error outside one.
    pub fn try_current() -> stdio::Result<Handle> {
        context::current_shared()
            .map(|shared| Handle { shared })
            .ok_or_else(not_in_runtime)
    }

    /// Makes this runtime the current one of the calling (non-core) thread
    /// until the guard is dropped: [`spawn`] and friends work there, and
    /// `spawn` sends tasks to core 0.
    pub fn enter(&self) -> EnterGuard {
        context::enter_handle(self.clone())
    }

    /// The number of cores.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// The core a `spawn` from this thread goes to: the calling core if it
    /// belongs to this runtime, else core 0.
    fn spawn_core(&self) -> usize {
        context::with_core(|c| match c {
            Some(c) if Arc::ptr_eq(&c.shared, &self.shared) => c.index,
            _ => 0,
        })
    }

    /// Spawns a task on the calling core if it belongs to this runtime,
    /// else on core 0.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: `F` is `Send + 'static`.
        unsafe { task::spawn_task(self.shared.clone(), self.spawn_core(), future) }
    }

    /// Spawns a task on core `core`.
    ///
    /// # Panics
    ///
    /// If `core` is out of range; see [`Handle::try_spawn_on`].
    #[track_caller]
    pub fn spawn_on<F>(&self, core: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_spawn_on(core, future) {
            Ok(h) => h,
            Err(e) => panic!("Handle::spawn_on: {e}"),
        }
    }

    /// Spawns a task on core `core`; `InvalidInput` if out of range.
    pub fn try_spawn_on<F>(&self, core: usize, future: F) -> stdio::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cores = self.shared.cores.len();
        if core >= cores {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                format!("core {core} out of range: the runtime has {cores} cores"),
            ));
        }
        // SAFETY: `F` is `Send + 'static`.
        Ok(unsafe { task::spawn_task(self.shared.clone(), core, future) })
    }

    /// Registers a NAPI instance on core `core`; see [`napi`].
    /// `InvalidInput` if `core` is out of range.
    pub fn register_napi(&self, core: usize, napi: Box<dyn Napi>) -> stdio::Result<NapiHandle> {
        napi::register_on(&self.shared, core, napi)
    }

    /// Counters of core `core` (`None` if out of range).
    pub fn core_stats(&self, core: usize) -> Option<CoreStats> {
        let remote = self.shared.cores.get(core)?;
        let c = &remote.stats;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Some(CoreStats {
            syscall_wakeups: get(&c.syscall_wakeups),
            parks: get(&c.parks),
            polls: get(&c.polls),
            napi_polls: get(&c.napi_polls),
            io_events: get(&c.io_events),
            parked: remote.parker().is_parked(),
        })
    }
}
