//! Unbounded lock-free multi-producer single-consumer queue.
//!
//! Used for a core's inbox: tasks woken or spawned from other cores are
//! pushed here and drained by the owning core once per loop iteration.
//!
//! # Algorithm
//!
//! Dmitry Vyukov's non-intrusive MPSC node queue. The queue is a singly
//! linked list from `tail` (oldest, owned by the consumer) to `head`
//! (newest, shared by producers). `tail` always points at a *consumed*
//! node (initially a stub), so the list is never empty and push needs no
//! special case:
//!
//! * push: `prev = head.swap(node)` (the linearization point: it fixes the
//!   order among producers), then `prev.next = node` (publishes the value).
//! * pop: if `tail.next` is non-null, advance `tail` to it, take its value
//!   and free the old `tail`.
//!
//! Why this and not a list of fixed-size blocks: the node queue is wait-free
//! for producers (one swap, one store), its reclamation is trivially safe
//! (only the consumer frees, and it only frees nodes no producer can still
//! reach), and it is small enough to be model-checked exhaustively. Its cost
//! is one allocation per push. That is fine for the inbox, whose items are
//! cross-core wake-ups that already carry an allocated task; the per-packet
//! cross-core path (RPS backlog) uses [`super::bounded`], which never
//! allocates after construction.
//!
//! # Visibility guarantee (what a "no lost wake-up" protocol may rely on)
//!
//! Between a producer's swap and its link store the queue is *inconsistent*:
//! the new node (and every node pushed after it) is not reachable from
//! `tail` yet. During that window [`Receiver::pop`] returns `None` even
//! though later pushes may already have returned. What *is* guaranteed:
//!
//! 1. [`Receiver::is_empty`] compares `tail` with `head`, not `tail.next`,
//!    so it reports "not empty" from the moment any push has performed its
//!    swap until the consumer has popped that item. In particular, a push
//!    that has *returned* and happens-before the consumer's `is_empty()`
//!    (e.g. through a SeqCst "parked" flag or the eventfd write the producer
//!    does after pushing) is always observed as "not empty".
//! 2. If `is_empty()` is `false`, `pop()` eventually returns `Some` once the
//!    in-flight producer finishes its next store (a few instructions; it
//!    cannot block). A consumer that sees `pop() == None` but
//!    `!is_empty()` must therefore retry (yield/spin) rather than park.
//! 3. Items of one producer are popped in push order; items of different
//!    producers in the order of their swaps.
//!
//! Dropping the last handle drops every item still queued exactly once.
//! Items pushed after the [`Receiver`] was dropped are kept until the last
//! [`Sender`] drops (push never fails).

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use crate::loom::atomic::{AtomicPtr, Ordering};
use crate::loom::{Arc, UnsafeCell};

struct Node<T> {
    next: AtomicPtr<Node<T>>,
    /// `Some` from construction until the consumer takes it; the stub and
    /// every node behind `tail` hold `None`.
    value: UnsafeCell<Option<T>>,
}

impl<T> Node<T> {
    fn alloc(value: Option<T>) -> *mut Node<T> {
        Box::into_raw(Box::new(Node {
            next: AtomicPtr::new(ptr::null_mut()),
            value: UnsafeCell::new(value),
        }))
    }
}

struct Inner<T> {
    /// Newest node; swapped by producers.
    head: AtomicPtr<Node<T>>,
    /// Oldest (already consumed) node; touched only by the single
    /// `Receiver` (through `&mut self`) and by `Drop` (exclusive).
    tail: UnsafeCell<*mut Node<T>>,
}

// SAFETY: the queue moves `T`s between threads, so `T: Send` is required
// and sufficient: producers only touch `head` (atomic) and nodes they
// allocated; `tail` and node values are only accessed by the single
// consumer (`Receiver` is not `Clone` and `pop` takes `&mut self`), or by
// `Drop` when no other handle exists.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: see above; shared access from producers is through atomics only.
unsafe impl<T: Send> Sync for Inner<T> {}

/// Producer handle of an unbounded MPSC queue; cheap to clone.
pub(crate) struct Sender<T> {
    inner: Arc<Inner<T>>,
}

/// Consumer handle of an unbounded MPSC queue. `Send` but not `Sync`:
/// exactly one thread consumes at a time.
pub(crate) struct Receiver<T> {
    inner: Arc<Inner<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

/// Creates an unbounded MPSC queue.
pub(crate) fn channel<T: Send>() -> (Sender<T>, Receiver<T>) {
    let stub = Node::alloc(None);
    let inner = Arc::new(Inner {
        head: AtomicPtr::new(stub),
        tail: UnsafeCell::new(stub),
    });
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver {
            inner,
            _not_sync: PhantomData,
        },
    )
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Send> Sender<T> {
    /// Appends `v`. Never blocks and never fails (wait-free: one swap and
    /// one store besides the node allocation).
    pub(crate) fn push(&self, v: T) {
        let node = Node::alloc(Some(v));
        // Release publishes our node's initialisation to the next producer
        // (which writes `node.next`); Acquire makes the previous producer's
        // node visible before we write its `next`. SeqCst (free on x86, where
        // every swap is a full barrier) lets a consumer's SeqCst
        // `is_empty` take part in a Dekker-style park/wake protocol.
        let prev = self.inner.head.swap(node, Ordering::SeqCst);
        // SAFETY: `prev` was the head, so it is alive: the consumer frees a
        // node only once it has advanced `tail` past it, which requires its
        // `next` to be non-null, and only we set `prev.next`.
        // Release pairs with the consumer's Acquire load of `next`, making
        // the value written in `Node::alloc` visible to it.
        unsafe { (*prev).next.store(node, Ordering::Release) };
    }
}

impl<T: Send> Receiver<T> {
    /// Removes the oldest item, or `None` if the queue is empty *or* a push
    /// is half-done (see the module docs; check [`Self::is_empty`] before
    /// parking).
    pub(crate) fn pop(&mut self) -> Option<T> {
        // SAFETY: `tail` is only accessed by the single consumer (`&mut self`).
        let tail = self.inner.tail.with(|t| unsafe { *t });
        // SAFETY: `tail` is alive; only this function frees nodes, and never
        // the current tail.
        let next = unsafe { (*tail).next.load(Ordering::Acquire) };
        if next.is_null() {
            return None;
        }
        // SAFETY: exclusive consumer access to `tail`.
        self.inner.tail.with_mut(|t| unsafe { *t = next });
        // SAFETY: `next` was fully initialised before the producer's
        // Release store we acquired above; its value is only read by the
        // consumer, which is us.
        let value = unsafe { (*next).value.with_mut(|v| (*v).take()) };
        // SAFETY: the old tail is unreachable for producers: `head` has moved
        // on (it was linked to `next`, so a later swap happened) and its
        // `next` has been written, which is the last producer access to it.
        drop(unsafe { Box::from_raw(tail) });
        debug_assert!(value.is_some(), "node reachable from tail twice");
        value
    }

    /// Whether the queue holds no item and no push is in flight.
    ///
    /// A racy hint with one firm guarantee: a push that completed (returned)
    /// before this call, in the happens-before sense, makes it return
    /// `false` until that item is popped. `false` with `pop() == None` means
    /// a push is half-done: retry instead of parking.
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: exclusive consumer access to `tail` (`Receiver` is !Sync).
        let tail = self.inner.tail.with(|t| unsafe { *t });
        // SeqCst so that the usual "consumer: store parked=true (SeqCst);
        // check is_empty" vs "producer: push; load parked (SeqCst)" Dekker
        // pattern cannot have both sides miss each other.
        self.inner.head.load(Ordering::SeqCst) == tail
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // No other handle exists, so every push has completed (Arc's drop
        // synchronises with each handle's drop) and the list is fully linked.
        // SAFETY: exclusive access in drop.
        let mut node = self.tail.with(|t| unsafe { *t });
        while !node.is_null() {
            // SAFETY: every node from `tail` onward is a live, exclusively
            // owned allocation from `Node::alloc`; each is freed once.
            let boxed = unsafe { Box::from_raw(node) };
            node = boxed.next.load(Ordering::Acquire);
            // Dropping the box drops a still-queued value (if any) once.
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_single_thread() {
        let (tx, mut rx) = channel();
        assert!(rx.is_empty());
        assert_eq!(rx.pop(), None);
        for i in 0..100 {
            tx.push(i);
        }
        assert!(!rx.is_empty());
        for i in 0..100 {
            assert_eq!(rx.pop(), Some(i));
        }
        assert_eq!(rx.pop(), None);
        assert!(rx.is_empty());
        // Reuse after draining.
        tx.push(7);
        assert_eq!(rx.pop(), Some(7));
    }

    struct DropCount<'a>(&'a AtomicUsize);
    impl Drop for DropCount<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn drop_drops_queued_items_once() {
        let drops = AtomicUsize::new(0);
        {
            let (tx, mut rx) = channel();
            for _ in 0..10 {
                tx.push(DropCount(&drops));
            }
            drop(rx.pop());
            assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
            // Receiver first, then a push after it is gone, then the sender.
            drop(rx);
            tx.push(DropCount(&drops));
            assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
        }
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 11);
    }

    #[test]
    fn stress_four_producers() {
        const PRODUCERS: usize = 4;
        const PER: usize = 100_000;
        let (tx, mut rx) = channel::<(usize, usize)>();
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        tx.push((p, i));
                    }
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
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(rx.pop(), None);
        assert!(rx.is_empty());
        assert!(next.iter().all(|&n| n == PER));
    }

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn handle_traits() {
        assert_send::<Sender<String>>();
        assert_sync::<Sender<String>>();
        assert_send::<Receiver<String>>();
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
            let (tx, mut rx) = channel::<usize>();
            let done = Arc::new(AtomicBool::new(false));
            let tx1 = tx.clone();
            let slow = thread::spawn(move || tx1.push(1));
            let done2 = done.clone();
            let fast = thread::spawn(move || {
                tx.push(2);
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

    /// Two producers push two items each while the consumer pops
    /// concurrently: no loss, no duplication, FIFO per producer, and a
    /// completed push is never hidden from `is_empty`.
    #[test]
    fn two_producers_concurrent_consumer() {
        loom::model(|| {
            let (tx, mut rx) = channel::<(usize, usize)>();
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        tx.push((p, 0));
                        tx.push((p, 1));
                    })
                })
                .collect();
            drop(tx);
            let mut next = [0usize; 2];
            let mut check = |item: (usize, usize)| {
                assert_eq!(item.1, next[item.0], "FIFO per producer");
                next[item.0] += 1;
            };
            // Pop a little while producers run.
            for _ in 0..2 {
                if let Some(item) = rx.pop() {
                    check(item);
                }
                thread::yield_now();
            }
            for p in producers {
                p.join().unwrap();
            }
            // All pushes completed (join): nothing may be hidden now.
            while !rx.is_empty() {
                let item = rx.pop().expect("complete pushes must be poppable");
                check(item);
            }
            assert_eq!(next, [2, 2]);
            assert_eq!(rx.pop(), None);
        });
    }

    /// Three producers, one item each; the receiver polls until it has all
    /// three, using `is_empty` to decide whether a `None` is final.
    #[test]
    fn three_producers() {
        loom::model(|| {
            let (tx, mut rx) = channel::<usize>();
            let producers: Vec<_> = (0..3)
                .map(|p| {
                    let tx = tx.clone();
                    thread::spawn(move || tx.push(p))
                })
                .collect();
            drop(tx);
            let mut seen = [false; 3];
            let mut count = 0;
            while count < 3 {
                match rx.pop() {
                    Some(p) => {
                        assert!(!seen[p], "duplicate");
                        seen[p] = true;
                        count += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            for p in producers {
                p.join().unwrap();
            }
            assert!(rx.is_empty());
        });
    }

    /// Items left in the queue are dropped exactly once when the handles go,
    /// whichever side drops last.
    #[test]
    fn drop_with_items_in_flight() {
        loom::model(|| {
            let (tx, mut rx) = channel::<Arc<()>>();
            let marker = Arc::new(());
            let tx2 = tx.clone();
            let m2 = marker.clone();
            let t = thread::spawn(move || {
                tx2.push(m2.clone());
                tx2.push(m2);
            });
            let _ = rx.pop();
            drop(rx);
            drop(tx);
            t.join().unwrap();
            // Every clone was dropped once (and only once: a double drop
            // would underflow the count and loom/Arc would panic).
            assert_eq!(Arc::strong_count(&marker), 1);
        });
    }
}
