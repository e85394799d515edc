//! State of a runtime that every thread may touch: one [`Remote`] per core
//! (its inbox, doorbell, sleep state and counters) and the shutdown flag.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Weak;
use std::time::Duration;

use parking_lot::Mutex;

use super::napi::NapiShared;
use super::park::Parker;
use super::sys::EventFd;
use super::task::Runnable;
use crate::sync::mpsc::{Receiver, Sender};
use crate::sync::CachePadded;

/// What other threads send to a core.
pub(crate) enum Msg {
    /// A task of this core was spawned or woken elsewhere.
    Task(Runnable),
    /// A NAPI instance of this core was scheduled elsewhere. Weak, so a
    /// message stranded in the inbox of a stopped core cannot keep the
    /// runtime alive through `NapiShared -> Shared -> inbox`.
    Napi(Weak<NapiShared>),
}

/// The part of a core that other threads use to hand it work.
pub(crate) struct Remote {
    inbox: Sender<Msg>,
    parker: CachePadded<Parker>,
    pub(crate) doorbell: EventFd,
    /// Spawns from other threads between admission and their inbox push,
    /// plus [`CLOSED`] once the core stopped accepting tasks. Shutdown
    /// waits for the count to drain so that no new task can be stranded.
    spawning: CachePadded<AtomicUsize>,
    /// Every NAPI instance registered on this core, so that shutdown can
    /// unregister them (dropping the drivers, which may hold their own
    /// handles or wakers). `None` once the core has shut down. Locked on
    /// registration and at shutdown only.
    napis: Mutex<Option<Vec<Weak<NapiShared>>>>,
    pub(crate) stats: Counters,
}

const CLOSED: usize = 1 << (usize::BITS - 1);

/// Event counters of one core; relaxed, for tests and benchmarks.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) syscall_wakeups: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) napi_polls: AtomicU64,
    pub(crate) io_events: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter only the owning core writes (no RMW needed).
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
}

impl Remote {
    pub(crate) fn new(doorbell: EventFd) -> (Remote, Receiver<Msg>) {
        let (tx, rx) = crate::sync::mpsc::channel();
        let remote = Remote {
            inbox: tx,
            parker: CachePadded(Parker::new()),
            doorbell,
            spawning: CachePadded(AtomicUsize::new(0)),
            napis: Mutex::new(Some(Vec::new())),
            stats: Counters::default(),
        };
        (remote, rx)
    }

    pub(crate) fn parker(&self) -> &Parker {
        &self.parker
    }

    /// Hands `msg` to the core and wakes it if (and only if) it sleeps.
    pub(crate) fn send(&self, msg: Msg) {
        self.inbox.push(msg);
        self.unpark();
    }

    /// Wakes the core if it sleeps; free (no system call) if it runs.
    pub(crate) fn unpark(&self) {
        if self.parker.notify() {
            self.doorbell.ring();
            self.stats.syscall_wakeups.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A thread other than the core starts handing it a new task: `false`
    /// if the core no longer accepts tasks. Either way, [`Remote::end_spawn`]
    /// must follow (after the push, when admitted).
    pub(crate) fn begin_spawn(&self) -> bool {
        self.spawning.fetch_add(1, Ordering::AcqRel) & CLOSED == 0
    }

    pub(crate) fn end_spawn(&self) {
        self.spawning.fetch_sub(1, Ordering::Release);
    }

    /// Stops admitting tasks from other threads.
    pub(crate) fn close(&self) {
        self.spawning.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Spawns from other threads still on their way to the inbox.
    pub(crate) fn spawns_in_flight(&self) -> usize {
        self.spawning.load(Ordering::Acquire) & !CLOSED
    }

    /// Records a NAPI registration; `false` if the core has shut down.
    pub(crate) fn add_napi(&self, napi: Weak<NapiShared>) -> bool {
        let mut napis = self.napis.lock();
        let Some(napis) = napis.as_mut() else {
            return false;
        };
        napis.retain(|n| n.strong_count() > 0);
        napis.push(napi);
        true
    }

    /// Takes the registered NAPI instances and refuses new ones (shutdown).
    pub(crate) fn take_napis(&self) -> Vec<Weak<NapiShared>> {
        self.napis.lock().take().unwrap_or_default()
    }
}

/// Configuration every core reads.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) busy_poll: Duration,
    /// Open an end-of-batch scope around task batches ([`super::batch`]).
    pub(crate) tx_batching: bool,
}

/// Everything shared by the threads of one runtime.
pub(crate) struct Shared {
    pub(crate) cores: Box<[Remote]>,
    pub(crate) shutdown: AtomicBool,
    pub(crate) config: Config,
}

impl Shared {
    /// Asks every core to stop; each one drops its tasks and exits its loop.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for core in self.cores.iter() {
            core.unpark();
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}
