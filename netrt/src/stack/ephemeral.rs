//! Ephemeral port selection shared by UDP and TCP (RFC 6056).
//!
//! [`PortAllocator`] implements algorithm 4 ("double-hash port
//! selection"), of which algorithm 3 ("simple hash-based") is the
//! one-counter case: a keyed hash of the endpoints picks a starting
//! offset, a second keyed hash picks one of [`PERTURB_SLOTS`] counters
//! that advances on every pick by a small random step, so choices are
//! unpredictable off-path and do not repeat for the same peer.
//! // linux: __inet_hash_connect's table_perturb
//!
//! [`PortAllocator::pick_preferring`] adds the locality trick of `connect`
//! (DESIGN.md): among free ports, take first one whose reply traffic the
//! NIC's RSS steers to the calling core, and any free port only when no
//! such port is left.

use std::hash::BuildHasher;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;

/// The ephemeral range (Linux `ip_local_port_range` default).
pub const EPHEMERAL: RangeInclusive<u16> = 32768..=60999;

/// Number of perturbation counters of the port allocator.
pub const PERTURB_SLOTS: usize = 256;

/// RFC 6056 algorithm 4 over a port range.
pub struct PortAllocator {
    range: RangeInclusive<u16>,
    /// Keyed hash F (offset) and G (counter index): two independent keys.
    offset_key: std::hash::RandomState,
    slot_key: std::hash::RandomState,
    /// `table[G(..)]`: how far each slot's sequence has advanced.
    perturb: Box<[u32; PERTURB_SLOTS]>,
    /// Feeds the random step (a keyed hash of a counter).
    draws: u64,
}

impl PortAllocator {
    /// An allocator over `range` with fresh random keys.
    pub fn new(range: RangeInclusive<u16>) -> PortAllocator {
        PortAllocator {
            range,
            offset_key: std::hash::RandomState::new(),
            slot_key: std::hash::RandomState::new(),
            perturb: Box::new([0; PERTURB_SLOTS]),
            draws: 0,
        }
    }

    /// A port in the range for which `free` says yes (for `local`
    /// talking to `dst`, when known), or `AddrInUse` when every port is
    /// taken.
    pub fn pick(
        &mut self,
        local: Ipv4Addr,
        dst: Option<SocketAddrV4>,
        mut free: impl FnMut(u16) -> bool,
    ) -> io::Result<u16> {
        let (lo, hi) = (u32::from(*self.range.start()), u32::from(*self.range.end()));
        // An inverted range is empty: nothing to pick.
        let n = (hi + 1).saturating_sub(lo);
        let endpoints = (local, dst);
        let offset = self.offset_key.hash_one(endpoints) as u32;
        let slot = self.slot_key.hash_one(endpoints) as usize % PERTURB_SLOTS;
        // Like Linux, start a small random step past the previous pick so
        // the sequence for one peer is not simply +1.
        self.draws = self.draws.wrapping_add(1);
        let step = 1 + (self.slot_key.hash_one(self.draws) as u32 & 7);
        let start = self.perturb[slot].wrapping_add(step);
        for i in 0..n {
            // `n` <= 65536, so the remainder and the sum fit a u16 range.
            let port = (lo + offset.wrapping_add(start).wrapping_add(i) % n) as u16;
            if free(port) {
                // The next pick for this slot continues after this one.
                self.perturb[slot] = start.wrapping_add(i).wrapping_add(1);
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free ephemeral port",
        ))
    }

    /// Like [`pick`](Self::pick), but a free port for which `preferred`
    /// says yes wins over any other free port: `connect` passes "the RSS
    /// hash of the reply 4-tuple with this port lands on my core" so the
    /// flow stays on the calling core. `free` may be called twice per
    /// port; keep both predicates cheap.
    pub fn pick_preferring(
        &mut self,
        local: Ipv4Addr,
        dst: Option<SocketAddrV4>,
        mut free: impl FnMut(u16) -> bool,
        mut preferred: impl FnMut(u16) -> bool,
    ) -> io::Result<u16> {
        self.pick(local, dst, |p| preferred(p) && free(p))
            .or_else(|_| self.pick(local, dst, free))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn preferred_ports_first_then_any_free() {
        let mut alloc = PortAllocator::new(40000..=40099);
        let dst = Some(SocketAddrV4::new(B, 80));
        // "My core" owns the ports that are 1 mod 4 (a stand-in for RSS).
        let mine = |p: u16| p % 4 == 1;
        let mut taken = HashSet::new();
        for _ in 0..25 {
            let p = alloc
                .pick_preferring(A, dst, |p| !taken.contains(&p), mine)
                .unwrap();
            assert!(mine(p), "{p}");
            assert!(taken.insert(p));
        }
        // All 25 local ports used: the other cores' ports come next.
        let p = alloc
            .pick_preferring(A, dst, |p| !taken.contains(&p), mine)
            .unwrap();
        assert!(!mine(p) && (40000..=40099).contains(&p));
        taken.insert(p);
        for _ in 0..74 {
            let p = alloc
                .pick_preferring(A, dst, |p| !taken.contains(&p), mine)
                .unwrap();
            assert!(taken.insert(p));
        }
        let e = alloc
            .pick_preferring(A, dst, |p| !taken.contains(&p), mine)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn empty_or_single_port_ranges() {
        #[allow(clippy::reversed_empty_ranges)]
        let mut alloc = PortAllocator::new(5..=4);
        assert!(alloc.pick(A, None, |_| true).is_err());
        let mut alloc = PortAllocator::new(7..=7);
        assert_eq!(alloc.pick(A, None, |_| true).unwrap(), 7);
        let mut alloc = PortAllocator::new(0..=65535);
        assert!(alloc.pick(A, None, |p| p == 65535).unwrap() == 65535);
    }
}
