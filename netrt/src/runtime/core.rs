//! One core: its run queue, inbox, timer wheel, NAPI poll list and epoll
//! instance, and the loop that drives them.
//!
//! An iteration of [`Core::run`]:
//!
//! 1. drain the inbox (tasks and NAPI instances scheduled from elsewhere);
//! 2. one NAPI round (`net_rx_action`: weight 64, budget 300 or 2 ms);
//! 3. fire expired timers;
//! 4. run up to [`TASK_BATCH`] ready tasks, so that a flood of tasks
//!    cannot starve the network or the timers, then the work they left
//!    for the end of the batch (the stack's deferred transmits, see
//!    [`batch`](super::batch));
//! 5. every [`IO_POLL_INTERVAL`] iterations, collect fd readiness without
//!    blocking (only if fds are registered);
//! 6. if the iteration found nothing to do: optionally busy-poll, then
//!    park in `epoll_wait` with the next timer deadline as timeout, using
//!    the [`Parker`](super::park::Parker) handshake so that no wake-up is
//!    lost and a running core is never woken by a system call.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::batch;
use super::io::IoDriver;
use super::napi::{AfterPoll, NapiShared, ROUND_BUDGET, ROUND_TIME, WEIGHT};
use super::shared::{Counters, Msg, Remote, Shared};
use super::slab::Slab;
use super::task::{Meta, Runnable};
use crate::sync::mpsc::Receiver;
use crate::time::wheel::Wheel;

/// Tasks run per iteration before the core looks at the network again.
pub(crate) const TASK_BATCH: usize = 128;
/// Inbox messages moved per iteration.
const INBOX_BATCH: usize = 1024;
/// Iterations between non-blocking fd polls while the core is busy.
const IO_POLL_INTERVAL: u32 = 61;
/// Events collected per `epoll_wait`.
const EVENTS: usize = 256;
/// Busy-poll iterations between looks at the clock, timers and fds.
const SPIN_CHECK_EVERY: u32 = 64;

/// What a core thread needs besides the shared state; made by
/// `Builder::build` so that set-up errors surface there.
pub(crate) struct CoreParts {
    pub(crate) inbox: Receiver<Msg>,
    pub(crate) io: Arc<IoDriver>,
}

/// The state only the core's own thread touches.
pub(crate) struct Core {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<Runnable>>,
    inbox: RefCell<Receiver<Msg>>,
    pub(crate) timers: RefCell<Wheel>,
    napi_list: RefCell<VecDeque<Arc<NapiShared>>>,
    pub(crate) io: Arc<IoDriver>,
    /// Tasks that went idle at least once (see `task.rs`), for shutdown.
    tasks: RefCell<Slab<NonNull<Meta>>>,
    closing: Cell<bool>,
    events: RefCell<Vec<libc::epoll_event>>,
    /// Scratch for wakers collected under a borrow and called after it.
    wakers: RefCell<Vec<Waker>>,
}

impl Core {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, parts: CoreParts) -> Core {
        Core {
            index,
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(1024)),
            inbox: RefCell::new(parts.inbox),
            timers: RefCell::new(Wheel::new(Instant::now())),
            napi_list: RefCell::new(VecDeque::new()),
            io: parts.io,
            tasks: RefCell::new(Slab::new()),
            closing: Cell::new(false),
            events: RefCell::new(Vec::with_capacity(EVENTS)),
            wakers: RefCell::new(Vec::new()),
        }
    }

    fn remote(&self) -> &Remote {
        &self.shared.cores[self.index]
    }

    /// Whether the task described by `meta` belongs to this core.
    pub(crate) fn owns(&self, meta: &Meta) -> bool {
        meta.core == self.index && Arc::ptr_eq(&meta.shared, &self.shared)
    }

    pub(crate) fn push_local(&self, runnable: Runnable) {
        self.run_queue.borrow_mut().push_back(runnable);
    }

    pub(crate) fn push_napi(&self, napi: Arc<NapiShared>) {
        self.napi_list.borrow_mut().push_back(napi);
    }

    pub(crate) fn register_task(&self, meta: NonNull<Meta>) -> usize {
        self.tasks.borrow_mut().insert(meta)
    }

    pub(crate) fn unregister_task(&self, slot: usize) {
        self.tasks.borrow_mut().remove(slot);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Runs the loop until `done()` or runtime shutdown.
    pub(crate) fn run(&self, done: &dyn Fn() -> bool) {
        let mut iteration: u32 = 0;
        while !done() && !self.shared.is_shutdown() {
            iteration = iteration.wrapping_add(1);
            let mut busy = self.drain_inbox();
            busy |= self.poll_napi();
            busy |= self.fire_timers();
            busy |= self.run_tasks();
            if iteration.is_multiple_of(IO_POLL_INTERVAL) && self.io.has_registrations() {
                busy |= self.poll_io(Some(Duration::ZERO)) > 0;
            }
            if !busy && !done() {
                self.idle();
            }
        }
    }

    fn drain_inbox(&self) -> bool {
        let mut n = 0;
        while n < INBOX_BATCH {
            let Some(msg) = self.inbox.borrow_mut().pop() else {
                break;
            };
            n += 1;
            match msg {
                Msg::Task(runnable) => self.push_local(runnable),
                Msg::Napi(napi) => {
                    if let Some(napi) = napi.upgrade() {
                        self.push_napi(napi);
                    }
                }
            }
        }
        n > 0
    }

    /// One NAPI round (linux: `net_rx_action`).
    fn poll_napi(&self) -> bool {
        if self.napi_list.borrow().is_empty() {
            return false;
        }
        let start = Instant::now();
        let mut budget = ROUND_BUDGET as isize;
        let mut polls = 0;
        loop {
            let Some(napi) = self.napi_list.borrow_mut().pop_front() else {
                break;
            };
            if !napi.state.begin_poll() {
                continue; // unregistered while on the list
            }
            polls += 1;
            // SAFETY (both calls): we are the owning core and hold POLLING
            // from `begin_poll` until `end_poll`/`release`.
            let polled = catch_unwind(AssertUnwindSafe(|| unsafe {
                napi.with_napi(|n| n.poll(WEIGHT))
            }));
            let Ok(work) = polled else {
                // A panicking driver is unregistered; the core goes on.
                napi.state.kill();
                napi.state.end_poll(false);
                continue;
            };
            let work = work.unwrap_or(0).min(WEIGHT);
            budget -= work as isize;
            match napi.state.end_poll(work == WEIGHT) {
                AfterPoll::Repoll => self.push_napi(napi),
                AfterPoll::Complete => {
                    // SAFETY: see above; POLLING is released right after.
                    let completed = catch_unwind(AssertUnwindSafe(|| unsafe {
                        napi.with_napi(|n| n.complete())
                    }));
                    if completed.is_err() {
                        napi.state.kill();
                    }
                    napi.state.release();
                }
                AfterPoll::Dead => {}
            }
            if budget <= 0 || start.elapsed() >= ROUND_TIME {
                break;
            }
        }
        Counters::bump(&self.remote().stats.napi_polls, polls);
        polls > 0
    }

    fn fire_timers(&self) -> bool {
        let Some(next) = self.timers.borrow().next_deadline() else {
            return false;
        };
        let now = Instant::now();
        if next > now {
            return false;
        }
        let mut wakers = self.wakers.take();
        self.timers
            .borrow_mut()
            .advance(now, |waker| wakers.push(waker));
        let fired = !wakers.is_empty();
        wakers.drain(..).for_each(Waker::wake);
        self.wakers.replace(wakers);
        fired
    }

    fn pop_task(&self) -> Option<Runnable> {
        self.run_queue.borrow_mut().pop_front()
    }

    /// Runs up to [`TASK_BATCH`] tasks inside an end-of-batch scope
    /// ([`batch`]): work they defer (transmits) is done once, right after
    /// the batch, before the core looks at the network or parks.
    fn run_tasks(&self) -> bool {
        let batching = self.shared.config.tx_batching;
        if batching {
            batch::open();
        }
        let mut n = 0;
        while n < TASK_BATCH {
            let Some(runnable) = self.pop_task() else {
                break;
            };
            n += 1;
            // Panics in polls are caught by the task wrapper; one that gets
            // here came from dropping a finished future. The task is already
            // closed by then; keep the core alive.
            let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
        }
        if batching {
            // Task panics were caught above, so this always runs. The
            // deferred work is driver code; like a NAPI poll, a panic in it
            // must not take the core down.
            let _ = catch_unwind(batch::close);
        }
        if n > 0 {
            Counters::bump(&self.remote().stats.polls, n as u64);
        }
        n > 0
    }

    /// Nothing to do: spin if configured, then sleep.
    fn idle(&self) {
        if !self.shared.config.busy_poll.is_zero() && self.spin() {
            return;
        }
        let remote = self.remote();
        let parker = remote.parker();
        if !parker.prepare_park() {
            return;
        }
        // Re-check after announcing the park: anything published before a
        // sender's notify is visible now, or that sender rings the doorbell.
        if self.has_work() {
            parker.finish_park();
            return;
        }
        let timeout = self
            .timers
            .borrow()
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        Counters::bump(&remote.stats.parks, 1);
        self.poll_io(timeout);
        parker.finish_park();
    }

    fn has_work(&self) -> bool {
        !self.run_queue.borrow().is_empty()
            || !self.napi_list.borrow().is_empty()
            || !self.inbox.borrow().is_empty()
            || self.shared.is_shutdown()
    }

    /// Busy-polls for up to the configured time; `true` if work showed up.
    /// Senders only set a flag while the core spins (no system call).
    fn spin(&self) -> bool {
        let deadline = Instant::now() + self.shared.config.busy_poll;
        let parker = self.remote().parker();
        let mut i: u32 = 0;
        loop {
            if parker.take_notification()
                || !self.inbox.borrow().is_empty()
                || self.shared.is_shutdown()
            {
                return true;
            }
            i = i.wrapping_add(1);
            if i.is_multiple_of(SPIN_CHECK_EVERY) {
                let now = Instant::now();
                if self
                    .timers
                    .borrow()
                    .next_deadline()
                    .is_some_and(|d| d <= now)
                {
                    return true;
                }
                if self.io.has_registrations() && self.poll_io(Some(Duration::ZERO)) > 0 {
                    return true;
                }
                if now >= deadline {
                    return false;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// One `epoll_wait`: resets the doorbell if it rang and wakes the tasks
    /// waiting for ready fds. Returns the number of fd events.
    fn poll_io(&self, timeout: Option<Duration>) -> usize {
        let mut events = self.events.borrow_mut();
        // EINTR is reported as no events; other errors cannot happen on a
        // valid epoll fd with a valid buffer, and retrying is harmless.
        match self.io.epoll().wait(&mut events, timeout) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        // The doorbell (edge-triggered, see `EventFd::ring`) needs no
        // handling: waking up was its whole job.
        let mut wakers = self.wakers.take();
        let n = self.io.dispatch(&events, &mut wakers);
        drop(events);
        wakers.drain(..).for_each(Waker::wake);
        self.wakers.replace(wakers);
        if n > 0 {
            Counters::bump(&self.remote().stats.io_events, n as u64);
        }
        n
    }

    /// Stops the core: no new tasks are accepted, every task of this core
    /// is dropped here (so `!Send` futures die on their thread), then the
    /// NAPI instances are unregistered (drivers dropped), fd registrations
    /// fail and the timers go.
    pub(crate) fn shutdown(&self) {
        self.closing.set(true);
        let remote = self.remote();
        remote.close();
        // Idle tasks are woken so that their `Runnable` comes to us; the
        // others are queued here already or on their way (in flight).
        let idle: Vec<Waker> = self
            .tasks
            .borrow()
            .iter()
            // SAFETY: registry entries point into the headers of tasks
            // whose future is alive (the future's guard removes its entry).
            .filter_map(|(_, meta)| unsafe { meta.as_ref() }.take_idle_waker())
            .collect();
        idle.into_iter().for_each(Waker::wake);
        loop {
            // Read before draining: a spawn that was in flight has finished
            // its push when the count drops, so the drain below sees it.
            let no_spawns_in_flight = remote.spawns_in_flight() == 0;
            let mut progressed = false;
            while let Some(runnable) = self.pop_task() {
                drop(runnable); // drops the future without polling it
                progressed = true;
            }
            loop {
                let Some(msg) = self.inbox.borrow_mut().pop() else {
                    break;
                };
                drop(msg);
                progressed = true;
            }
            // Never-polled tasks were queued (dropped above) or are counted
            // in flight; every other live task is in the registry.
            if no_spawns_in_flight
                && self.tasks.borrow().is_empty()
                && self.run_queue.borrow().is_empty()
                && self.inbox.borrow().is_empty()
            {
                break;
            }
            if !progressed {
                // A wake-up or spawn is between its state change and its
                // push into our inbox.
                std::thread::yield_now();
            }
        }
        let scheduled = std::mem::take(&mut *self.napi_list.borrow_mut());
        drop(scheduled);
        // Registrations die with the core; their handles become inert.
        for napi in remote.take_napis().iter().filter_map(Weak::upgrade) {
            napi.unregister();
        }
        let mut wakers = Vec::new();
        self.io.shut_down(&mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        let timers = self.timers.replace(Wheel::new(Instant::now()));
        drop(timers);
    }
}
