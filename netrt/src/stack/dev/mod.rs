//! Network devices: the [`NetDevice`] trait the stack transmits through,
//! and its implementations (an emulated igb port, the loopback `lo`).
//!
//! A device belongs to one namespace and is known there by its
//! [`IfIndex`]. Receive is driven by the device itself (its NAPI instances
//! call [`netif::receive`](super::netif::receive)); transmit enters through
//! [`NetDevice::xmit`] (linux: `dev_queue_xmit` → `ndo_start_xmit`).

pub mod igb;
pub mod loopback;
pub mod tap;

use std::fmt;
use std::io;
use std::net::SocketAddrV4;

use super::percore::PerCoreCounters;
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
    /// Whether received frames are spread over cores by their RSS hash
    /// (Receive Packet Steering, linux: `rps_cpus`).
    fn rps_enabled(&self) -> bool {
        false
    }
    /// Turns generic receive offload on or off (`ethtool -K dev gro`):
    /// in-order TCP segments of a flow received in one NAPI poll are
    /// merged before IP input. `Unsupported` for a device without it.
    fn set_gro(&self, on: bool) -> io::Result<()> {
        let _ = on;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the device does not do GRO",
        ))
    }
    /// Whether GRO is on.
    fn gro_enabled(&self) -> bool {
        false
    }
    /// The core that will process a TCP frame arriving on this device
    /// from `src` to `dst` (after RSS and any RPS hop), if the device can
    /// tell; `connect` uses it to pick a port whose replies stay on the
    /// calling core (the stack's `rss_hint` module).
    fn rx_core(&self, src: SocketAddrV4, dst: SocketAddrV4) -> Option<usize> {
        let _ = (src, dst);
        None
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

/// Per-core device counters, summed into [`DevStats`] on read.
#[derive(Default)]
pub(crate) struct DevCounters(PerCoreCounters<6>);

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
    /// Adds `n` to `counter` in the calling core's block.
    #[inline]
    pub(crate) fn add(&self, counter: DevCounter, n: u64) {
        self.0.add(counter as usize, n);
    }

    /// Counts one frame of `len` bytes as received.
    #[inline]
    pub(crate) fn rx(&self, len: usize) {
        self.add(DevCounter::RxPackets, 1);
        self.add(DevCounter::RxBytes, len as u64);
    }

    /// Counts one frame of `len` bytes as sent.
    #[inline]
    pub(crate) fn tx(&self, len: usize) {
        self.add(DevCounter::TxPackets, 1);
        self.add(DevCounter::TxBytes, len as u64);
    }

    /// The sums over all cores.
    pub(crate) fn snapshot(&self) -> DevStats {
        let g = |c: DevCounter| self.0.get(c as usize);
        DevStats {
            rx_packets: g(DevCounter::RxPackets),
            rx_bytes: g(DevCounter::RxBytes),
            rx_dropped: g(DevCounter::RxDropped),
            tx_packets: g(DevCounter::TxPackets),
            tx_bytes: g(DevCounter::TxBytes),
            tx_dropped: g(DevCounter::TxDropped),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_cores_and_foreign_threads() {
        let c = DevCounters::default();
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
