//! NAPI: how a device driver (or anything interrupt-driven) plugs into a
//! core's loop.
//!
//! A driver implements [`Napi`] for one of its queues and registers it on
//! the core that should process that queue ([`register`] or
//! [`Handle::register_napi`](super::Handle::register_napi)). Its interrupt
//! handler then calls [`NapiHandle::schedule`] (or wakes the
//! [`NapiHandle::waker`]), from any thread: that puts the instance on the
//! core's poll list and wakes the core if it sleeps. The core polls
//! scheduled instances before it runs tasks, in rounds shaped like Linux
//! `net_rx_action`:
//!
//! * each poll gets a weight of [`WEIGHT`] (64) units of work;
//! * a round ends after [`ROUND_BUDGET`] (300) units or [`ROUND_TIME`]
//!   (2 ms), whichever comes first; the core then runs timers and tasks
//!   and starts the next round on its next loop iteration;
//! * an instance that used its whole weight has more work: it stays on the
//!   list, behind the others (round robin);
//! * an instance that did less is done: it leaves the list and its
//!   [`Napi::complete`] runs (re-enable your interrupt), exactly once per
//!   such completion.
//!
//! A schedule that races with a poll is never lost: like
//! `NAPI_STATE_MISSED`, a schedule that arrives while the instance is
//! scheduled or being polled is recorded, and the core polls once more
//! instead of completing. Scheduling an instance that is already scheduled
//! and not yet polled is free and idempotent.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use super::context;
use super::shared::{Msg, Shared};
use crate::loom::atomic::{AtomicUsize, Ordering};

/// Work units one poll may do (`dev->weight`, `NAPI_POLL_WEIGHT`).
pub const WEIGHT: usize = 64;
/// Work units one round may do across all instances (`netdev_budget`).
pub const ROUND_BUDGET: usize = 300;
/// Time one round may take (`netdev_budget_usecs`).
pub const ROUND_TIME: Duration = Duration::from_millis(2);

/// An interrupt-driven work source polled by a core (a NIC queue).
pub trait Napi: Send {
    /// Does up to `budget` units of work (e.g. receives up to `budget`
    /// frames) and returns how many it did. Returning `budget` means "there
    /// is more": the instance stays scheduled. Returning less means "done",
    /// and [`Napi::complete`] follows. Values above `budget` count as
    /// `budget`.
    fn poll(&mut self, budget: usize) -> usize;

    /// The instance did less than its weight and left the poll list:
    /// re-enable the interrupt (`napi_complete_done` + unmask). A device
    /// event that arrives after this must call [`NapiHandle::schedule`].
    fn complete(&mut self);
}

// ---------------------------------------------------------------------------
// The scheduling state machine (pure, model-checked with loom).

/// On the poll list (or on its way there).
const SCHED: usize = 1;
/// Scheduled again after the current poll began: poll once more.
const MISSED: usize = 2;
/// The owning core is inside `poll` / `complete`.
const POLLING: usize = 4;
/// Unregistered: never polled again.
const DEAD: usize = 8;
/// The driver instance has been taken out for dropping (exactly once).
const RELEASED: usize = 16;

/// What the core does with an instance after polling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterPoll {
    /// Keep it on the list (used its weight, or was scheduled meanwhile).
    Repoll,
    /// It left the list: call `complete`, then [`NapiState::release`].
    Complete,
    /// Unregistered meanwhile: drop it from the list.
    Dead,
}

/// `SCHED | MISSED | POLLING | DEAD` of one instance (linux: `napi->state`).
#[derive(Debug)]
pub(crate) struct NapiState(AtomicUsize);

impl NapiState {
    pub(crate) fn new() -> Self {
        NapiState(AtomicUsize::new(0))
    }

    fn update(&self, f: impl Fn(usize) -> Option<usize>) -> usize {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let Some(new) = f(cur) else { return cur };
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return cur,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Any thread. Returns `true` if the caller must put the instance on
    /// the core's poll list (`napi_schedule_prep`).
    pub(crate) fn schedule(&self) -> bool {
        let prev = self.update(|s| {
            if s & DEAD != 0 {
                None
            } else if s & SCHED == 0 {
                Some(s | SCHED)
            } else if s & MISSED == 0 {
                Some(s | MISSED)
            } else {
                None
            }
        });
        prev & (SCHED | DEAD) == 0
    }

    /// Core, before `poll`. `false` if the instance died: forget it.
    /// Schedules that arrived before this are covered by the coming poll,
    /// so `MISSED` is cleared here.
    pub(crate) fn begin_poll(&self) -> bool {
        let prev = self.update(|s| {
            Some(if s & DEAD != 0 {
                s & !(SCHED | MISSED)
            } else {
                (s | POLLING) & !MISSED
            })
        });
        prev & DEAD == 0
    }

    /// Core, after `poll` did `work` of `weight`.
    pub(crate) fn end_poll(&self, used_full_weight: bool) -> AfterPoll {
        let prev = self.update(|s| {
            Some(if s & DEAD != 0 {
                s & !(SCHED | MISSED | POLLING)
            } else if used_full_weight || s & MISSED != 0 {
                s & !(MISSED | POLLING)
            } else {
                // Leave the list but stay POLLING until `complete` ran.
                s & !SCHED
            })
        });
        if prev & DEAD != 0 {
            AfterPoll::Dead
        } else if used_full_weight || prev & MISSED != 0 {
            AfterPoll::Repoll
        } else {
            AfterPoll::Complete
        }
    }

    /// Core, after `complete` returned.
    pub(crate) fn release(&self) {
        self.0.fetch_and(!POLLING, Ordering::AcqRel);
    }

    /// Unregisters. Returns whether the core was inside `poll`/`complete`
    /// at that moment.
    pub(crate) fn kill(&self) -> bool {
        self.0.fetch_or(DEAD, Ordering::AcqRel) & POLLING != 0
    }

    /// After [`NapiState::kill`] and with `POLLING` clear: `true` for the
    /// one caller that may take the driver instance out.
    fn claim_release(&self) -> bool {
        self.0.fetch_or(RELEASED, Ordering::AcqRel) & RELEASED == 0
    }

    pub(crate) fn is_polling(&self) -> bool {
        self.0.load(Ordering::Acquire) & POLLING != 0
    }

    pub(crate) fn is_scheduled(&self) -> bool {
        self.0.load(Ordering::Acquire) & SCHED != 0
    }
}

// ---------------------------------------------------------------------------
// Registration.

/// One registered instance, shared by its handle, its wakers and (while
/// scheduled) its core's poll list.
pub(crate) struct NapiShared {
    pub(crate) state: NapiState,
    shared: Arc<Shared>,
    core: usize,
    /// Only touched by the owning core while it holds `POLLING`, or by
    /// [`NapiShared::unregister`] once `DEAD` is set, `POLLING` is clear
    /// and it won `RELEASED`.
    napi: UnsafeCell<Option<Box<dyn Napi>>>,
}

// SAFETY: `napi` is `Send`; access to it is exclusive by the POLLING
// protocol above (the core sets POLLING only with a CAS that fails once
// DEAD is set; `unregister` waits for POLLING to clear after setting DEAD,
// and only the winner of RELEASED touches it then). Everything else is
// atomic or immutable.
unsafe impl Sync for NapiShared {}
// SAFETY: `Box<dyn Napi>` is `Send` (the trait requires it); the rest is
// `Send + Sync`.
unsafe impl Send for NapiShared {}

impl NapiShared {
    /// Puts this instance on its core's poll list if not already there.
    fn schedule(self: &Arc<Self>) {
        if !self.state.schedule() {
            return;
        }
        let me = self.clone();
        let remote = context::with_core(move |core| match core {
            Some(core) if core.index == me.core && Arc::ptr_eq(&core.shared, &me.shared) => {
                core.push_napi(me);
                None
            }
            _ => Some(me),
        });
        if let Some(me) = remote {
            me.shared.cores[me.core].send(Msg::Napi(Arc::downgrade(&me)));
        }
    }

    /// Core, holding `POLLING`: runs `f` on the driver's instance.
    ///
    /// # Safety
    ///
    /// The caller is the owning core and [`NapiState::begin_poll`] returned
    /// `true` with no matching `release` (or `end_poll` returning `Repoll`
    /// or `Dead`) yet.
    pub(crate) unsafe fn with_napi<R>(&self, f: impl FnOnce(&mut dyn Napi) -> R) -> Option<R> {
        // SAFETY: POLLING is held by the caller, which excludes every other
        // access (see the field docs).
        let napi = unsafe { &mut *self.napi.get() };
        napi.as_deref_mut().map(f)
    }
}

impl Wake for NapiShared {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}

/// A registered [`Napi`] instance. Dropping it unregisters the instance:
/// once `drop` returns, the core never calls it again (if dropped from
/// inside its own `poll`, that poll is the last one). Runtime shutdown
/// unregisters every instance too (the handle then does nothing).
pub struct NapiHandle {
    inner: Arc<NapiShared>,
}

impl NapiHandle {
    /// Schedules the instance for polling on its core (`napi_schedule`).
    /// Callable from any thread; wakes the core if it sleeps; idempotent
    /// while the instance is scheduled and its poll has not begun.
    pub fn schedule(&self) {
        self.inner.schedule();
    }

    /// A waker whose wake schedules the instance: hand it to the device as
    /// its interrupt ("MSI-X vector").
    pub fn waker(&self) -> Waker {
        Waker::from(self.inner.clone())
    }

    /// The core that polls this instance.
    pub fn core(&self) -> usize {
        self.inner.core
    }

    /// Whether the instance is on (or on its way to) the poll list.
    pub fn is_scheduled(&self) -> bool {
        self.inner.state.is_scheduled()
    }
}

impl fmt::Debug for NapiHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NapiHandle")
            .field("core", &self.inner.core)
            .field("scheduled", &self.is_scheduled())
            .finish()
    }
}

impl Drop for NapiHandle {
    fn drop(&mut self) {
        self.inner.unregister();
    }
}

impl NapiShared {
    /// Marks the instance dead and drops the driver instance (unless
    /// called from inside that instance's own `poll`/`complete`; then it is
    /// dropped with the last reference). Used by `NapiHandle::drop` and by
    /// the core's shutdown.
    pub(crate) fn unregister(&self) {
        if self.state.kill() {
            let on_owner = context::with_core(|c| {
                c.is_some_and(|c| c.index == self.core && Arc::ptr_eq(&c.shared, &self.shared))
            });
            if on_owner {
                // Called from inside its own poll/complete: the core sees
                // DEAD when that call returns.
                return;
            }
            // Another thread is polling it right now: wait for that poll.
            while self.state.is_polling() {
                std::thread::yield_now();
            }
        }
        if self.state.claim_release() {
            // SAFETY: DEAD is set and POLLING is clear, so the core will
            // never touch `napi` again (begin_poll fails on DEAD) and is not
            // touching it now; RELEASED makes us the only other accessor.
            let napi = unsafe { (*self.napi.get()).take() };
            drop(napi);
        }
    }
}

/// Registers `napi` on core `core` of `shared`.
pub(crate) fn register_on(
    shared: &Arc<Shared>,
    core: usize,
    napi: Box<dyn Napi>,
) -> io::Result<NapiHandle> {
    if core >= shared.cores.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "core {core} out of range: the runtime has {} cores",
                shared.cores.len()
            ),
        ));
    }
    let inner = Arc::new(NapiShared {
        state: NapiState::new(),
        shared: shared.clone(),
        core,
        napi: UnsafeCell::new(Some(napi)),
    });
    if !shared.cores[core].add_napi(Arc::downgrade(&inner)) {
        return Err(io::Error::other("the netrt runtime has shut down"));
    }
    Ok(NapiHandle { inner })
}

/// Registers `napi` on core `core` of the current runtime (see
/// [`Handle::register_napi`](super::Handle::register_napi) to name a
/// runtime explicitly). The instance is polled only after it is scheduled.
///
/// Errors: `InvalidInput` if `core` is out of range, `Other` when called
/// outside a runtime or after it shut down.
pub fn register(core: usize, napi: Box<dyn Napi>) -> io::Result<NapiHandle> {
    let shared = context::current_shared().ok_or_else(super::not_in_runtime)?;
    register_on(&shared, core, napi)
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::atomic::AtomicBool;
    use crate::loom::{thread, Arc, Mutex};
    use std::collections::VecDeque;

    /// A device publishes work and schedules the instance while the core
    /// polls and completes it. However the two interleave, the work is
    /// consumed by some poll, the instance ends unscheduled, and every
    /// enqueue is matched by exactly one completion.
    #[test]
    fn schedule_racing_with_completion_is_not_lost() {
        loom::model(|| {
            let state = Arc::new(NapiState::new());
            let work = Arc::new(AtomicBool::new(false));
            let list = Arc::new(Mutex::new(VecDeque::new()));
            let enqueued = Arc::new(AtomicUsize::new(0));
            let enqueue = {
                let (state, list, enqueued) = (state.clone(), list.clone(), enqueued.clone());
                move || {
                    if state.schedule() {
                        enqueued.fetch_add(1, Ordering::Relaxed);
                        list.lock().unwrap().push_back(());
                    }
                }
            };
            // Initially scheduled (an earlier interrupt).
            enqueue();
            let device = {
                let (work, enqueue) = (work.clone(), enqueue.clone());
                thread::spawn(move || {
                    work.store(true, Ordering::Relaxed);
                    enqueue();
                })
            };
            let mut completions = 0;
            let poll_all = |completions: &mut usize| loop {
                let Some(()) = list.lock().unwrap().pop_front() else {
                    return;
                };
                assert!(state.begin_poll());
                work.store(false, Ordering::Relaxed); // the poll consumes it all
                match state.end_poll(false) {
                    AfterPoll::Repoll => list.lock().unwrap().push_back(()),
                    AfterPoll::Complete => {
                        *completions += 1;
                        state.release();
                    }
                    AfterPoll::Dead => unreachable!(),
                }
            };
            poll_all(&mut completions);
            device.join().unwrap();
            poll_all(&mut completions);
            assert!(!work.load(Ordering::Relaxed), "published work never polled");
            assert!(!state.is_scheduled());
            assert_eq!(completions, enqueued.load(Ordering::Relaxed));
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn state_machine_follows_linux_napi() {
        let s = NapiState::new();
        assert!(s.schedule(), "first schedule enqueues");
        assert!(!s.schedule(), "idempotent while scheduled");
        assert!(s.begin_poll());
        assert_eq!(s.end_poll(false), AfterPoll::Complete);
        assert!(!s.is_scheduled());
        assert!(s.is_polling(), "still POLLING until complete ran");
        s.release();
        assert!(!s.is_polling());

        // A schedule during the poll forces one more poll, no completion.
        assert!(s.schedule());
        assert!(s.begin_poll());
        assert!(!s.schedule());
        assert_eq!(s.end_poll(false), AfterPoll::Repoll);
        assert!(s.begin_poll());
        assert_eq!(s.end_poll(false), AfterPoll::Complete);
        s.release();

        // A schedule during `complete` enqueues again.
        assert!(s.schedule());
        assert!(s.begin_poll());
        assert_eq!(s.end_poll(false), AfterPoll::Complete);
        assert!(s.schedule());
        s.release();
        assert!(s.begin_poll());
        assert_eq!(s.end_poll(true), AfterPoll::Repoll, "full weight stays");
        assert!(s.is_scheduled());

        // Killed while polling: the poll's end reports Dead.
        assert!(s.begin_poll());
        assert!(s.kill());
        assert_eq!(s.end_poll(false), AfterPoll::Dead);
        assert!(!s.schedule(), "dead instances are never scheduled");
        assert!(!s.begin_poll());
        assert!(!s.is_scheduled());
    }
}
