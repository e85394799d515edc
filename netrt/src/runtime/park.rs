//! The park/unpark handshake between a core and the threads that send it
//! work.
//!
//! A core sleeps in `epoll_wait`; another thread wakes it by writing the
//! core's eventfd. That write is a system call, so it must happen only when
//! the core really sleeps (or is committed to sleeping), never while it is
//! busy or busy-polling. And no wake-up may be lost: work published while
//! the core decides to sleep must either be seen by the core before it
//! sleeps, or the eventfd must be written.
//!
//! [`Parker`] is the whole protocol as one word of state, so the loom model
//! below checks exactly the code the runtime runs. The rule for senders is
//! *publish, then [`Parker::notify`]*; the rule for the core is
//! [`Parker::prepare_park`], re-check for work, sleep, [`Parker::finish_park`].
//!
//! Why it is race-free: every transition is a read-modify-write of the same
//! word, so all of them are totally ordered. If a sender's `notify` comes
//! first, the core's `prepare_park` reads `NOTIFIED` (acquiring the sender's
//! publication) and does not sleep. If the core's `prepare_park` comes
//! first, the sender's `notify` reads `PARKED` and rings the eventfd. A
//! sender that finds `NOTIFIED` already set knows another notification is
//! pending that the core has not consumed yet; the core consumes it with an
//! acquiring swap that comes after this sender's release in the total order.

use crate::loom::atomic::{AtomicUsize, Ordering};

/// The core is running (busy, or spinning) and is not committed to sleep.
const RUNNING: usize = 0;
/// The core announced that it is going to sleep (or sleeps).
const PARKED: usize = 1;
/// Work was published since the core last looked.
const NOTIFIED: usize = 2;

/// One core's sleep state. See the module docs for the protocol.
#[derive(Debug)]
pub(crate) struct Parker {
    state: AtomicUsize,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(RUNNING),
        }
    }

    /// Core: announces the intent to sleep. Returns `false` (and consumes
    /// the notification) if work was published since the core last looked;
    /// the core must then not sleep. After `true` the core must re-check its
    /// queues, then sleep or not, then call [`Parker::finish_park`].
    pub(crate) fn prepare_park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: consume it (Acquire pairs with the sender's
                // Release, making the published work visible).
                self.state.swap(RUNNING, Ordering::AcqRel);
                false
            }
        }
    }

    /// Core: back from sleep (or decided not to sleep after
    /// `prepare_park`). Returns whether a sender notified meanwhile.
    pub(crate) fn finish_park(&self) -> bool {
        self.state.swap(RUNNING, Ordering::AcqRel) & NOTIFIED != 0
    }

    /// Core (busy-polling, without announcing sleep): consumes a pending
    /// notification. A cheap load first keeps the spin loop off the bus.
    pub(crate) fn take_notification(&self) -> bool {
        if self.state.load(Ordering::Relaxed) & NOTIFIED == 0 {
            return false;
        }
        self.state.swap(RUNNING, Ordering::AcqRel) & NOTIFIED != 0
    }

    /// Whether the core is asleep or committed to sleep (observability).
    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & PARKED != 0
    }

    /// Sender: call after publishing work for the core. Returns `true` if
    /// the core sleeps (or is committed to sleep) and this caller is the one
    /// that must ring its eventfd; at most one sender per sleep gets `true`.
    pub(crate) fn notify(&self) -> bool {
        self.state.fetch_or(NOTIFIED, Ordering::AcqRel) == PARKED
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn notify_while_running_skips_the_doorbell_and_cancels_the_park() {
        let p = Parker::new();
        assert!(!p.notify(), "a running core is never rung");
        assert!(!p.notify());
        assert!(!p.prepare_park(), "pending notification must prevent sleep");
        assert!(p.prepare_park(), "notification consumed");
        assert!(!p.finish_park());
    }

    #[test]
    fn exactly_one_sender_rings_a_parked_core() {
        let p = Parker::new();
        assert!(p.prepare_park());
        assert!(p.notify());
        assert!(!p.notify(), "second sender: doorbell already rung");
        assert!(p.finish_park());
        assert!(!p.take_notification());
        assert!(!p.notify());
        assert!(p.take_notification());
        assert!(!p.take_notification());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::atomic::AtomicBool;
    use crate::loom::{thread, Arc};
    use loom::sync::Notify;

    /// The core loop reduced to the handshake: look for work, otherwise
    /// prepare, re-check, sleep on the "eventfd" (a `Notify`, which like an
    /// eventfd remembers a ring that happens before the wait). If a wake-up
    /// were lost, the core would wait forever and loom reports a deadlock.
    /// Returns how many times the core committed to sleep.
    fn core_until(p: &Parker, doorbell: &Notify, works: &[Arc<AtomicBool>]) -> usize {
        let all_seen = || works.iter().all(|w| w.load(Ordering::Relaxed));
        let mut parks = 0;
        loop {
            if all_seen() {
                return parks;
            }
            if p.prepare_park() {
                parks += 1;
                if !all_seen() {
                    doorbell.wait();
                }
                p.finish_park();
            }
        }
    }

    fn sender(p: &Parker, doorbell: &Notify, work: &AtomicBool) -> bool {
        // Relaxed on purpose: the handshake alone must make it visible.
        work.store(true, Ordering::Relaxed);
        let ring = p.notify();
        if ring {
            doorbell.notify();
        }
        ring
    }

    #[test]
    fn remote_wake_racing_with_park_is_never_lost() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let doorbell = Arc::new(Notify::new());
            let work = Arc::new(AtomicBool::new(false));
            let t = {
                let (p, d, w) = (p.clone(), doorbell.clone(), work.clone());
                thread::spawn(move || {
                    sender(&p, &d, &w);
                })
            };
            core_until(&p, &doorbell, &[work]);
            t.join().unwrap();
        });
    }

    #[test]
    fn two_senders_ring_at_most_once_per_sleep_and_nothing_is_lost() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let doorbell = Arc::new(Notify::new());
            let works = [
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            ];
            let rings = Arc::new(crate::loom::atomic::AtomicUsize::new(0));
            let threads: Vec<_> = works
                .iter()
                .map(|w| {
                    let (p, d, w, r) = (p.clone(), doorbell.clone(), w.clone(), rings.clone());
                    thread::spawn(move || {
                        if sender(&p, &d, &w) {
                            r.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let parks = core_until(&p, &doorbell, &works);
            for t in threads {
                t.join().unwrap();
            }
            // A doorbell is rung only for a core committed to sleep, and at
            // most once per such commitment.
            assert!(rings.load(Ordering::Relaxed) <= parks);
        });
    }
}
