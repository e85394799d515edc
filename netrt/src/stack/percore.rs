//! Per-core network context (linux: `softnet_data` and friends).
//!
//! Everything here is thread-local: the core that runs a NAPI poll or a
//! task owns its copy and touches it without atomics or locks.
//!
//! * **Snapshot readers** ([`with_slot`], [`with_routes`], ...): each core
//!   keeps its own reader of every namespace's read-mostly tables (routes,
//!   devices, hooks, taps; stack-ip adds its neighbour cache the same way),
//!   so a per-packet lookup is one Acquire load and a compare.
//! * **Deferred transmit** ([`napi_scope`], [`defer_tx`]): while a core
//!   polls a device, transmits produced by the receive path (ARP replies,
//!   ICMP, forwarded packets, ACKs) are queued in the qdisc and the device
//!   queue is remembered; the queues are run once at the end of the poll,
//!   one tail write per burst (linux: the `xmit_more` / `qdisc_run` at the
//!   end of `net_rx_action`). Transmits made by tasks are deferred the
//!   same way to the end of the core's task batch, through the runtime's
//!   end-of-batch hook ([`crate::runtime::batch`]).
//! * **Backlog** ([`enqueue_backlog`]): per core, a bounded lock-free MPSC
//!   queue of frames handed over by loopback transmits and RPS steering,
//!   drained by a per-core backlog NAPI instance (linux: `softnet_data`'s
//!   `input_pkt_queue` and `process_backlog`). The backlogs of a runtime
//!   are created the first time the stack is used on it ([`RuntimeNet`]),
//!   together with the runtime's default namespace.
//! * **Counters** ([`PerCoreCounters`]): a block of counters per core.
//! * the buffer pool lives next door in [`skb`](super::skb) (also
//!   thread-local).

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};

use super::dev::NetDevice;
use super::hooks::HookReader;
use super::ns::{Namespace, NsInner};
use super::route::RouteTable;
use super::skb::PacketBuf;
use super::{netif, IfIndex};
use crate::runtime::napi::{Napi, NapiHandle};
use crate::runtime::{batch, context, Handle};
use crate::sync::bounded::{bounded, BoundedReceiver, BoundedSender};
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

// ---------------------------------------------------------------------------
// Per-core counters.

/// Cores with a counter block of their own; higher core indexes and
/// threads that are not cores share one extra block.
pub(crate) const COUNTER_CORES: usize = 64;

/// `N` counters per core, each core's block on cache lines of its own: an
/// increment on a core is a plain load and store on a line no other core
/// writes (linux: `this_cpu_inc`). The shared extra block (foreign threads)
/// uses atomic adds.
pub(crate) struct PerCoreCounters<const N: usize> {
    blocks: Box<[CounterBlock<N>]>,
}

#[repr(align(128))]
struct CounterBlock<const N: usize>([AtomicU64; N]);

impl<const N: usize> PerCoreCounters<N> {
    pub(crate) fn new() -> Self {
        PerCoreCounters {
            blocks: (0..=COUNTER_CORES)
                .map(|_| CounterBlock(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Adds `n` to counter `i` in the calling core's block.
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        match crate::runtime::current_core() {
            Some(core) if core < COUNTER_CORES => {
                let cell = &self.blocks[core].0[i];
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            }
            _ => {
                self.blocks[COUNTER_CORES].0[i].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Counter `i` summed over all blocks.
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.blocks
            .iter()
            .map(|b| b.0[i].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

impl<const N: usize> Default for PerCoreCounters<N> {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// NAPI poll context and deferred transmit.

/// A device TX queue whose qdisc can be run later (at the end of a poll).
pub(crate) trait TxFlush: Send + Sync {
    /// Runs the queue's qdisc: dequeues and hands frames to the driver
    /// (linux: `qdisc_run`).
    fn flush_tx(&self);
}

struct PollCtx {
    /// Nesting depth of [`napi_scope`]; deferred work runs at depth 0.
    depth: Cell<u32>,
    /// Queues with frames waiting for the end of the poll. The vector keeps
    /// its capacity, so steady-state polls do not allocate.
    deferred: RefCell<Vec<Arc<dyn TxFlush>>>,
}

thread_local! {
    static POLL: PollCtx = const {
        PollCtx {
            depth: Cell::new(0),
            deferred: RefCell::new(Vec::new()),
        }
    };
}

/// Whether the calling thread is inside a NAPI poll (receive path).
#[inline]
pub(crate) fn in_napi_poll() -> bool {
    POLL.try_with(|p| p.depth.get() > 0).unwrap_or(false)
}

/// Runs `f` as a NAPI poll: transmits it causes are deferred and flushed
/// when the outermost scope ends.
pub(crate) fn napi_scope<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            let _ = POLL.try_with(|p| p.depth.set(p.depth.get() - 1));
        }
    }
    let _ = POLL.try_with(|p| p.depth.set(p.depth.get() + 1));
    let r = {
        let _exit = Exit;
        f()
    };
    if !in_napi_poll() {
        flush_deferred();
    }
    r
}

/// Remembers `queue` to be run at the end of the current NAPI poll or,
/// from a task, at the end of the core's task batch (the runtime's
/// [`batch`](crate::runtime::batch) hook, when batching is enabled).
/// `false` when neither is open: the caller runs the queue now.
#[inline]
pub(crate) fn defer_tx(queue: &Arc<dyn TxFlush>) -> bool {
    POLL.try_with(|p| {
        if p.depth.get() == 0 && !batch::at_end_of_batch(flush_deferred) {
            return false;
        }
        let mut d = p.deferred.borrow_mut();
        if !d.iter().any(|q| Arc::ptr_eq(q, queue)) {
            d.push(queue.clone());
        }
        true
    })
    .unwrap_or(false)
}

/// Runs every deferred queue (linux: `net_tx_action` for the queues the
/// poll or the task batch filled). Flushing may transmit more (a tap that sends): loop until
/// nothing is left.
fn flush_deferred() {
    loop {
        let batch = POLL
            .try_with(|p| std::mem::take(&mut *p.deferred.borrow_mut()))
            .unwrap_or_default();
        if batch.is_empty() {
            // Give the (empty) allocation back for the next poll.
            let _ = POLL.try_with(|p| {
                let mut d = p.deferred.borrow_mut();
                if d.capacity() < batch.capacity() {
                    *d = batch;
                }
            });
            return;
        }
        for q in &batch {
            q.flush_tx();
        }
        let mut batch = batch;
        batch.clear();
        let _ = POLL.try_with(|p| {
            let mut d = p.deferred.borrow_mut();
            if d.is_empty() && d.capacity() < batch.capacity() {
                *d = batch;
            }
        });
    }
}

// ---------------------------------------------------------------------------
// Namespace registry: resolves the namespace id a backlog entry carries.

static NAMESPACES: OnceLock<RwLock<HashMap<u64, Weak<NsInner>>>> = OnceLock::new();

fn namespaces() -> &'static RwLock<HashMap<u64, Weak<NsInner>>> {
    NAMESPACES.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Makes `ns` findable by its id (control path).
pub(crate) fn register_namespace(ns: &Arc<NsInner>) {
    namespaces()
        .write()
        .insert(ns.owner.id(), Arc::downgrade(ns));
}

/// Forgets namespace `id` (its last handle is being dropped).
pub(crate) fn unregister_namespace(id: u64) {
    namespaces().write().remove(&id);
}

fn lookup_namespace(id: u64) -> Option<Weak<NsInner>> {
    namespaces().read().get(&id).cloned()
}

// ---------------------------------------------------------------------------
// Per-runtime state: backlogs and the default namespace.

/// `netdev_max_backlog`: frames a core's backlog holds.
pub const MAX_BACKLOG: usize = 1000;

/// A frame waiting in a core's backlog.
pub(crate) struct BacklogItem {
    /// Namespace id ([`SlotOwner::id`]).
    pub(crate) ns: u64,
    /// Receiving device.
    pub(crate) dev: IfIndex,
    pub(crate) pkt: PacketBuf,
}

/// One core's backlog, as seen by producers on any core.
struct Backlog {
    tx: BoundedSender<BacklogItem>,
    napi: NapiHandle,
    stats: Arc<BacklogCounters>,
}

#[derive(Default)]
struct BacklogCounters {
    /// Frames refused because the backlog was full (any producer).
    dropped: AtomicU64,
    /// Frames taken out and processed (the owning core only).
    processed: AtomicU64,
}

/// Counters of one core's backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BacklogStats {
    /// Frames processed by the core's backlog poll.
    pub processed: u64,
    /// Frames dropped because the backlog held [`MAX_BACKLOG`] already.
    pub dropped: u64,
    /// Frames waiting now.
    pub queued: usize,
}

/// The network state of one runtime: a backlog (and its NAPI instance)
/// per core, and the runtime's default namespace.
pub(crate) struct RuntimeNet {
    rt: Handle,
    backlogs: Box<[Backlog]>,
    default_ns: OnceLock<Namespace>,
}

/// Runtimes the stack was used on. Entries of runtimes that shut down are
/// dropped when the next runtime registers (their NAPI handles hold the
/// runtime's shared state).
static RUNTIMES: Mutex<Vec<Arc<RuntimeNet>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's runtime's state, cached: checked with one pointer
    /// compare against the core's runtime.
    static RUNTIME: RefCell<Option<Arc<RuntimeNet>>> = const { RefCell::new(None) };
}

impl RuntimeNet {
    fn new(rt: &Handle) -> std::io::Result<RuntimeNet> {
        let mut backlogs = Vec::with_capacity(rt.cores());
        for core in 0..rt.cores() {
            let (tx, rx) = bounded(MAX_BACKLOG);
            let stats = Arc::new(BacklogCounters::default());
            let napi = rt.register_napi(
                core,
                Box::new(BacklogNapi {
                    rx,
                    stats: stats.clone(),
                    known: HashMap::new(),
                }),
            )?;
            backlogs.push(Backlog { tx, napi, stats });
        }
        Ok(RuntimeNet {
            rt: rt.clone(),
            backlogs: backlogs.into_boxed_slice(),
            default_ns: OnceLock::new(),
        })
    }

    /// The runtime's default namespace, made on first use.
    pub(crate) fn default_namespace(&self) -> Namespace {
        self.default_ns
            .get_or_init(|| Namespace::create("default"))
            .clone()
    }

    /// Counters of core `core`'s backlog.
    pub(crate) fn backlog_stats(&self, core: usize) -> Option<BacklogStats> {
        let b = self.backlogs.get(core)?;
        Some(BacklogStats {
            processed: b.stats.processed.load(Ordering::Relaxed),
            dropped: b.stats.dropped.load(Ordering::Relaxed),
            queued: b.tx.len(),
        })
    }

    /// Number of cores.
    pub(crate) fn cores(&self) -> usize {
        self.backlogs.len()
    }
}

/// The network state of `rt`, created on first use.
pub(crate) fn runtime_net_of(rt: &Handle) -> std::io::Result<Arc<RuntimeNet>> {
    let mut all = RUNTIMES.lock();
    if let Some(rn) = all.iter().find(|rn| Arc::ptr_eq(&rn.rt.shared, &rt.shared)) {
        return Ok(rn.clone());
    }
    // A new runtime: forget the ones that stopped. Their NAPI handles are
    // dropped outside the lock (dropping one may wait for a poll).
    let stopped: Vec<_> = {
        let (dead, live) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|rn| rn.rt.shared.shutdown.load(Ordering::Acquire));
        *all = live;
        dead
    };
    let rn = Arc::new(RuntimeNet::new(rt)?);
    all.push(rn.clone());
    drop(all);
    drop(stopped);
    Ok(rn)
}

/// Runs `f` with the calling thread's runtime state and core index
/// (`None` for a thread with an entered handle but no core), or returns
/// `None` outside any runtime.
pub(crate) fn with_runtime_net<R>(
    f: impl FnOnce(&Arc<RuntimeNet>, Option<usize>) -> R,
) -> Option<R> {
    // A core knows its runtime without touching a reference count; a
    // thread that entered a handle pays one clone.
    let (ptr, core) = match context::with_core(|c| c.map(|c| (Arc::as_ptr(&c.shared), c.index))) {
        Some((ptr, index)) => (ptr, Some(index)),
        None => (Arc::as_ptr(&context::current_shared()?), None),
    };
    let cached = RUNTIME
        .try_with(|r| {
            r.borrow()
                .as_ref()
                .filter(|rn| Arc::as_ptr(&rn.rt.shared) == ptr)
                .cloned()
        })
        .ok()
        .flatten();
    let rn = match cached {
        Some(rn) => rn,
        None => {
            let rn = runtime_net_of(&Handle::try_current().ok()?).ok()?;
            let _ = RUNTIME.try_with(|r| *r.borrow_mut() = Some(rn.clone()));
            rn
        }
    };
    Some(f(&rn, core))
}

/// Why a frame could not be queued to a backlog.
pub(crate) enum BacklogError {
    /// The backlog was full: the frame was dropped and counted.
    Full,
    /// No runtime on this thread: the caller must process the frame itself.
    NoRuntime(BacklogItem),
}

/// Queues `item` on core `core`'s backlog (the calling core's if `None`;
/// core 0 on a non-core thread) and schedules that core's backlog poll
/// (linux: `enqueue_to_backlog`).
pub(crate) fn enqueue_backlog(core: Option<usize>, item: BacklogItem) -> Result<(), BacklogError> {
    let mut item = Some(item);
    let r = with_runtime_net(|rn, here| {
        let target = core.or(here).unwrap_or(0);
        let Some(b) = rn.backlogs.get(target) else {
            return Err(BacklogError::Full);
        };
        let Some(it) = item.take() else {
            return Err(BacklogError::Full);
        };
        match b.tx.try_push(it) {
            Ok(()) => {
                b.napi.schedule();
                Ok(())
            }
            Err(it) => {
                b.stats.dropped.fetch_add(1, Ordering::Relaxed);
                drop(it);
                Err(BacklogError::Full)
            }
        }
    });
    match (r, item) {
        (Some(r), _) => r,
        (None, Some(item)) => Err(BacklogError::NoRuntime(item)),
        // Invariant: the item is only taken inside the closure, whose result is `Some`.
        (None, None) => Err(BacklogError::Full),
    }
}

/// The number of cores of the calling thread's runtime (1 outside one).
pub(crate) fn runtime_cores() -> usize {
    with_runtime_net(|rn, _| rn.cores()).unwrap_or(1)
}

/// Drains one core's backlog (linux: `process_backlog`).
struct BacklogNapi {
    rx: BoundedReceiver<BacklogItem>,
    stats: Arc<BacklogCounters>,
    /// Namespaces seen on this core, by id (weak: a backlog never keeps a
    /// namespace alive).
    known: HashMap<u64, Weak<NsInner>>,
}

impl BacklogNapi {
    fn resolve(&mut self, id: u64) -> Option<Arc<NsInner>> {
        if let Some(ns) = self.known.get(&id).and_then(Weak::upgrade) {
            return Some(ns);
        }
        let weak = lookup_namespace(id)?;
        let ns = weak.upgrade()?;
        self.known.retain(|_, w| w.strong_count() > 0);
        self.known.insert(id, weak);
        Some(ns)
    }
}

/// Where a backlog frame goes: namespace id and device index, resolved.
type Target = (u64, IfIndex, Arc<NsInner>, Arc<dyn NetDevice>);

impl Napi for BacklogNapi {
    fn poll(&mut self, budget: usize) -> usize {
        napi_scope(|| {
            let (mut done, mut processed) = (0, 0u64);
            // The namespace and device of the previous frame: consecutive
            // frames usually share them, so one `Arc` clone per run.
            let mut cur: Option<Target> = None;
            while done < budget {
                let Some(item) = self.rx.pop() else {
                    if !self.rx.is_empty() {
                        // A producer claimed a slot but has not published it
                        // yet: poll again rather than complete.
                        done = budget;
                    }
                    break;
                };
                done += 1;
                processed += 1;
                let same = matches!(&cur, Some((n, d, _, _)) if *n == item.ns && *d == item.dev);
                if !same {
                    cur = self.resolve(item.ns).and_then(|ns| {
                        let dev = device(&ns, item.dev)?;
                        Some((item.ns, item.dev, ns, dev))
                    });
                }
                match &cur {
                    Some((_, _, ns, dev)) => netif::receive_core(ns, dev, item.pkt),
                    // The namespace or device went away while the frame
                    // waited: nothing to deliver it to.
                    None => drop(item.pkt),
                }
            }
            let p = &self.stats.processed;
            p.store(p.load(Ordering::Relaxed) + processed, Ordering::Relaxed);
            done
        })
    }

    fn complete(&mut self) {
        // No interrupt to re-enable: producers schedule after every push.
    }
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
        let n = with_slot(
            &a,
            || 1u8,
            |x| {
                *x += 1;
                with_slot(&a, || 10u8, |y| *y)
            },
        );
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
