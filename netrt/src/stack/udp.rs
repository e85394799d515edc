//! UDP: the per-namespace socket table and ephemeral ports.
//!
//! [`UdpTable`] maps a bound (local address, port) to its socket. A
//! socket bound to `0.0.0.0` sits under the wildcard key
//! `(0.0.0.0, port)`. Binding and unbinding are rare and serialised by one
//! mutex; the table itself is published as a [`Snapshot`] so that every
//! received datagram looks its socket up through its core's reader, with
//! no shared lock. // linux: udp_table, udp_lib_get_port
//!
//! Ephemeral ports follow RFC 6056 algorithm 4 ("double-hash port
//! selection"): a keyed hash of the endpoints picks a starting offset, a
//! second keyed hash picks one of [`PERTURB_SLOTS`] counters that is
//! advanced on every pick, so consecutive choices are unpredictable to an
//! off-path observer and do not repeat for the same peer.
//! // linux: __inet_hash_connect's table_perturb

// Until the socket API and the receive path land (next commits).
#![allow(dead_code)]

use std::hash::BuildHasher;
use std::io;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::sync::snapshot::Snapshot;

/// The ephemeral range (Linux `ip_local_port_range` default).
pub(crate) const EPHEMERAL: RangeInclusive<u16> = 32768..=60999;

/// Number of perturbation counters of the port allocator (a power of two).
pub(crate) const PERTURB_SLOTS: usize = 256;

/// A bound socket's key: local address (`UNSPECIFIED` = wildcard) and port.
pub(crate) type SockKey = (Ipv4Addr, u16);

/// Bound sockets by key, as read by the per-packet path.
pub(crate) type SockMap = HashMap<SockKey, Arc<UdpSock>>;

/// The shared part of one UDP socket (linux: `struct udp_sock`).
///
/// The table holds one `Arc`, the user's handle another; the mutable state
/// sits behind the socket's own lock.
pub(crate) struct UdpSock {
    /// The key the socket is bound under.
    pub(crate) key: SockKey,
}

/// The per-namespace UDP socket table. See the [module docs](self).
pub(crate) struct UdpTable {
    /// What the receive path reads (through per-core readers).
    pub(crate) bound: Arc<Snapshot<SockMap>>,
    /// Serialises bind/unbind and owns the ephemeral allocator.
    ports: Mutex<PortAllocator>,
}

impl Default for UdpTable {
    fn default() -> Self {
        UdpTable::new()
    }
}

impl UdpTable {
    /// An empty table with freshly keyed port randomisation.
    pub(crate) fn new() -> UdpTable {
        UdpTable {
            bound: Arc::new(Snapshot::new(SockMap::new())),
            ports: Mutex::new(PortAllocator::new(EPHEMERAL)),
        }
    }

    /// Binds a socket made by `make` under `(addr, port)`; port 0 picks an
    /// ephemeral port (randomised for the peer `dst`, if known).
    ///
    /// A port is taken if any socket holds it with the same address, or
    /// if either side is the wildcard (no `SO_REUSEADDR`).
    pub(crate) fn bind(
        &self,
        addr: Ipv4Addr,
        port: u16,
        dst: Option<(Ipv4Addr, u16)>,
        make: impl FnOnce(SockKey) -> Arc<UdpSock>,
    ) -> io::Result<Arc<UdpSock>> {
        let mut ports = self.ports.lock();
        let map = self.bound.load();
        let port = if port == 0 {
            ports.pick(addr, dst, |p| !conflicts(&map, addr, p))?
        } else if conflicts(&map, addr, port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr}:{port} is already in use"),
            ));
        } else {
            port
        };
        let sock = make((addr, port));
        self.bound.update(|old| {
            let mut next = old.clone();
            next.insert((addr, port), sock.clone());
            next
        });
        // Still under `ports`: nobody else can have bound in between.
        drop(ports);
        Ok(sock)
    }

    /// Removes `sock` from the table (if it is still the one bound there).
    pub(crate) fn unbind(&self, sock: &Arc<UdpSock>) {
        let _ports = self.ports.lock();
        let present = self
            .bound
            .load()
            .get(&sock.key)
            .is_some_and(|s| Arc::ptr_eq(s, sock));
        if present {
            self.bound.update(|old| {
                let mut next = old.clone();
                next.remove(&sock.key);
                next
            });
        }
    }

    /// The number of bound sockets (control path).
    pub(crate) fn len(&self) -> usize {
        self.bound.load().len()
    }
}

/// Whether binding `(addr, port)` clashes with a bound socket.
fn conflicts(map: &SockMap, addr: Ipv4Addr, port: u16) -> bool {
    if addr.is_unspecified() {
        // The wildcard clashes with every address on the port.
        map.keys().any(|&(_, p)| p == port)
    } else {
        map.contains_key(&(addr, port)) || map.contains_key(&(Ipv4Addr::UNSPECIFIED, port))
    }
}

/// RFC 6056 algorithm 4 over a port range.
struct PortAllocator {
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
    fn new(range: RangeInclusive<u16>) -> PortAllocator {
        PortAllocator {
            range,
            offset_key: std::hash::RandomState::new(),
            slot_key: std::hash::RandomState::new(),
            perturb: Box::new([0; PERTURB_SLOTS]),
            draws: 0,
        }
    }

    /// A port in the range for which `free` says yes, or `AddrInUse` when
    /// every port is taken.
    fn pick(
        &mut self,
        local: Ipv4Addr,
        dst: Option<(Ipv4Addr, u16)>,
        mut free: impl FnMut(u16) -> bool,
    ) -> io::Result<u16> {
        let (lo, hi) = (*self.range.start() as u32, *self.range.end() as u32);
        let n = hi - lo + 1;
        let endpoints = (local, dst);
        let offset = self.offset_key.hash_one(endpoints) as u32;
        let slot = self.slot_key.hash_one(endpoints) as usize % PERTURB_SLOTS;
        // Like Linux, start the walk a small random step past the previous
        // pick so that the sequence for one peer is not simply +1.
        self.draws = self.draws.wrapping_add(1);
        let step = 1 + (self.offset_key.hash_one(self.draws) as u32 & 7);
        let start = self.perturb[slot].wrapping_add(step);
        for i in 0..n {
            let port = lo + offset.wrapping_add(start).wrapping_add(i) % n;
            let port = port as u16;
            if free(port) {
                // The next pick for this slot continues after this one.
                self.perturb[slot] = start.wrapping_add(i).wrapping_add(1);
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free ephemeral UDP port",
        ))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn sock(key: SockKey) -> Arc<UdpSock> {
        Arc::new(UdpSock { key })
    }

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    #[test]
    fn specific_and_wildcard_conflicts() {
        let t = UdpTable::new();
        let a = t.bind(A, 5000, None, sock).unwrap();
        // Same address/port, and the wildcard on that port: in use.
        let e = t.bind(A, 5000, None, sock).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            t.bind(ANY, 5000, None, sock).err().unwrap().kind(),
            io::ErrorKind::AddrInUse
        );
        // Another address on the same port is fine.
        let b = t.bind(B, 5000, None, sock).unwrap();
        // A wildcard socket blocks every address on its port.
        let w = t.bind(ANY, 6000, None, sock).unwrap();
        assert_eq!(
            t.bind(A, 6000, None, sock).err().unwrap().kind(),
            io::ErrorKind::AddrInUse
        );
        assert_eq!(t.len(), 3);
        t.unbind(&a);
        t.unbind(&b);
        t.unbind(&w);
        assert_eq!(t.len(), 0);
        t.bind(A, 6000, None, sock).unwrap();
    }

    #[test]
    fn unbind_leaves_a_newer_socket_alone() {
        let t = UdpTable::new();
        let old = t.bind(A, 7000, None, sock).unwrap();
        t.unbind(&old);
        let new = t.bind(A, 7000, None, sock).unwrap();
        t.unbind(&old);
        assert_eq!(t.len(), 1);
        t.unbind(&new);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn ephemeral_ports_are_in_range_random_and_distinct() {
        let t = UdpTable::new();
        let mut ports = Vec::new();
        for _ in 0..200 {
            let s = t.bind(ANY, 0, None, sock).unwrap();
            assert!(EPHEMERAL.contains(&s.key.1), "{}", s.key.1);
            ports.push(s.key.1);
        }
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "ports repeat");
        // Not a plain sequence: the steps between picks vary.
        let steps: Vec<i32> = ports
            .windows(2)
            .map(|w| w[1] as i32 - w[0] as i32)
            .collect();
        assert!(steps.iter().any(|&s| s != steps[0]), "{steps:?}");
        // Two tables (two namespaces) have independent keys.
        let other = UdpTable::new();
        let theirs: Vec<u16> = (0..8)
            .map(|_| other.bind(ANY, 0, None, sock).unwrap().key.1)
            .collect();
        assert_ne!(&ports[..8], &theirs[..]);
    }

    #[test]
    fn exhaustion_is_addr_in_use() {
        let mut alloc = PortAllocator::new(40000..=40009);
        let mut taken = std::collections::HashSet::new();
        for _ in 0..10 {
            let p = alloc
                .pick(A, Some((B, 53)), |p| !taken.contains(&p))
                .unwrap();
            assert!((40000..=40009).contains(&p));
            assert!(taken.insert(p));
        }
        let e = alloc
            .pick(A, Some((B, 53)), |p| !taken.contains(&p))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }
}
