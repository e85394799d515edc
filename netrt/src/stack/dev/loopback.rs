//! The loopback device `lo` (linux: `drivers/net/loopback.c`).
//!
//! Transmit hands the frame to the current core's backlog (linux:
//! `loopback_xmit` → `__netif_rx`); the core's backlog poll then runs it
//! through [`netif::receive_core`](crate::stack::netif). Frames keep their
//! Ethernet header (zero MACs) like Linux `lo`, and their checksums count
//! as verified: they never left memory.

use std::net::SocketAddrV4;
use std::sync::{Arc, Weak};

use super::{DevCounter, DevCounters, DevFeatures, DevStats, NetDevice};
use crate::stack::ns::NsInner;
use crate::stack::percore::{self, BacklogError, BacklogItem};
use crate::stack::ptype::{TapDirection, Taps};
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::{netif, IfIndex};
use crate::wire::EthernetAddress;

/// MTU of `lo` (linux: 64 KiB).
pub const LOOPBACK_MTU: usize = 65536;

/// The loopback device of a namespace.
pub struct Loopback {
    ifindex: IfIndex,
    ns: Weak<NsInner>,
    ns_id: u64,
    taps: Taps,
    counters: DevCounters,
}

impl Loopback {
    pub(crate) fn new(ifindex: IfIndex, ns: Weak<NsInner>, ns_id: u64, taps: Taps) -> Loopback {
        Loopback {
            ifindex,
            ns,
            ns_id,
            taps,
            counters: DevCounters::default(),
        }
    }
}

impl NetDevice for Loopback {
    fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    fn name(&self) -> &str {
        "lo"
    }

    fn mac(&self) -> EthernetAddress {
        EthernetAddress::UNSPECIFIED
    }

    fn mtu(&self) -> usize {
        LOOPBACK_MTU
    }

    fn features(&self) -> DevFeatures {
        DevFeatures {
            tx_csum: true,
            tso: true,
            rx_csum_verified: true,
        }
    }

    fn is_loopback(&self) -> bool {
        true
    }

    /// linux: loopback_xmit
    fn xmit(&self, mut frame: PacketBuf) {
        self.taps
            .deliver(frame.data(), TapDirection::Out, self.ifindex);
        let len = frame.len();
        let meta = frame.meta_mut();
        // Nothing to offload: the bytes never leave memory, so a checksum
        // left partial is as good as verified.
        meta.csum = CsumState::Verified;
        meta.offload = None;
        meta.in_dev = Some(self.ifindex);
        self.counters.tx(len);
        let item = BacklogItem {
            ns: self.ns_id,
            dev: self.ifindex,
            pkt: frame,
        };
        match percore::enqueue_backlog(None, item) {
            Ok(()) => self.counters.rx(len),
            Err(BacklogError::Full) => {
                self.counters.add(DevCounter::RxDropped, 1);
                if let Some(ns) = self.ns.upgrade() {
                    ns.netif.backlog_drop();
                }
            }
            // No runtime on this thread (a plain thread using a namespace):
            // deliver at once, as netif_rx does without softirq context.
            Err(BacklogError::NoRuntime(item)) => {
                let Some(ns) = self.ns.upgrade() else { return };
                let Some(dev) = percore::device(&ns, self.ifindex) else {
                    return;
                };
                self.counters.rx(len);
                percore::napi_scope(|| netif::receive_core(&ns, &dev, item.pkt));
            }
        }
    }

    fn stats(&self) -> DevStats {
        self.counters.snapshot()
    }

    /// `xmit` queues to the sending core's backlog, so a frame is
    /// processed where it was sent: the calling core.
    fn rx_core(&self, _src: SocketAddrV4, _dst: SocketAddrV4) -> Option<usize> {
        crate::runtime::current_core()
    }
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback")
            .field("ifindex", &self.ifindex)
            .finish_non_exhaustive()
    }
}

/// Builds `lo` for a namespace being created.
pub(crate) fn create(ns: &Weak<NsInner>, ns_id: u64, taps: &Taps) -> Arc<dyn NetDevice> {
    Arc::new(Loopback::new(IfIndex(1), ns.clone(), ns_id, taps.clone()))
}
