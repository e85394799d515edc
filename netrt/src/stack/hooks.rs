//! Netfilter-style hook points on the IPv4 path.
//!
//! A hook is a function run on every packet passing one of five points
//! (Linux `NF_INET_*`): it sees the packet's bytes (and may rewrite them)
//! plus the input and output devices, and returns a [`Verdict`]. Hooks at
//! a point run in ascending priority order (ties in registration order);
//! the first `Drop` ends the walk.
//!
//! ```text
//!  in ──► PREROUTING ──► route ──► INPUT ──► local sockets
//!                          │                       │
//!                          ▼                       ▼
//!                       FORWARD ──► POSTROUTING ◄── OUTPUT ◄── route
//!                                       │
//!                                       ▼ out
//! ```
//!
//! [`Hooks`] is the namespace's registry (written rarely, from any thread);
//! each core runs hooks through its own [`HookReader`], which reads the
//! registered set from a snapshot without taking a lock. A point with no
//! hook costs one load and one branch. // linux: nf_hook / NF_HOOK
//!
//! ```
//! use std::sync::Arc;
//! use netrt::stack::hooks::{HookCtx, HookPoint, Hooks, Verdict};
//!
//! let hooks = Hooks::new();
//! let mut reader = hooks.reader();
//! let _drop_ttl_1 = hooks.register(HookPoint::Input, 0, Arc::new(|ctx: &mut HookCtx<'_>| {
//!     match ctx.ipv4() {
//!         Some(ip) if ip.ttl() <= 1 => Verdict::Drop,
//!         _ => Verdict::Accept,
//!     }
//! }));
//! let mut packet = [0x45u8, 0, 0, 20, 0, 0, 0, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let mut ctx = HookCtx::new(&mut packet, None, None);
//! assert_eq!(reader.run(HookPoint::Input, &mut ctx), Verdict::Drop);
//! ```

use std::fmt;

use super::IfIndex;
use std::sync::Arc;

use crate::loom::atomic::{AtomicU64, AtomicU8, Ordering};
use crate::sync::snapshot::{Snapshot, SnapshotReader};
use crate::wire::Ipv4Packet;

/// Where on the IPv4 path a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookPoint {
    /// Every received datagram, before the route lookup.
    Prerouting,
    /// Datagrams addressed to us, before protocol delivery.
    Input,
    /// Datagrams being forwarded.
    Forward,
    /// Locally generated datagrams, after their route lookup.
    Output,
    /// Every datagram leaving, forwarded or local, before fragmentation.
    Postrouting,
}

impl HookPoint {
    /// Every point, in path order.
    pub const ALL: [HookPoint; 5] = [
        HookPoint::Prerouting,
        HookPoint::Input,
        HookPoint::Forward,
        HookPoint::Output,
        HookPoint::Postrouting,
    ];

    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }

    #[inline(always)]
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A hook's decision about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Verdict {
    /// Let it continue (to the next hook, then on its path).
    Accept,
    /// Discard it; later hooks do not run.
    Drop,
}

/// Conventional priorities (Linux `NF_IP_PRI_*`): lower runs first.
pub mod priority {
    /// Runs before everything.
    pub const FIRST: i32 = i32::MIN;
    /// Connection tracking.
    pub const CONNTRACK: i32 = -200;
    /// Packet mangling.
    pub const MANGLE: i32 = -150;
    /// Destination NAT.
    pub const NAT_DST: i32 = -100;
    /// Filtering.
    pub const FILTER: i32 = 0;
    /// Source NAT.
    pub const NAT_SRC: i32 = 100;
    /// Runs after everything.
    pub const LAST: i32 = i32::MAX;
}

/// What a hook sees: the datagram (writable in place) and its devices.
pub struct HookCtx<'a> {
    packet: &'a mut [u8],
    in_dev: Option<IfIndex>,
    out_dev: Option<IfIndex>,
}

impl<'a> HookCtx<'a> {
    /// A context for `packet` (an IPv4 datagram) arriving on `in_dev`
    /// and/or leaving on `out_dev`, whichever the point knows.
    pub fn new(packet: &'a mut [u8], in_dev: Option<IfIndex>, out_dev: Option<IfIndex>) -> Self {
        HookCtx {
            packet,
            in_dev,
            out_dev,
        }
    }

    /// The device the datagram came in on (`None` at OUTPUT).
    pub fn in_dev(&self) -> Option<IfIndex> {
        self.in_dev
    }

    /// The device it will leave on (`None` at PREROUTING and INPUT).
    pub fn out_dev(&self) -> Option<IfIndex> {
        self.out_dev
    }

    /// The datagram's bytes.
    pub fn packet(&self) -> &[u8] {
        self.packet
    }

    /// The datagram's bytes, writable. After changing header fields, call
    /// [`fix_ipv4_checksum`](Self::fix_ipv4_checksum).
    pub fn packet_mut(&mut self) -> &mut [u8] {
        self.packet
    }

    /// A checked IPv4 view of the datagram; `None` if its lengths are bad.
    pub fn ipv4(&self) -> Option<Ipv4Packet<&[u8]>> {
        Ipv4Packet::new_checked(&*self.packet).ok()
    }

    /// A checked, writable IPv4 view; `None` if its lengths are bad.
    pub fn ipv4_mut(&mut self) -> Option<Ipv4Packet<&mut [u8]>> {
        Ipv4Packet::new_checked(&mut *self.packet).ok()
    }

    /// Recomputes the IPv4 header checksum after a rewrite. Returns false
    /// (and changes nothing) if the buffer does not hold a whole header.
    /// Transport checksums covering rewritten addresses are the hook's job.
    pub fn fix_ipv4_checksum(&mut self) -> bool {
        let mut packet = Ipv4Packet::new_unchecked(&mut *self.packet);
        if packet.check_header_len().is_err() {
            return false;
        }
        packet.fill_checksum();
        true
    }
}

impl fmt::Debug for HookCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookCtx")
            .field("len", &self.packet.len())
            .field("in_dev", &self.in_dev)
            .field("out_dev", &self.out_dev)
            .finish()
    }
}

/// A hook function.
pub type HookFn = std::sync::Arc<dyn Fn(&mut HookCtx<'_>) -> Verdict + Send + Sync>;

/// The hook registry of a namespace. Cloning gives another handle to the
/// same registry.
#[derive(Clone)]
pub struct Hooks {
    shared: Arc<Shared>,
}

struct Shared {
    /// Bit per point with at least one hook: the one-branch fast path.
    /// Written under the snapshot's writer lock, so it always describes
    /// the latest table.
    active: AtomicU8,
    table: Arc<Snapshot<HookTable>>,
    next_id: AtomicU64,
}

#[derive(Clone, Default)]
struct HookTable {
    /// Per point, sorted by (priority, id).
    points: [Vec<Entry>; 5],
}

#[derive(Clone)]
struct Entry {
    priority: i32,
    id: u64,
    hook: HookFn,
}

impl HookTable {
    fn mask(&self) -> u8 {
        HookPoint::ALL
            .iter()
            .filter(|p| !self.points[p.index()].is_empty())
            .fold(0, |m, p| m | p.bit())
    }
}

impl Hooks {
    /// An empty registry.
    pub fn new() -> Self {
        Hooks {
            shared: Arc::new(Shared {
                active: AtomicU8::new(0),
                table: Arc::new(Snapshot::new(HookTable::default())),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Registers `hook` at `point` with `priority` (lower runs first). It
    /// runs on every packet a reader handles after this returns, until the
    /// returned handle is dropped.
    pub fn register(&self, point: HookPoint, priority: i32, hook: HookFn) -> HookHandle {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.edit(|table| {
            let entries = &mut table.points[point.index()];
            let at = entries.partition_point(|e| (e.priority, e.id) < (priority, id));
            entries.insert(at, Entry { priority, id, hook });
        });
        HookHandle {
            shared: self.shared.clone(),
            point,
            id,
        }
    }

    /// A per-core reader. Build one per core and keep it.
    pub fn reader(&self) -> HookReader {
        HookReader {
            shared: self.shared.clone(),
            table: SnapshotReader::new(self.shared.table.clone()),
        }
    }

    /// Whether any hook is registered at `point`: one load, for a caller
    /// that skips finding its core's reader when there is nothing to run.
    #[inline]
    pub fn is_active(&self, point: HookPoint) -> bool {
        self.shared.active.load(Ordering::Acquire) & point.bit() != 0
    }

    /// Hooks registered at `point` (control path: takes the writer lock).
    pub fn count(&self, point: HookPoint) -> usize {
        self.shared.table.load().points[point.index()].len()
    }
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks::new()
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        for point in HookPoint::ALL {
            d.entry(&point, &self.count(point));
        }
        d.finish()
    }
}

impl Shared {
    /// Publishes an edited copy of the table and the matching mask.
    fn edit(&self, f: impl FnOnce(&mut HookTable)) {
        self.table.update(|old| {
            let mut new = old.clone();
            f(&mut new);
            // Under the writer lock: concurrent edits cannot leave a mask
            // that disagrees with the last table.
            self.active.store(new.mask(), Ordering::Release);
            new
        });
    }
}

/// Keeps a hook registered; dropping it unregisters the hook.
#[must_use = "dropping the handle unregisters the hook at once"]
pub struct HookHandle {
    shared: Arc<Shared>,
    point: HookPoint,
    id: u64,
}

impl HookHandle {
    /// The point the hook is registered at.
    pub fn point(&self) -> HookPoint {
        self.point
    }
}

impl Drop for HookHandle {
    fn drop(&mut self) {
        let (point, id) = (self.point, self.id);
        self.shared
            .edit(|table| table.points[point.index()].retain(|e| e.id != id));
    }
}

impl fmt::Debug for HookHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookHandle")
            .field("point", &self.point)
            .field("id", &self.id)
            .finish()
    }
}

/// One core's way to run hooks (owned by that core; not `Sync`).
pub struct HookReader {
    shared: Arc<Shared>,
    table: SnapshotReader<HookTable>,
}

impl HookReader {
    /// Runs the hooks at `point` on `ctx` in priority order and returns
    /// `Drop` at the first hook that drops, else `Accept`. No lock, no
    /// allocation; one load and one branch when `point` has no hook.
    #[inline]
    pub fn run(&mut self, point: HookPoint, ctx: &mut HookCtx<'_>) -> Verdict {
        if self.shared.active.load(Ordering::Acquire) & point.bit() == 0 {
            return Verdict::Accept;
        }
        self.run_hooks(point, ctx)
    }

    fn run_hooks(&mut self, point: HookPoint, ctx: &mut HookCtx<'_>) -> Verdict {
        for entry in &self.table.get().points[point.index()] {
            if (entry.hook)(ctx) == Verdict::Drop {
                return Verdict::Drop;
            }
        }
        Verdict::Accept
    }
}

impl fmt::Debug for HookReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookReader").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stack::frag::tests::datagram;
    use std::sync::Mutex;

    fn hook(f: impl Fn(&mut HookCtx<'_>) -> Verdict + Send + Sync + 'static) -> HookFn {
        std::sync::Arc::new(f)
    }

    /// A hook appending `tag` to `log` and returning `verdict`.
    fn logger(
        log: &std::sync::Arc<Mutex<Vec<&'static str>>>,
        tag: &'static str,
        verdict: Verdict,
    ) -> HookFn {
        let log = log.clone();
        hook(move |_| {
            log.lock().unwrap().push(tag);
            verdict
        })
    }

    fn run(reader: &mut HookReader, point: HookPoint, pkt: &mut [u8]) -> Verdict {
        reader.run(point, &mut HookCtx::new(pkt, Some(IfIndex(1)), None))
    }

    #[test]
    fn no_hooks_accepts() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let mut pkt = datagram(10, &[], false, 1);
        for point in HookPoint::ALL {
            assert_eq!(run(&mut reader, point, &mut pkt), Verdict::Accept);
            assert_eq!(hooks.count(point), 0);
        }
        assert_eq!(hooks.shared.active.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn hooks_run_in_priority_order_at_their_point_only() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let _a = hooks.register(HookPoint::Input, 10, logger(&log, "a", Verdict::Accept));
        let _b = hooks.register(
            HookPoint::Input,
            priority::MANGLE,
            logger(&log, "b", Verdict::Accept),
        );
        let _c = hooks.register(HookPoint::Input, 0, logger(&log, "c", Verdict::Accept));
        let _d = hooks.register(HookPoint::Input, 0, logger(&log, "d", Verdict::Accept));
        let _e = hooks.register(
            HookPoint::Output,
            priority::FIRST,
            logger(&log, "e", Verdict::Accept),
        );
        let mut pkt = datagram(10, &[], false, 1);
        assert_eq!(
            run(&mut reader, HookPoint::Input, &mut pkt),
            Verdict::Accept
        );
        assert_eq!(*log.lock().unwrap(), ["b", "c", "d", "a"]);
        log.lock().unwrap().clear();
        assert_eq!(
            run(&mut reader, HookPoint::Forward, &mut pkt),
            Verdict::Accept
        );
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(
            run(&mut reader, HookPoint::Output, &mut pkt),
            Verdict::Accept
        );
        assert_eq!(*log.lock().unwrap(), ["e"]);
        assert_eq!(hooks.count(HookPoint::Input), 4);
    }

    #[test]
    fn drop_short_circuits() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let _a = hooks.register(
            HookPoint::Prerouting,
            -1,
            logger(&log, "a", Verdict::Accept),
        );
        let _b = hooks.register(HookPoint::Prerouting, 0, logger(&log, "b", Verdict::Drop));
        let _c = hooks.register(HookPoint::Prerouting, 1, logger(&log, "c", Verdict::Accept));
        let mut pkt = datagram(10, &[], false, 1);
        assert_eq!(
            run(&mut reader, HookPoint::Prerouting, &mut pkt),
            Verdict::Drop
        );
        assert_eq!(*log.lock().unwrap(), ["a", "b"]);
    }

    #[test]
    fn dropping_the_handle_unregisters() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let mut pkt = datagram(10, &[], false, 1);
        let dropper = hooks.register(HookPoint::Forward, 0, hook(|_| Verdict::Drop));
        let other = hooks.register(HookPoint::Input, 0, hook(|_| Verdict::Drop));
        assert_eq!(dropper.point(), HookPoint::Forward);
        assert_eq!(
            run(&mut reader, HookPoint::Forward, &mut pkt),
            Verdict::Drop
        );
        drop(dropper);
        assert_eq!(
            run(&mut reader, HookPoint::Forward, &mut pkt),
            Verdict::Accept
        );
        assert_eq!(hooks.count(HookPoint::Forward), 0);
        assert_eq!(
            hooks.shared.active.load(Ordering::Relaxed),
            HookPoint::Input.bit()
        );
        assert_eq!(run(&mut reader, HookPoint::Input, &mut pkt), Verdict::Drop);
        // A handle outliving the registry handle still unregisters cleanly.
        drop(hooks);
        drop(other);
        assert_eq!(
            run(&mut reader, HookPoint::Input, &mut pkt),
            Verdict::Accept
        );
    }

    #[test]
    fn hook_rewrites_and_fixes_checksum() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let new_dst = std::net::Ipv4Addr::new(10, 9, 8, 7);
        // A DNAT-like rewrite, then a later hook that sees the new value.
        let _nat = hooks.register(
            HookPoint::Prerouting,
            priority::NAT_DST,
            hook(move |ctx| {
                let Some(mut ip) = ctx.ipv4_mut() else {
                    return Verdict::Drop;
                };
                ip.set_dst_addr(new_dst);
                assert!(ctx.fix_ipv4_checksum());
                Verdict::Accept
            }),
        );
        let _check = hooks.register(
            HookPoint::Prerouting,
            priority::FILTER,
            hook(move |ctx| match ctx.ipv4() {
                Some(ip) if ip.dst_addr() == new_dst && ip.verify_checksum() => Verdict::Accept,
                _ => Verdict::Drop,
            }),
        );
        let mut pkt = datagram(10, &[], false, 1);
        assert_eq!(
            run(&mut reader, HookPoint::Prerouting, &mut pkt),
            Verdict::Accept
        );
        let ip = Ipv4Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(ip.dst_addr(), new_dst);
        assert!(ip.verify_checksum());
        // A truncated packet has no view and no checksum to fix.
        let mut short = [0x45u8; 10];
        let mut ctx = HookCtx::new(&mut short, None, None);
        assert!(ctx.ipv4().is_none() && ctx.ipv4_mut().is_none());
        assert!(!ctx.fix_ipv4_checksum());
        assert_eq!(short, [0x45u8; 10]);
    }

    #[test]
    fn hooks_see_devices() {
        let hooks = Hooks::new();
        let mut reader = hooks.reader();
        let _h = hooks.register(
            HookPoint::Forward,
            0,
            hook(|ctx| {
                if ctx.in_dev() == Some(IfIndex(1)) && ctx.out_dev() == Some(IfIndex(2)) {
                    Verdict::Drop
                } else {
                    Verdict::Accept
                }
            }),
        );
        let mut pkt = datagram(10, &[], false, 1);
        let mut ctx = HookCtx::new(&mut pkt, Some(IfIndex(1)), Some(IfIndex(2)));
        assert_eq!(ctx.packet().len(), 30);
        ctx.packet_mut()[8] = 9;
        assert_eq!(reader.run(HookPoint::Forward, &mut ctx), Verdict::Drop);
        let mut ctx = HookCtx::new(&mut pkt, Some(IfIndex(2)), Some(IfIndex(1)));
        assert_eq!(reader.run(HookPoint::Forward, &mut ctx), Verdict::Accept);
        assert_eq!(pkt[8], 9);
    }

    #[test]
    fn concurrent_registration_keeps_mask_and_table_in_step() {
        let hooks = Hooks::new();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let hooks = hooks.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let keep = hooks.register(HookPoint::Output, i, hook(|_| Verdict::Drop));
                        let gone = hooks.register(HookPoint::Output, -i, hook(|_| Verdict::Drop));
                        drop(gone);
                        drop(keep);
                    }
                    hooks.register(HookPoint::Output, i, hook(|_| Verdict::Drop))
                })
            })
            .collect();
        let handles: Vec<HookHandle> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(hooks.count(HookPoint::Output), 4);
        let mut reader = hooks.reader();
        let mut pkt = datagram(10, &[], false, 1);
        assert_eq!(run(&mut reader, HookPoint::Output, &mut pkt), Verdict::Drop);
        drop(handles);
        assert_eq!(hooks.shared.active.load(Ordering::Relaxed), 0);
        assert_eq!(
            run(&mut reader, HookPoint::Output, &mut pkt),
            Verdict::Accept
        );
    }
}
