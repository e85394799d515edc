//! Bounded lock-free multi-producer single-consumer ring.
//!
//! Used where a producer must be told "full" instead of growing memory: the
//! per-core RPS backlog (linux: `enqueue_to_backlog` dropping past
//! `netdev_max_backlog`). It never allocates after construction.
//!
//! # Algorithm
//!
//! Vyukov's bounded queue, with one consumer. Each slot carries a *stamp*
//! telling which position it is ready for:
//!
//! * `stamp == pos`: free for the producer that claims position `pos`;
//! * `stamp == pos + 1`: holds the value of position `pos`, ready to pop;
//! * after the pop, `stamp` becomes the same slot's position one lap later.
//!
//! Producers claim a position with a CAS on `tail`, write the value, then
//! publish it by storing the stamp (Release). The consumer reads the slot at
//! `head` when its stamp says "ready", so it never needs a CAS.
//!
//! Positions are `lap | index` with `index < cap` and `lap` a multiple of
//! `one_lap = (cap + 1).next_power_of_two()`. This keeps the capacity exact
//! (any `cap`, not just powers of two) while positions wrap around `usize`
//! cleanly, because `one_lap` divides 2^N.
//!
//! # Visibility guarantee
//!
//! As with [`super::mpsc`], a claimed-but-unpublished slot at `head` makes
//! `pop` return `None` while `is_empty` already reports `false`; the
//! consumer must retry rather than park. A push that returned `Ok` before
//! the consumer's `is_empty` (happens-before) is always observed.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use super::{spin_hint, CachePadded};
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::{Arc, UnsafeCell};

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Inner<T> {
    /// Next position to claim (producers).
    tail: CachePadded<AtomicUsize>,
    /// Next position to pop. Written only by the consumer; read by
    /// producers to tell "full" apart from "slot still being drained".
    head: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    cap: usize,
    one_lap: usize,
}

// SAFETY: values move between threads (`T: Send`); each slot's value is
// accessed by exactly one side at a time, handed over by its stamp with
// Release/Acquire, so no `&T` is ever shared (`Sync` needs no `T: Sync`).
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// The position after `pos`: next index, or index 0 of the next lap.
    #[inline]
    fn next_pos(&self, pos: usize) -> usize {
        let index = pos & (self.one_lap - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & (self.one_lap - 1)]
    }

    /// Number of items between `head` and `tail` (at most `cap`).
    fn distance(&self, head: usize, tail: usize) -> usize {
        let mask = self.one_lap - 1;
        let (hi, ti) = (head & mask, tail & mask);
        if hi < ti {
            ti - hi
        } else if hi > ti {
            self.cap - hi + ti
        } else if head == tail {
            0
        } else {
            self.cap
        }
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // Only a snapshot where tail did not move while we read head is
            // consistent (head can never pass a stable tail).
            if self.tail.load(Ordering::SeqCst) == tail {
                return self.distance(head, tail);
            }
        }
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // All handles are gone, so every claimed slot has been published
        // (a push completes before its sender can be dropped).
        let tail = self.tail.load(Ordering::Relaxed);
        let mut pos = self.head.load(Ordering::Relaxed);
        while pos != tail {
            let slot = self.slot(pos);
            // SAFETY: positions in [head, tail) hold initialised values that
            // were never popped; each is visited, hence dropped, once.
            slot.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
            pos = self.next_pos(pos);
        }
    }
}

/// Producer handle of a bounded MPSC ring; cheap to clone.
pub(crate) struct BoundedSender<T> {
    inner: Arc<Inner<T>>,
}

/// Consumer handle of a bounded MPSC ring; `Send` but not `Sync`.
pub(crate) struct BoundedReceiver<T> {
    inner: Arc<Inner<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

/// Creates a ring holding at most `cap` items.
///
/// # Panics
/// If `cap` is 0 or absurdly large (> `usize::MAX / 4`); both are
/// programming errors in the caller's configuration.
pub(crate) fn bounded<T: Send>(cap: usize) -> (BoundedSender<T>, BoundedReceiver<T>) {
    assert!(cap > 0, "bounded queue capacity must be at least 1");
    assert!(cap <= usize::MAX / 4, "bounded queue capacity too large");
    let one_lap = (cap + 1).next_power_of_two();
    let slots = (0..cap)
        .map(|i| Slot {
            stamp: AtomicUsize::new(i),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        })
        .collect();
    let inner = Arc::new(Inner {
        tail: CachePadded(AtomicUsize::new(0)),
        head: CachePadded(AtomicUsize::new(0)),
        slots,
        cap,
        one_lap,
    });
    (
        BoundedSender {
            inner: inner.clone(),
        },
        BoundedReceiver {
            inner,
            _not_sync: PhantomData,
        },
    )
}

impl<T> Clone for BoundedSender<T> {
    fn clone(&self) -> Self {
        BoundedSender {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Send> BoundedSender<T> {
    /// Appends `v`, or gives it back if the ring holds `capacity()` items
    /// (the caller counts the drop). Lock-free; never blocks on the
    /// consumer.
    pub(crate) fn try_push(&self, v: T) -> Result<(), T> {
        let inner = &*self.inner;
        let mut tail = inner.tail.load(Ordering::Relaxed);
        loop {
            let slot = inner.slot(tail);
            // Acquire pairs with the consumer's Release stamp store after it
            // moved the previous lap's value out of this slot.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // SeqCst so a consumer's SeqCst `is_empty` can take part in a
                // park/wake (Dekker) protocol.
                match inner.tail.compare_exchange_weak(
                    tail,
                    inner.next_pos(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS gave us exclusive ownership of this
                        // slot for position `tail`; the consumer will not read
                        // it before the stamp store below.
                        slot.value.with_mut(|p| unsafe { (*p).write(v) });
                        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else {
                // The slot is either still occupied from one lap ago (maybe
                // full) or our `tail` is stale. Full means the consumer has
                // not moved past this very slot yet.
                let head = inner.head.load(Ordering::Acquire);
                if head.wrapping_add(inner.one_lap) == tail {
                    return Err(v);
                }
                spin_hint();
                tail = inner.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Number of queued items (a racy snapshot).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Maximum number of queued items.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.cap
    }
}

impl<T: Send> BoundedReceiver<T> {
    /// Removes the oldest item, or `None` if the ring is empty or the slot at
    /// the head is claimed but not yet published (see module docs).
    pub(crate) fn pop(&mut self) -> Option<T> {
        let inner = &*self.inner;
        // Relaxed: only this consumer writes `head`.
        let head = inner.head.load(Ordering::Relaxed);
        let slot = inner.slot(head);
        if slot.stamp.load(Ordering::Acquire) != head.wrapping_add(1) {
            return None;
        }
        // SAFETY: the stamp (Acquire, pairing with the producer's Release)
        // says the slot holds the initialised value of position `head`, and
        // only the single consumer reads it, once, before freeing the slot.
        let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
        // Hand the slot to the producer of the same index one lap later.
        slot.stamp
            .store(head.wrapping_add(inner.one_lap), Ordering::Release);
        inner.head.store(inner.next_pos(head), Ordering::Release);
        Some(v)
    }

    /// Whether the ring holds nothing and no push is in flight; a racy hint
    /// with the guarantee given in the module docs.
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.inner.head.load(Ordering::Relaxed);
        self.inner.tail.load(Ordering::SeqCst) == head
    }

    /// Number of queued items (a racy snapshot; includes in-flight pushes).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Maximum number of queued items.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.cap
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    #[test]
    fn fill_drain_wraps_many_laps() {
        for cap in [1, 2, 3, 5, 8, 1000] {
            let (tx, mut rx) = bounded::<usize>(cap);
            assert_eq!(tx.capacity(), cap);
            let mut next_in = 0;
            let mut next_out = 0;
            for _round in 0..5 {
                while tx.try_push(next_in).is_ok() {
                    next_in += 1;
                }
                assert_eq!(tx.len(), cap);
                assert_eq!(rx.len(), cap);
                assert_eq!(tx.try_push(usize::MAX), Err(usize::MAX));
                // Drain half (at least one), so head and tail sit in
                // different places each round.
                for _ in 0..cap.div_ceil(2) {
                    assert_eq!(rx.pop(), Some(next_out));
                    next_out += 1;
                }
                assert_eq!(rx.len(), next_in - next_out);
            }
            while let Some(v) = rx.pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
            assert_eq!(next_out, next_in);
            assert!(rx.is_empty());
            assert_eq!(rx.len(), 0);
        }
    }

    #[test]
    fn positions_wrap_around_usize() {
        // Start near usize::MAX to exercise the lap arithmetic wrapping.
        let (tx, mut rx) = bounded::<usize>(3);
        let one_lap = tx.inner.one_lap;
        let start = usize::MAX - one_lap + 1; // lap boundary, index 0
        tx.inner.tail.store(start, Ordering::Relaxed);
        tx.inner.head.store(start, Ordering::Relaxed);
        for (i, s) in tx.inner.slots.iter().enumerate() {
            s.stamp.store(start + i, Ordering::Relaxed);
        }
        for i in 0..20 {
            tx.try_push(i).unwrap();
            tx.try_push(i + 100).unwrap();
            assert_eq!(rx.len(), 2);
            assert_eq!(rx.pop(), Some(i));
            assert_eq!(rx.pop(), Some(i + 100));
            assert!(rx.is_empty());
        }
    }

    struct DropCount<'a>(&'a StdAtomicUsize);
    impl Drop for DropCount<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn drop_drops_queued_items_once() {
        let drops = StdAtomicUsize::new(0);
        {
            let (tx, mut rx) = bounded(4);
            for _ in 0..4 {
                assert!(tx.try_push(DropCount(&drops)).is_ok());
            }
            // Full: the rejected item comes back and is dropped by us.
            drop(tx.try_push(DropCount(&drops)).unwrap_err());
            assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
            drop(rx.pop());
            assert!(tx.try_push(DropCount(&drops)).is_ok());
            assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 2);
        }
        // 4 still queued at drop.
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 6);
    }

    #[test]
    fn stress_four_producers() {
        const PRODUCERS: usize = 4;
        const PER: usize = 100_000;
        let (tx, mut rx) = bounded::<(usize, usize)>(64);
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut full = 0usize;
                    for i in 0..PER {
                        let mut item = (p, i);
                        while let Err(back) = tx.try_push(item) {
                            full += 1;
                            item = back;
                            std::thread::yield_now();
                        }
                    }
                    full
                })
            })
            .collect();
        drop(tx);
        let mut next = [0usize; PRODUCERS];
        let mut got = 0;
        while got < PRODUCERS * PER {
            match rx.pop() {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
            assert!(rx.len() <= 64);
        }
        for h in handles {
            h.join().unwrap();
        }
        assert!(rx.is_empty());
        assert_eq!(rx.pop(), None);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::thread;

    /// The "no lost wake-up" guarantee: a push that completed before the
    /// consumer looks (here ordered by a flag) is seen by `is_empty`, even
    /// while another producer's push is half-done ahead of it.
    #[test]
    fn completed_push_is_never_hidden() {
        use crate::loom::atomic::AtomicBool;
        loom::model(|| {
            let (tx, mut rx) = bounded::<usize>(4);
            let done = Arc::new(AtomicBool::new(false));
            let tx1 = tx.clone();
            let slow = thread::spawn(move || tx1.try_push(1).unwrap());
            let done2 = done.clone();
            let fast = thread::spawn(move || {
                tx.try_push(2).unwrap();
                done2.store(true, Ordering::Release);
            });
            if done.load(Ordering::Acquire) {
                assert!(!rx.is_empty(), "completed push hidden from is_empty");
            }
            slow.join().unwrap();
            fast.join().unwrap();
            let mut got = Vec::new();
            while !rx.is_empty() {
                if let Some(v) = rx.pop() {
                    got.push(v);
                }
            }
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
        });
    }

    /// Capacity 2, two producers pushing two each with a concurrent consumer:
    /// every item is either popped once or reported full to its producer,
    /// FIFO per producer, and drops happen below the bound only when the
    /// ring really held `cap` items.
    #[test]
    fn two_producers_small_ring() {
        loom::model(|| {
            let (tx, mut rx) = bounded::<(usize, usize)>(2);
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        let mut rejected = 0;
                        for i in 0..2 {
                            if let Err(back) = tx.try_push((p, i)) {
                                assert_eq!(back, (p, i));
                                rejected += 1;
                            }
                        }
                        rejected
                    })
                })
                .collect();
            drop(tx);
            let mut popped = Vec::new();
            if let Some(item) = rx.pop() {
                popped.push(item);
            }
            let rejected: usize = producers.into_iter().map(|h| h.join().unwrap()).sum();
            while let Some(item) = rx.pop() {
                popped.push(item);
            }
            assert!(rx.is_empty());
            // No loss, no duplication.
            assert_eq!(popped.len() + rejected, 4);
            // With one early pop at most, at most cap + 1 items fit.
            assert!(popped.len() <= 3);
            // FIFO per producer (a rejected item may leave a gap, but order
            // is preserved).
            for p in 0..2 {
                let mine: Vec<_> = popped.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
            }
        });
    }

    /// Below the bound nothing is ever rejected, also across a wrap-around
    /// (cap 2, positions pass a lap boundary while producers race).
    #[test]
    fn no_loss_below_bound_with_wrap() {
        loom::model(|| {
            let (tx, mut rx) = bounded::<usize>(2);
            // Move head/tail to the end of the first lap: index 1.
            tx.try_push(100).unwrap();
            assert_eq!(rx.pop(), Some(100));
            let tx2 = tx.clone();
            let t = thread::spawn(move || tx2.try_push(1));
            assert_eq!(tx.try_push(0), Ok(()));
            assert_eq!(t.join().unwrap(), Ok(()));
            assert_eq!(tx.len(), 2);
            assert_eq!(tx.try_push(2), Err(2), "ring of 2 holding 2 is full");
            let mut got = [rx.pop().unwrap(), rx.pop().unwrap()];
            got.sort_unstable();
            assert_eq!(got, [0, 1]);
            assert_eq!(rx.pop(), None);
        });
    }

    /// Full is reported exactly when the consumer has not freed a slot: a
    /// producer racing a pop on a full ring either succeeds (after the pop)
    /// or is rejected (before it), never loses or duplicates.
    #[test]
    fn full_races_pop() {
        loom::model(|| {
            let (tx, mut rx) = bounded::<usize>(1);
            tx.try_push(0).unwrap();
            let t = thread::spawn(move || tx.try_push(1));
            let first = rx.pop();
            let pushed = t.join().unwrap();
            let second = rx.pop();
            match (first, pushed, second) {
                (Some(0), Ok(()), Some(1)) => {}
                (Some(0), Err(1), None) => {}
                other => panic!("unexpected interleaving outcome {other:?}"),
            }
            assert!(rx.is_empty());
        });
    }
}
