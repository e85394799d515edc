//! Per-core network context (linux: `softnet_data` and friends).
//!
//! Everything here is thread-local: the core that runs a NAPI poll or a
//! task owns its copy and touches it without atomics or locks.
//!
//! * **Snapshot readers** ([`with_slot`], [`with_routes`], ...): each core
//!   keeps its own reader of every namespace's read-mostly tables (routes,
//!   devices, hooks, taps; stack-ip adds its neighbour cache the same way),
//!   so a per-packet lookup is one Acquire load and a compare.
//! * the buffer pool lives next door in [`skb`](super::skb) (also
//!   thread-local).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use hashbrown::HashMap;

use super::dev::NetDevice;
use super::hooks::HookReader;
use super::ns::NsInner;
use super::route::RouteTable;
use crate::sync::snapshot::{Snapshot, SnapshotReader};

/// Identity of an owner of per-core slots (a namespace, a tap list): a
/// unique id and a liveness token, so a core can forget the slots of
/// owners that are gone.
pub(crate) struct SlotOwner {
    id: u64,
    alive: Arc<()>,
}

impl SlotOwner {
    pub(crate) fn new() -> SlotOwner {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SlotOwner {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
        }
    }

    /// The owner's unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl std::fmt::Debug for SlotOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotOwner({})", self.id)
    }
}

struct Slot {
    alive: Weak<()>,
    value: RefCell<Box<dyn Any>>,
}

thread_local! {
    static SLOTS: RefCell<HashMap<(u64, TypeId), Rc<Slot>>> = RefCell::new(HashMap::new());
}

/// Runs `f` on this core's `T` for `owner`, made by `make` the first time.
///
/// Re-entrant: if the slot is already in use further up this thread's
/// stack (a hook that transmits, a tap that sends), `f` gets a fresh
/// temporary value from `make` instead, which is correct but slow. Off a
/// runtime core (or during thread teardown) the same fallback applies.
pub(crate) fn with_slot<T: 'static, R>(
    owner: &SlotOwner,
    make: impl FnOnce() -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let key = (owner.id, TypeId::of::<T>());
    let found = SLOTS
        .try_with(|slots| slots.borrow().get(&key).cloned())
        .ok()
        .flatten();
    let (slot, make) = match found {
        Some(slot) => (slot, Some(make)),
        None => {
            let slot = Rc::new(Slot {
                alive: Arc::downgrade(&owner.alive),
                value: RefCell::new(Box::new(make())),
            });
            // During thread teardown the map is gone: use the slot once.
            let _ = SLOTS.try_with(|slots| {
                let mut slots = slots.borrow_mut();
                // New owners are rare: the moment to forget dead ones.
                slots.retain(|_, s| s.alive.strong_count() > 0);
                slots.insert(key, slot.clone());
            });
            (slot, None)
        }
    };
    let mut value = match (slot.value.try_borrow_mut(), make) {
        (Ok(value), _) => value,
        // Re-entered: the slot is borrowed further up the stack.
        (Err(_), Some(make)) => return f(&mut make()),
        // Invariant: a slot made just above is not borrowed by anyone.
        (Err(_), None) => unreachable!("fresh per-core slot already borrowed"),
    };
    match value.downcast_mut::<T>() {
        Some(v) => f(v),
        // Invariant: the slot for (owner, TypeId::of::<T>()) holds a T.
        None => unreachable!("per-core slot holds another type"),
    }
}

/// Runs `f` on this core's reader of `snapshot`, owned by `owner`.
pub(crate) fn with_snapshot<T: Send + Sync + 'static, R>(
    owner: &SlotOwner,
    snapshot: &Arc<Snapshot<T>>,
    f: impl FnOnce(&T) -> R,
) -> R {
    with_slot(
        owner,
        || SnapshotReader::new(snapshot.clone()),
        |reader: &mut SnapshotReader<T>| f(reader.get()),
    )
}

/// Runs `f` on the namespace's routing table (this core's snapshot).
pub(crate) fn with_routes<R>(ns: &NsInner, f: impl FnOnce(&RouteTable) -> R) -> R {
    with_snapshot(&ns.owner, &ns.routes, f)
}

/// Runs `f` on the namespace's devices (index = ifindex - 1).
pub(crate) fn with_devices<R>(ns: &NsInner, f: impl FnOnce(&[Arc<dyn NetDevice>]) -> R) -> R {
    with_snapshot(&ns.owner, &ns.devices, |d| f(d))
}

/// The namespace's device with `ifindex` (one `Arc` clone).
pub(crate) fn device(ns: &NsInner, ifindex: super::IfIndex) -> Option<Arc<dyn NetDevice>> {
    with_devices(ns, |d| {
        let i = (ifindex.0 as usize).checked_sub(1)?;
        d.get(i).cloned()
    })
}

/// Runs `f` on this core's hook reader for the namespace.
pub(crate) fn with_hooks<R>(ns: &NsInner, f: impl FnOnce(&mut HookReader) -> R) -> R {
    with_slot(&ns.owner, || ns.hooks.reader(), f)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn slot_is_per_owner_and_reentrant() {
        let a = SlotOwner::new();
        let b = SlotOwner::new();
        let snap = Arc::new(Snapshot::new(5u32));
        assert_eq!(with_snapshot(&a, &snap, |v| *v), 5);
        snap.publish(6);
        assert_eq!(with_snapshot(&a, &snap, |v| *v), 6);
        // Nested use of the same slot falls back to a fresh value.
        let n = with_slot(&a, || 1u8, |x| {
            *x += 1;
            with_slot(&a, || 10u8, |y| *y)
        });
        assert_eq!(n, 10);
        assert_eq!(with_slot(&a, || 1u8, |x| *x), 2);
        assert_eq!(with_slot(&b, || 7u8, |x| *x), 7);
    }

    #[test]
    fn dead_owners_are_forgotten() {
        let count = || SLOTS.with(|s| s.borrow().len());
        let before = count();
        {
            let gone = SlotOwner::new();
            with_slot(&gone, || 0u32, |_| ());
            assert_eq!(count(), before + 1);
        }
        let live = SlotOwner::new();
        with_slot(&live, || 0u32, |_| ());
        assert_eq!(count(), before + 1);
    }
}
