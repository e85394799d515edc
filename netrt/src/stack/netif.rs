//! Device-independent receive: what a frame goes through between the
//! driver and the protocol handlers (linux: `net/core/dev.c`,
//! `netif_receive_skb` → `__netif_receive_skb_core`).
//!
//! ```text
//! NAPI poll ─▶ receive ─┬─(RPS: another core)─▶ that core's backlog ─▶ backlog NAPI ─┐
//! lo xmit ─▶ backlog ───┼───────────────────────────────────────────────────────────▶ receive_core
//!                       └─(this core)──────────────────────────────────────────────▶ receive_core
//! receive_core: taps ─▶ MAC filter ─▶ pull Ethernet ─▶ ethertype ─▶ arp::rcv / ipv4::rcv
//! ```
//!
//! Every drop is counted in the namespace's [`NetifStats`]; malformed
//! input is dropped, never a panic.

use std::sync::Arc;

use super::dev::NetDevice;
use super::ns::NsInner;
use super::percore::{self, BacklogError, BacklogItem, PerCoreCounters};
use super::ptype::TapDirection;
use super::skb::PacketBuf;
use super::{arp, ipv4};
use crate::runtime::Handle;
use crate::wire::{ethernet, EtherType, EthernetAddress, EthernetFrame};

pub use super::percore::{BacklogStats, MAX_BACKLOG};

/// Counters of core `core`'s backlog in runtime `rt` (`None` if `core` is
/// out of range, or the runtime's backlogs could not be set up).
pub fn backlog_stats(rt: &Handle, core: usize) -> Option<BacklogStats> {
    percore::runtime_net_of(rt).ok()?.backlog_stats(core)
}

/// The receive-path counters of a namespace (linux: the `softnet_stat`
/// columns and `rx_dropped`/`rx_otherhost_dropped` of its devices).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetifStats {
    /// Frames that reached [`receive_core`] (after any RPS hop).
    pub rx_frames: u64,
    /// Frames dropped for any reason below.
    pub rx_dropped: u64,
    /// Frames too short for an Ethernet header.
    pub rx_malformed: u64,
    /// Unicast frames for another MAC address on a non-promiscuous device
    /// (linux: `rx_otherhost_dropped`).
    pub rx_other_host: u64,
    /// Frames of an EtherType no handler takes.
    pub rx_unknown_proto: u64,
    /// Frames steered by RPS to another core's backlog.
    pub rps_steered: u64,
    /// Frames dropped because the target backlog was full
    /// (linux: `softnet_stat` dropped column).
    pub backlog_drops: u64,
    /// Packets GRO built from more than one wire segment.
    pub gro_packets: u64,
    /// Wire segments those packets carry beyond the first (segments GRO
    /// saved the stack from processing one by one).
    pub gro_merged: u64,
}

/// Which counter of [`Counters`].
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
enum C {
    RxFrames,
    RxDropped,
    Malformed,
    OtherHost,
    UnknownProto,
    RpsSteered,
    BacklogDrops,
    GroPackets,
    GroMerged,
}
const NCOUNTERS: usize = C::GroMerged as usize + 1;

/// Per-namespace, per-core receive counters.
#[derive(Default)]
pub(crate) struct Counters(PerCoreCounters<NCOUNTERS>);

impl Counters {
    #[inline]
    fn inc(&self, c: C) {
        self.0.add(c as usize, 1);
    }

    /// Counts a drop of kind `c`.
    #[inline]
    fn drop_as(&self, c: C) {
        self.inc(c);
        self.inc(C::RxDropped);
    }

    /// Counts a frame dropped because a backlog was full.
    pub(crate) fn backlog_drop(&self) {
        self.drop_as(C::BacklogDrops);
    }

    /// The sums.
    pub(crate) fn snapshot(&self) -> NetifStats {
        let g = |c: C| self.0.get(c as usize);
        NetifStats {
            rx_frames: g(C::RxFrames),
            rx_dropped: g(C::RxDropped),
            rx_malformed: g(C::Malformed),
            rx_other_host: g(C::OtherHost),
            rx_unknown_proto: g(C::UnknownProto),
            rps_steered: g(C::RpsSteered),
            backlog_drops: g(C::BacklogDrops),
            gro_packets: g(C::GroPackets),
            gro_merged: g(C::GroMerged),
        }
    }
}

/// Entry point from a device's NAPI poll (linux: `netif_receive_skb`).
/// `pkt` holds a whole Ethernet frame, `pkt.meta()` what the device
/// reported.
pub(crate) fn receive(ns: &NsInner, dev: &Arc<dyn NetDevice>, pkt: PacketBuf) {
    let segs = pkt.meta().gro_segs;
    if segs > 1 {
        ns.netif.inc(C::GroPackets);
        ns.netif.0.add(C::GroMerged as usize, u64::from(segs - 1));
    }
    // linux: get_rps_cpu + enqueue_to_backlog
    if dev.rps_enabled() {
        if let Some(target) = rps_target(pkt.meta().rss_hash) {
            let item = BacklogItem {
                ns: ns.owner.id(),
                dev: dev.ifindex(),
                pkt,
            };
            match percore::enqueue_backlog(Some(target), item) {
                Ok(()) => ns.netif.inc(C::RpsSteered),
                Err(BacklogError::Full) => ns.netif.backlog_drop(),
                Err(BacklogError::NoRuntime(item)) => receive_core(ns, dev, item.pkt),
            }
            return;
        }
    }
    receive_core(ns, dev, pkt);
}

/// The core RPS steers a flow with hash `hash` to, if not the calling
/// core: the hash scaled onto the runtime's cores (linux:
/// `reciprocal_scale(hash, map->len)`). A zero hash (none computed) stays.
fn rps_target(hash: u32) -> Option<usize> {
    let here = crate::runtime::current_core()?;
    let target = rps_core(hash, percore::runtime_cores())?;
    (target != here).then_some(target)
}

/// The core RPS assigns a flow with hash `hash` among `cores` cores
/// (linux: `reciprocal_scale(hash, map->len)`); `None` for hash 0 (none
/// computed: the frame stays where it was received).
pub(crate) fn rps_core(hash: u32, cores: usize) -> Option<usize> {
    (hash != 0).then(|| ((u64::from(hash) * cores as u64) >> 32) as usize)
}

/// Processes a frame on this core (linux: `__netif_receive_skb_core`):
/// taps, MAC filter, Ethernet pull, protocol dispatch.
pub(crate) fn receive_core(ns: &NsInner, dev: &Arc<dyn NetDevice>, mut pkt: PacketBuf) {
    ns.netif.inc(C::RxFrames);
    // linux: deliver_skb for each ptype_all entry
    ns.taps.deliver(pkt.data(), TapDirection::In, dev.ifindex());

    let Ok(frame) = EthernetFrame::new_checked(pkt.data()) else {
        ns.netif.drop_as(C::Malformed);
        return;
    };
    let (dst, ethertype) = (frame.dst_addr(), frame.ethertype());

    // linux: eth_type_trans sets PACKET_OTHERHOST and ip_rcv drops it, so
    // a promiscuous device shows other hosts' frames to taps only.
    if !accepts(dev.as_ref(), dst) {
        ns.netif.drop_as(C::OtherHost);
        return;
    }

    pkt.meta_mut().in_dev = Some(dev.ifindex());
    pkt.reset_mac_header();
    // Invariant: new_checked proved the frame holds a full header.
    let pulled = pkt.pull_front(ethernet::HEADER_LEN);
    debug_assert!(pulled);

    // linux: deliver_ptype_list_skb on ptype_base[ethertype]
    match ethertype {
        EtherType::Ipv4 => ipv4::rcv(ns, dev, pkt),
        EtherType::Arp => arp::rcv(ns, dev, pkt),
        _ => ns.netif.drop_as(C::UnknownProto),
    }
}

/// Whether the stack takes a frame sent to `dst` on `dev`: its own
/// address, broadcast or multicast, anything on loopback.
#[inline]
fn accepts(dev: &dyn NetDevice, dst: EthernetAddress) -> bool {
    dst == dev.mac() || dst.is_multicast() || dev.is_loopback()
}
