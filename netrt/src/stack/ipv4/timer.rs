//! The namespace's IPv4 timer task: ARP retransmits, neighbour aging and
//! reassembly timeouts.
//!
//! The neighbour tables and the reassembler only say when they next need
//! attention ([`NeighTable::next_deadline`], [`Reassembler::next_deadline`]);
//! one task per namespace sleeps until the earliest of those, runs the due
//! work and sleeps again. It is started on demand by `kick` (from
//! whichever core first needs a timer) and ends when nothing is pending,
//! or when the namespace is dropped (it holds only a `Weak`).
//! // linux: neigh_timer_handler, ip_expire (per-object kernel timers)
//!
//! [`NeighTable::next_deadline`]: crate::stack::neigh::NeighTable::next_deadline
//! [`Reassembler::next_deadline`]: crate::stack::reasm::Reassembler::next_deadline

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;

use crate::stack::arp;
use crate::stack::ns::NsInner;
use crate::time::{sleep_until, Sleep};

/// Shared between the namespace and its timer task.
#[derive(Debug, Default)]
pub(crate) struct TimerState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// A task is running (or about to).
    running: bool,
    /// A deadline earlier than `armed` was added since the task last
    /// looked: it must recompute before sleeping on.
    kicked: bool,
    /// When the task's current sleep ends.
    armed: Option<Instant>,
    /// Wakes the sleeping task.
    waker: Option<Waker>,
    /// The namespace is gone.
    shut: bool,
}

impl TimerState {
    /// Whether a timer task is running for the namespace.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_running(&self) -> bool {
        self.inner.lock().running
    }

    /// Wakes the task so it notices the namespace is gone.
    pub(crate) fn shutdown(&self) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.shut = true;
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Something in `ns` needs attention at `deadline`: make sure the timer
/// task runs and wakes by then. Cheap when the task already sleeps less
/// long (one uncontended lock; only called on slow paths).
///
/// Outside a runtime (namespaces being set up before one starts) no task
/// can be spawned; the next kick from inside a runtime starts it.
pub(crate) fn kick(ns: &NsInner, deadline: Instant) {
    let state = &ns.ip.timer;
    let waker = {
        let mut inner = state.inner.lock();
        if inner.running {
            if inner.armed.is_none_or(|armed| deadline < armed) {
                inner.kicked = true;
                inner.waker.take()
            } else {
                None
            }
        } else {
            let Some(weak) = ns.ip.this.get() else {
                return;
            };
            if crate::runtime::context::spawn_target().is_none() {
                return;
            }
            inner.running = true;
            inner.kicked = false;
            inner.armed = None;
            drop(inner);
            crate::spawn(run(weak.clone(), state.clone()));
            return;
        }
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// The task: run what is due, sleep until the next deadline, repeat.
async fn run(ns: Weak<NsInner>, state: Arc<TimerState>) {
    loop {
        let next = {
            let Some(ns) = ns.upgrade() else {
                state.inner.lock().running = false;
                return;
            };
            run_due(&ns, Instant::now())
        };
        {
            let mut inner = state.inner.lock();
            if inner.shut {
                inner.running = false;
                return;
            }
            if std::mem::take(&mut inner.kicked) {
                // Work was added while we ran: look again before sleeping.
                continue;
            }
            match next {
                Some(at) => inner.armed = Some(at),
                None => {
                    inner.running = false;
                    inner.armed = None;
                    return;
                }
            }
        }
        if let Some(at) = next {
            SleepOrKick {
                sleep: sleep_until(at),
                state: &state,
            }
            .await;
        }
    }
}

/// Runs every due timer of `ns`; returns the next deadline.
fn run_due(ns: &NsInner, now: Instant) -> Option<Instant> {
    let neigh = arp::run_timers(ns, now);
    let reasm = super::input::run_reasm_timers(ns, now);
    match (neigh, reasm) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sleeps until the deadline, or until [`kick`] (or shutdown) says to
/// look again.
struct SleepOrKick<'a> {
    sleep: Sleep,
    state: &'a TimerState,
}

impl Future for SleepOrKick<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut inner = self.state.inner.lock();
            if inner.kicked || inner.shut {
                return Poll::Ready(());
            }
            // Registered under the lock that `kick` takes: no lost wake-up.
            match &mut inner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        Pin::new(&mut self.sleep).poll(cx)
    }
}
