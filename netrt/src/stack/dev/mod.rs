//! Network devices: the [`NetDevice`] trait the stack transmits through,
//! and its implementations (an emulated igb port, the loopback `lo`).
//!
//! A device belongs to one namespace and is known there by its
//! [`IfIndex`]. Receive is driven by the device itself (its NAPI instances
//! call [`netif::receive`](super::netif::receive)); transmit enters through
//! [`NetDevice::xmit`] (linux: `dev_queue_xmit` → `ndo_start_xmit`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::skb::PacketBuf;
use super::IfIndex;
use crate::wire::EthernetAddress;

/// Offloads a device offers (linux: `netdev_features_t`, the few we use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevFeatures {
    /// The device inserts TCP/UDP checksums on transmit
    /// (`NETIF_F_HW_CSUM`): the stack may send [`CsumState::Partial`]
    /// packets with an offload request.
    ///
    /// [`CsumState::Partial`]: super::skb::CsumState::Partial
    pub tx_csum: bool,
    /// The device segments TCP super-frames (`NETIF_F_TSO`).
    pub tso: bool,
    /// The device verifies received checksums and says so
    /// (`NETIF_F_RXCSUM`).
    pub rx_csum_verified: bool,
}

/// A device's packet counters (linux: `rtnl_link_stats64`, the common
/// part; `ip -s link`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevStats {
    /// Frames handed to the stack.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames dropped on receive by the device or its backlog.
    pub rx_dropped: u64,
    /// Frames handed to the hardware (or looped back).
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames dropped on transmit (qdisc overflow, oversized, device
    /// refused).
    pub tx_dropped: u64,
}

/// A network device in a namespace.
pub trait NetDevice: Send + Sync + 'static {
    /// Index in the namespace (`lo` is 1).
    fn ifindex(&self) -> IfIndex;
    /// Name (`lo`, `eth0`).
    fn name(&self) -> &str;
    /// Hardware address (loopback: `00:00:00:00:00:00`).
    fn mac(&self) -> EthernetAddress;
    /// IP MTU: the largest IP datagram the device carries unfragmented
    /// (1500 by default, 65536 for `lo`).
    fn mtu(&self) -> usize;
    /// Offloads the device offers.
    fn features(&self) -> DevFeatures;
    /// Whether this is a loopback device.
    fn is_loopback(&self) -> bool {
        false
    }
    /// dev_queue_xmit: `frame` is a complete Ethernet frame (loopback:
    /// also Ethernet, with zero MACs, like Linux `lo`). Picks the *current*
    /// core's TX queue (XPS), enqueues into that queue's qdisc and runs it
    /// (inside a NAPI poll the run is deferred to the end of the poll, one
    /// tail write per burst). Drops are counted, never silent.
    fn xmit(&self, frame: PacketBuf);
    /// Packet counters (`ip -s link`).
    fn stats(&self) -> DevStats;
    /// Whether the device accepts frames for any MAC address
    /// (`IFF_PROMISC`).
    fn promiscuous(&self) -> bool {
        false
    }
}

impl fmt::Debug for dyn NetDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetDevice")
            .field("ifindex", &self.ifindex())
            .field("name", &self.name())
            .field("mac", &self.mac())
            .field("mtu", &self.mtu())
            .finish()
    }
}

/// Per-core device counters: each core adds to its own cache-line-aligned
/// block with a plain load+store (like [`Snmp`](super::snmp::Snmp)), a
/// reader sums the blocks. Core indexes beyond the table (a thread that is
/// not a runtime core) share the last block.
pub(crate) struct DevCounters {
    cores: Box<[CoreDevCounters]>,
}

#[repr(align(128))]
#[derive(Default)]
struct CoreDevCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

/// Which counter of [`DevCounters`] to bump.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DevCounter {
    RxPackets,
    RxBytes,
    RxDropped,
    TxPackets,
    TxBytes,
    TxDropped,
}

impl DevCounters {
    /// Counters for `cores` cores, plus one block for foreign threads.
    pub(crate) fn new(cores: usize) -> DevCounters {
        DevCounters {
            cores: (0..cores + 1).map(|_| CoreDevCounters::default()).collect(),
        }
    }

    /// Adds `n` to `counter` in the calling core's block.
    #[inline]
    pub(crate) fn add(&self, counter: DevCounter, n: u64) {
        let core = crate::runtime::current_core().unwrap_or(usize::MAX);
        let block = &self.cores[core.min(self.cores.len() - 1)];
        let cell = match counter {
            DevCounter::RxPackets => &block.rx_packets,
            DevCounter::RxBytes => &block.rx_bytes,
            DevCounter::RxDropped => &block.rx_dropped,
            DevCounter::TxPackets => &block.tx_packets,
            DevCounter::TxBytes => &block.tx_bytes,
            DevCounter::TxDropped => &block.tx_dropped,
        };
        // The last block is shared by foreign threads, which may race:
        // use an RMW there, a plain load+store on a core's own block.
        if core >= self.cores.len() - 1 {
            cell.fetch_add(n, Ordering::Relaxed);
        } else {
            cell.store(cell.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
        }
    }

    /// The sums over all cores.
    pub(crate) fn snapshot(&self) -> DevStats {
        let mut s = DevStats::default();
        for c in self.cores.iter() {
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            s.rx_packets += get(&c.rx_packets);
            s.rx_bytes += get(&c.rx_bytes);
            s.rx_dropped += get(&c.rx_dropped);
            s.tx_packets += get(&c.tx_packets);
            s.tx_bytes += get(&c.tx_bytes);
            s.tx_dropped += get(&c.tx_dropped);
        }
        s
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_cores_and_foreign_threads() {
        let c = DevCounters::new(2);
        c.add(DevCounter::RxPackets, 2);
        c.add(DevCounter::TxBytes, 100);
        std::thread::scope(|s| {
            s.spawn(|| c.add(DevCounter::RxPackets, 3));
        });
        let s = c.snapshot();
        assert_eq!(s.rx_packets, 5);
        assert_eq!(s.tx_bytes, 100);
        assert_eq!(s.tx_dropped, 0);
    }
}
