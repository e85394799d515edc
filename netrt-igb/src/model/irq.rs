//! Extended interrupts: causes (`EICR`), masks (`EIMS`/`EIMC`), auto-clear
//! (`EIAC`), auto-mask (`EIAM` with `GPIE.EIAME`), throttling (`EITR`) and
//! the MSI-X "message": waking the waker registered for the vector.
//!
//! A cause raised for vector `v` sets `EICR[v]`; if `EIMS[v]` is set the
//! vector fires, unless it fired less than its `EITR` interval ago. A
//! throttled firing is *deferred*: the cause stays pending and a timer
//! thread (started on the first non-zero `EITR` write, sleeping otherwise)
//! fires it when the interval ends — or a later cause does, whichever comes
//! first. Firing applies `EIAC` (clears the vector's cause bits) and, with
//! `GPIE.EIAME`, `EIAM` (masks the vector: one wake per NAPI cycle until
//! the driver writes `EIMS` again), then wakes the waker.
//!
//! In MSI-X mode (`GPIE.MSIX_MODE`) `EICR` bit `v` is vector `v`, and queue
//! causes reach vectors through `IVAR`. Without it, queue `n`'s cause is
//! `EICR` bit `n` and every cause fires vector 0's waker.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::loom::atomic::{AtomicU32 as LoomU32, Ordering as LoomOrdering};
use crate::regs::{eitr, gpie};

/// `EICR` has 32 bits; the 82576 uses 25 MSI-X vectors.
pub(crate) const VECTORS: usize = 32;

#[derive(Default)]
struct Vector {
    waker: Mutex<Option<Waker>>,
    eitr: AtomicU32,
    interval_ns: AtomicU64,
    /// Nanoseconds since the model's epoch of the last firing.
    last_fire_ns: AtomicU64,
    fired: AtomicU64,
}

#[derive(Default)]
struct TimerState {
    deadline: Option<Instant>,
    shutdown: bool,
}

/// The deferred-interrupt timer: one thread per device, parked until a
/// throttled vector needs firing.
#[derive(Default)]
struct Timer {
    state: Mutex<TimerState>,
    wake: Condvar,
}

impl Timer {
    fn arm(&self, at: Instant) {
        let mut st = self.state.lock();
        if st.deadline.is_none_or(|d| at < d) {
            st.deadline = Some(at);
            self.wake.notify_one();
        }
    }

    fn run(&self, irq: &Weak<Interrupts>) {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return;
            }
            match st.deadline {
                None => self.wake.wait(&mut st),
                Some(d) if d > Instant::now() => {
                    self.wake.wait_until(&mut st, d);
                }
                Some(_) => {
                    st.deadline = None;
                    let Some(irq) = irq.upgrade() else { return };
                    parking_lot::MutexGuard::unlocked(&mut st, || irq.fire_deferred());
                }
            }
        }
    }
}

/// `EICR`, `EIMS`, `EIAC`, `EIAM` and `GPIE`: the lock-free heart of
/// interrupt delivery, shared by every thread that raises causes and the
/// driver that masks and unmasks.
///
/// The guarantee (checked by the loom models below): a cause that is set
/// while its vector is unmasked, or unmasked while set, is claimed by
/// exactly one firing when auto-mask is on, and by at least one otherwise.
/// Raising (set cause, then read mask) and unmasking (set mask, then read
/// cause) form the store-buffer pattern, where plain loads may both see
/// the old value and lose the interrupt. So every access on that path is
/// a read-modify-write (`AcqRel`): RMWs on one location read the latest
/// value in its modification order, and whichever side comes second
/// synchronises with the first and sees its store. That costs a few locked
/// instructions per burst (raises are per burst), not per frame.
pub(crate) struct Causes {
    eicr: LoomU32,
    eims: LoomU32,
    eiac: LoomU32,
    eiam: LoomU32,
    gpie: LoomU32,
}

impl Causes {
    pub fn new() -> Self {
        Causes {
            eicr: LoomU32::new(0),
            eims: LoomU32::new(0),
            eiac: LoomU32::new(0),
            eiam: LoomU32::new(0),
            gpie: LoomU32::new(0),
        }
    }

    fn reset(&self) {
        for r in [&self.eicr, &self.eims, &self.eiac, &self.eiam, &self.gpie] {
            r.store(0, LoomOrdering::Release);
        }
    }

    /// Sets cause bits.
    #[inline]
    pub fn set(&self, bits: u32) {
        self.eicr.fetch_or(bits, LoomOrdering::AcqRel);
    }

    /// The bits of `candidates` that are pending and unmasked (read with
    /// RMWs; see the type's documentation).
    #[inline]
    pub fn pending(&self, candidates: u32) -> u32 {
        candidates
            & self.eicr.fetch_or(0, LoomOrdering::AcqRel)
            & self.eims.fetch_or(0, LoomOrdering::AcqRel)
    }

    /// Takes the right to fire vector bit `bit`: applies auto-mask (false
    /// when another thread masked it first) and auto-clear.
    pub fn claim(&self, bit: u32) -> bool {
        if self.gpie.load(LoomOrdering::Relaxed) & gpie::EIAME != 0
            && self.eiam.load(LoomOrdering::Relaxed) & bit != 0
            && self.eims.fetch_and(!bit, LoomOrdering::AcqRel) & bit == 0
        {
            return false;
        }
        let clear = self.eiac.load(LoomOrdering::Relaxed) & bit;
        if clear != 0 {
            self.eicr.fetch_and(!clear, LoomOrdering::AcqRel);
        }
        true
    }

    pub fn unmask(&self, bits: u32) {
        self.eims.fetch_or(bits, LoomOrdering::AcqRel);
    }

    pub fn mask(&self, bits: u32) {
        self.eims.fetch_and(!bits, LoomOrdering::AcqRel);
    }

    pub fn take_eicr(&self) -> u32 {
        self.eicr.swap(0, LoomOrdering::AcqRel)
    }

    pub fn clear_eicr(&self, bits: u32) {
        self.eicr.fetch_and(!bits, LoomOrdering::AcqRel);
    }

    pub fn eims(&self) -> u32 {
        self.eims.load(LoomOrdering::Acquire)
    }

    pub fn gpie(&self) -> u32 {
        self.gpie.load(LoomOrdering::Acquire)
    }
}

pub(crate) struct Interrupts {
    causes: Causes,
    /// Vectors whose firing was deferred by throttling.
    deferred: AtomicU32,
    vectors: Box<[Vector]>,
    epoch: Instant,
    timer: Mutex<Option<Arc<Timer>>>,
    me: Weak<Interrupts>,
}

impl Interrupts {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Interrupts {
            causes: Causes::new(),
            deferred: AtomicU32::new(0),
            vectors: (0..VECTORS).map(|_| Vector::default()).collect(),
            epoch: Instant::now(),
            timer: Mutex::new(None),
            me: me.clone(),
        })
    }

    /// Register state back to power-on values (wakers and the timer stay).
    pub fn reset(&self) {
        self.causes.reset();
        self.deferred.store(0, Ordering::Release);
        for v in self.vectors.iter() {
            v.eitr.store(0, Ordering::Relaxed);
            v.interval_ns.store(0, Ordering::Relaxed);
        }
    }

    pub fn msix_mode(&self) -> bool {
        self.causes.gpie() & gpie::MSIX_MODE != 0
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Sets cause bits and fires whatever they unmask.
    #[inline]
    pub fn raise(&self, bits: u32) {
        if bits == 0 {
            return;
        }
        self.causes.set(bits);
        self.signal(bits);
    }

    /// Fires every vector in `candidates` that has a pending, unmasked
    /// cause.
    fn signal(&self, candidates: u32) {
        let mut pending = self.causes.pending(candidates);
        while pending != 0 {
            let v = pending.trailing_zeros();
            pending &= pending - 1;
            self.fire(v);
        }
    }

    /// Sends vector `v`'s message unless throttled.
    fn fire(&self, v: u32) {
        let bit = 1u32 << v;
        // Without MSI-X every cause shares vector 0 (its waker and EITR).
        let slot = if self.msix_mode() { v as usize } else { 0 };
        let Some(vec) = self.vectors.get(slot) else {
            return;
        };
        let interval = vec.interval_ns.load(Ordering::Relaxed);
        let mut now = 0;
        if interval != 0 {
            now = self.now_ns();
            let next = vec
                .last_fire_ns
                .load(Ordering::Relaxed)
                .saturating_add(interval);
            if vec.fired.load(Ordering::Relaxed) != 0 && now < next {
                if self.deferred.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
                    self.arm_timer(next);
                }
                return;
            }
        }
        if !self.causes.claim(bit) {
            // Another thread fired (and masked) it first.
            return;
        }
        if interval != 0 {
            vec.last_fire_ns.store(now, Ordering::Relaxed);
            if self.deferred.load(Ordering::Relaxed) & bit != 0 {
                // Fired by a new cause before the timer: nothing deferred.
                self.deferred.fetch_and(!bit, Ordering::AcqRel);
            }
        }
        vec.fired.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = vec.waker.lock().as_ref() {
            w.wake_by_ref();
        }
    }

    fn arm_timer(&self, at_ns: u64) {
        // Without a timer (it could not be started) the deferred firing
        // happens at the next cause or EIMS write instead.
        let timer = self.timer.lock().clone();
        if let Some(t) = timer {
            t.arm(self.epoch + Duration::from_nanos(at_ns));
        }
    }

    fn fire_deferred(&self) {
        let bits = self.deferred.swap(0, Ordering::AcqRel);
        self.signal(bits);
    }

    fn ensure_timer(&self) {
        let mut slot = self.timer.lock();
        if slot.is_some() {
            return;
        }
        let timer = Arc::new(Timer::default());
        let me = self.me.clone();
        let t = Arc::clone(&timer);
        // A spawn failure leaves throttled interrupts to the next event.
        if thread::Builder::new()
            .name("igb-itr".into())
            .spawn(move || t.run(&me))
            .is_ok()
        {
            *slot = Some(timer);
        }
    }

    // ---- register interface -------------------------------------------

    /// `EICR` read: returns and clears the causes.
    pub fn read_eicr(&self) -> u32 {
        self.causes.take_eicr()
    }

    /// `EICR` write: write 1 to clear.
    pub fn write_eicr(&self, value: u32) {
        self.causes.clear_eicr(value);
    }

    /// `EICS` write: raise causes by software.
    pub fn write_eics(&self, value: u32) {
        self.raise(value);
    }

    /// `EIMS` write: unmask, firing causes that were pending.
    pub fn write_eims(&self, value: u32) {
        self.causes.unmask(value);
        self.signal(value);
    }

    /// `EIMC` write: mask.
    pub fn write_eimc(&self, value: u32) {
        self.causes.mask(value);
    }

    pub fn eims(&self) -> u32 {
        self.causes.eims()
    }

    pub fn set_eiac(&self, v: u32) {
        self.causes.eiac.store(v, LoomOrdering::Release);
    }
    pub fn eiac(&self) -> u32 {
        self.causes.eiac.load(LoomOrdering::Acquire)
    }
    pub fn set_eiam(&self, v: u32) {
        self.causes.eiam.store(v, LoomOrdering::Release);
    }
    pub fn eiam(&self) -> u32 {
        self.causes.eiam.load(LoomOrdering::Acquire)
    }
    pub fn set_gpie(&self, v: u32) {
        self.causes.gpie.store(v, LoomOrdering::Release);
    }
    pub fn gpie(&self) -> u32 {
        self.causes.gpie()
    }

    /// `EITR(v)` write: the throttling interval (bits 14:2, in µs).
    pub fn write_eitr(&self, v: usize, value: u32) {
        let Some(vec) = self.vectors.get(v) else {
            return;
        };
        vec.eitr.store(value, Ordering::Relaxed);
        let us = u64::from(eitr::interval_us(value));
        vec.interval_ns.store(us * 1000, Ordering::Relaxed);
        if us != 0 {
            self.ensure_timer();
        }
    }

    pub fn read_eitr(&self, v: usize) -> u32 {
        self.vectors
            .get(v)
            .map_or(0, |vec| vec.eitr.load(Ordering::Relaxed))
    }

    pub fn set_waker(&self, v: usize, waker: Option<Waker>) {
        if let Some(vec) = self.vectors.get(v) {
            *vec.waker.lock() = waker;
        }
    }

    /// How many times vector `v` has fired.
    pub fn fired(&self, v: usize) -> u64 {
        self.vectors
            .get(v)
            .map_or(0, |vec| vec.fired.load(Ordering::Relaxed))
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Some(t) = self.timer.get_mut().take() {
            t.state.lock().shutdown = true;
            t.wake.notify_one();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::atomic::AtomicUsize;
    use crate::loom::{thread, Arc};

    /// What a raising thread and the unmasking driver both do after their
    /// store: look for pending, unmasked causes and claim them.
    fn signal(c: &Causes, fired: &AtomicUsize) {
        if c.pending(1) & 1 != 0 && c.claim(1) {
            fired.fetch_add(1, LoomOrdering::SeqCst);
        }
    }

    fn causes(auto_mask: bool) -> Causes {
        let c = Causes::new();
        let g = gpie::MSIX_MODE | if auto_mask { gpie::EIAME } else { 0 };
        c.gpie.store(g, LoomOrdering::SeqCst);
        c.eiac.store(1, LoomOrdering::SeqCst);
        c.eiam.store(1, LoomOrdering::SeqCst);
        c
    }

    /// Two device threads raise the cause while the driver unmasks: with
    /// auto-mask the vector fires exactly once, and ends masked.
    #[test]
    fn unmask_racing_two_raisers_fires_exactly_once() {
        loom::model(|| {
            let c = Arc::new(causes(true));
            let fired = Arc::new(AtomicUsize::new(0));
            let raisers: Vec<_> = (0..2)
                .map(|_| {
                    let (c, fired) = (c.clone(), fired.clone());
                    thread::spawn(move || {
                        c.set(1);
                        signal(&c, &fired);
                    })
                })
                .collect();
            c.unmask(1);
            signal(&c, &fired);
            for r in raisers {
                r.join().unwrap();
            }
            assert_eq!(fired.load(LoomOrdering::SeqCst), 1);
            assert_eq!(c.eims() & 1, 0, "auto-masked after firing");
        });
    }

    /// Without auto-mask a raise racing the unmask is never lost: it fires
    /// at least once, and the cause never stays pending on an unmasked
    /// vector without a firing.
    #[test]
    fn unmask_racing_raise_is_never_lost() {
        loom::model(|| {
            let c = Arc::new(causes(false));
            let fired = Arc::new(AtomicUsize::new(0));
            let raiser = {
                let (c, fired) = (c.clone(), fired.clone());
                thread::spawn(move || {
                    c.set(1);
                    signal(&c, &fired);
                })
            };
            c.unmask(1);
            signal(&c, &fired);
            raiser.join().unwrap();
            let n = fired.load(LoomOrdering::SeqCst);
            assert!((1..=2).contains(&n), "fired {n} times");
        });
    }
}
