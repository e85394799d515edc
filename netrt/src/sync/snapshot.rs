//! Read-mostly tables published as immutable snapshots.
//!
//! Routes, neighbours and hooks change rarely and are read for every
//! packet. A writer builds a new value and publishes it as a fresh `Arc`;
//! each core reads through its own [`SnapshotReader`], which caches the
//! `Arc` it saw last and only goes back to the shared slot when the
//! generation counter says something new was published. The per-packet cost
//! is one Acquire load of a cache line that is only written on publish (so
//! it stays shared in every core's cache) and one compare: no lock, no
//! reference-count traffic.
//!
//! The shape is RCU's: readers keep using the snapshot they hold until they
//! next look, and an old value is freed when the last reader lets go of it.
//! // linux: rcu_dereference / rcu_assign_pointer on fib tables

use std::fmt;
use std::marker::PhantomData;

// The published values travel in std `Arc`s even under loom: the protocol
// being model-checked is the generation counter and the slot's mutex, and
// std `Arc` lets the stack hand in `Arc<dyn ..>`-shaped tables unchanged.
use std::sync::Arc;

use crate::loom::atomic::{AtomicU64, Ordering};

#[cfg(loom)]
type Mutex<T> = loom::sync::Mutex<T>;
#[cfg(not(loom))]
type Mutex<T> = parking_lot::Mutex<T>;

/// The shared slot: the current value and how many times it was replaced.
pub(crate) struct Snapshot<T> {
    current: Mutex<Arc<T>>,
    /// Bumped (while `current` is locked) after every publish, so a reader
    /// holding the lock sees the generation that matches the value.
    generation: AtomicU64,
}

impl<T> Snapshot<T> {
    /// A slot holding `value` as generation 0.
    pub(crate) fn new(value: T) -> Self {
        Snapshot {
            current: Mutex::new(Arc::new(value)),
            generation: AtomicU64::new(0),
        }
    }

    /// Replaces the value. Readers see it on their next
    /// [`get`](SnapshotReader::get) that happens after this returns.
    pub(crate) fn publish(&self, value: T) {
        self.update(|_| value);
    }

    /// Replaces the value with `f(current)`. Writers are serialized, so
    /// concurrent updates never lose each other's changes (unlike a
    /// load-then-publish pair). `f` runs under the writer lock: keep it to
    /// building the new table.
    pub(crate) fn update(&self, f: impl FnOnce(&T) -> T) {
        let old = {
            let mut current = lock(&self.current);
            let new = Arc::new(f(&current));
            let old = std::mem::replace(&mut *current, new);
            // Bumped after the swap and under the lock, so a reader that
            // sees this generation and then takes the lock finds the new
            // value (readers read the value itself only under the lock;
            // the generation is a change hint, Release/Acquire just keeps
            // the hint ordered after the value at no cost on x86).
            self.generation.fetch_add(1, Ordering::Release);
            old
        };
        // The previous value is dropped (if no reader holds it) outside the
        // lock, so a large table's destructor does not stall other writers.
        drop(old);
    }

    /// The current value, through the lock: for the control path (dumping
    /// a table, building the next one), not for per-packet reads.
    pub(crate) fn load(&self) -> Arc<T> {
        lock(&self.current).clone()
    }
}

impl<T: fmt::Debug> fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("current", &*self.load())
            .finish()
    }
}

/// One core's view of a [`Snapshot`].
///
/// Owned by a single core: `Send` (it is built elsewhere and moved to its
/// core) but not `Sync`, and `get` takes `&mut self`.
pub(crate) struct SnapshotReader<T> {
    shared: Arc<Snapshot<T>>,
    cached: Arc<T>,
    seen: u64,
    /// `Cell` is `Send + !Sync`: the reader may move, not be shared.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T> SnapshotReader<T> {
    /// A reader of `shared`, starting from its current value.
    pub(crate) fn new(shared: Arc<Snapshot<T>>) -> Self {
        let (cached, seen) = {
            let current = lock(&shared.current);
            // Under the lock the generation matches `current` exactly.
            (current.clone(), shared.generation.load(Ordering::Relaxed))
        };
        SnapshotReader {
            shared,
            cached,
            seen,
            _not_sync: PhantomData,
        }
    }

    /// The latest published value. One Acquire load and a compare when
    /// nothing changed; takes the writer lock once per publish otherwise.
    #[inline]
    pub(crate) fn get(&mut self) -> &Arc<T> {
        if self.shared.generation.load(Ordering::Acquire) != self.seen {
            self.refresh();
        }
        &self.cached
    }

    #[cold]
    fn refresh(&mut self) {
        let stale = {
            let current = lock(&self.shared.current);
            self.seen = self.shared.generation.load(Ordering::Relaxed);
            std::mem::replace(&mut self.cached, current.clone())
        };
        // This may be the last reference to an old table: free it unlocked.
        drop(stale);
    }
}

impl<T> fmt::Debug for SnapshotReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
#[inline]
fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

#[cfg(loom)]
fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    // A poisoned lock means a writer's closure panicked; the slot still
    // holds the previous complete value, so carrying on is sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn reader_follows_publishes() {
        let slot = Arc::new(Snapshot::new(1u32));
        let mut reader = SnapshotReader::new(slot.clone());
        assert_eq!(**reader.get(), 1);
        slot.publish(2);
        assert_eq!(**reader.get(), 2);
        slot.update(|v| v * 10);
        assert_eq!(**reader.get(), 20);
        assert_eq!(*slot.load(), 20);
        // A reader created later starts at the current value.
        let mut late = SnapshotReader::new(slot.clone());
        assert_eq!(**late.get(), 20);
    }

    #[test]
    fn unchanged_get_returns_the_same_arc() {
        let slot = Arc::new(Snapshot::new(String::from("a")));
        let mut reader = SnapshotReader::new(slot.clone());
        let first = Arc::as_ptr(reader.get());
        assert_eq!(Arc::as_ptr(reader.get()), first);
        slot.publish(String::from("b"));
        assert_ne!(Arc::as_ptr(reader.get()), first);
    }

    #[test]
    fn old_value_lives_until_reader_moves_on() {
        let slot = Arc::new(Snapshot::new(vec![1u8]));
        let mut reader = SnapshotReader::new(slot.clone());
        let held = reader.get().clone();
        slot.publish(vec![2]);
        // The reader has not looked yet: it and `held` keep the old one.
        assert_eq!(Arc::strong_count(&held), 2);
        assert_eq!(**reader.get(), vec![2]);
        assert_eq!(Arc::strong_count(&held), 1);
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let slot = Arc::new(Snapshot::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let slot = slot.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        slot.update(|v| v + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*slot.load(), 4000);
    }

    #[test]
    fn readers_see_monotonic_values_under_concurrent_publishes() {
        let slot = Arc::new(Snapshot::new(0u64));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut reader = SnapshotReader::new(slot.clone());
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    while !done.load(Ordering::Acquire) {
                        let v = **reader.get();
                        assert!(v >= last, "went back from {last} to {v}");
                        last = v;
                    }
                    **reader.get()
                })
            })
            .collect();
        for i in 1..=2000 {
            slot.publish(i);
        }
        done.store(true, Ordering::Release);
        for r in readers {
            assert_eq!(r.join().unwrap(), 2000);
        }
    }

    #[test]
    fn reader_is_send_not_sync() {
        fn is_send<S: Send>() {}
        is_send::<SnapshotReader<u32>>();
        // Compile-time `!Sync` check: were the reader `Sync`, both impls
        // would apply and the inferred `_` below would be ambiguous.
        trait AmbiguousIfSync<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfSync<()> for T {}
        impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}
        <SnapshotReader<u32> as AmbiguousIfSync<_>>::check();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{atomic::AtomicBool, thread};

    /// A reader racing one publish sees the old or the new value, never
    /// goes back, and once the publish is known to be done (through an
    /// unrelated flag) it sees the new value.
    #[test]
    fn loom_publish_visible_after_return() {
        loom::model(|| {
            let slot = Arc::new(Snapshot::new(1u32));
            let published = Arc::new(AtomicBool::new(false));
            let mut reader = SnapshotReader::new(slot.clone());

            let writer = {
                let slot = slot.clone();
                let published = published.clone();
                thread::spawn(move || {
                    slot.publish(2);
                    published.store(true, Ordering::Release);
                })
            };

            let first = **reader.get();
            assert!(first == 1 || first == 2);
            let was_published = published.load(Ordering::Acquire);
            let second = **reader.get();
            assert!(second >= first, "reader went back");
            if was_published {
                assert_eq!(second, 2, "publish returned but reader is stale");
            }
            writer.join().unwrap();
            assert_eq!(**reader.get(), 2);
        });
    }

    /// Two writers using `update` never lose an increment, and a reader
    /// only ever sees values some writer produced.
    #[test]
    fn loom_updates_serialize() {
        loom::model(|| {
            let slot = Arc::new(Snapshot::new(0u32));
            let mut reader = SnapshotReader::new(slot.clone());
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let slot = slot.clone();
                    thread::spawn(move || slot.update(|v| v + 1))
                })
                .collect();
            let seen = **reader.get();
            assert!(seen <= 2);
            for w in writers {
                w.join().unwrap();
            }
            assert_eq!(**reader.get(), 2);
            assert_eq!(*slot.load(), 2);
        });
    }
}
