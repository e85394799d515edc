//! IPv4 input: validation, PREROUTING, the routing decision, reassembly,
//! INPUT and protocol dispatch.
//!
//! ```text
//! rcv: validate → trim → martian source? → PREROUTING → route
//!        ├─ ours / broadcast → local_deliver: reassemble → INPUT → ICMP | UDP | unreachable
//!        └─ elsewhere → ip_forward on? forward.rs : drop (InAddrErrors)
//! ```
//!
//! The header checksum is always verified in software, as Linux's
//! `ip_rcv_core` does: the device's "checksum good" covers the transport
//! checksum (the only one [`CsumState`](crate::stack::skb::CsumState)
//! records), and 20 bytes are cheap to sum.
//! // linux: ip_rcv → ip_rcv_finish → ip_local_deliver

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use super::{forward, timer};
use crate::stack::dev::NetDevice;
use crate::stack::hooks::{HookPoint, Verdict};
use crate::stack::icmp::{self, ErrorType};
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::reasm::{ReasmAction, ReasmOutcome, ReasmStats};
use crate::stack::route::RouteKind;
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::snmp::{CoreCounters, Ip};
use crate::stack::udp;
use crate::wire::{
    ChecksumMode, DstUnreachable, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, TimeExceeded,
};

use super::output::run_hook;

/// IPv4 input: `pkt.data()` starts at the IP header (the Ethernet header
/// was pulled). Every datagram is counted (`InReceives`) and every drop is
/// counted by its reason. // linux: ip_rcv
pub(crate) fn rcv(ns: &NsInner, dev: &Arc<dyn NetDevice>, mut pkt: PacketBuf) {
    let mib = ns.snmp_core();
    mib.inc(Ip::InReceives);
    let Some(repr) = parse(&pkt) else {
        mib.inc(Ip::InHdrErrors);
        return;
    };
    // Drop Ethernet padding (linux: pskb_trim_rcsum).
    pkt.truncate(repr_total_len(&pkt));
    let in_dev = Some(dev.ifindex());
    let repr = if ns.hooks.is_active(HookPoint::Prerouting) {
        if run_hook(ns, HookPoint::Prerouting, &mut pkt, in_dev, None) == Verdict::Drop {
            return;
        }
        // The hook may have rewritten the header.
        let Some(repr) = parse(&pkt) else {
            mib.inc(Ip::InHdrErrors);
            return;
        };
        pkt.truncate(repr_total_len(&pkt));
        repr
    } else {
        repr
    };

    // linux: ip_route_input_noref (one look at the table for both the
    // source check and the destination)
    let (src, dst) = (repr.src_addr, repr.dst_addr);
    let (route, src_is_ours) = percore::with_routes(ns, |r| (r.lookup(dst), r.is_local(src)));
    if is_martian_source(src, src_is_ours, dev) || is_martian_destination(dst, dev) {
        mib.inc(Ip::InAddrErrors);
        return;
    }
    match route {
        Some(rt) if rt.kind != RouteKind::Unicast => local_deliver(ns, dev, pkt, repr, mib),
        _ if dst.is_broadcast() => local_deliver(ns, dev, pkt, repr, mib),
        _ if dst.is_multicast() || !ns.ip.forwarding() || link_broadcast(&pkt) => {
            // No multicast delivery; not a router; or a link-layer
            // broadcast a router must not forward (RFC 1812 §5.3.4).
            mib.inc(Ip::InAddrErrors);
        }
        Some(rt) => forward::forward(ns, dev, pkt, &rt),
        None => {
            // linux: ip_error (the MIB here has no InNoRoutes).
            mib.inc(Ip::InAddrErrors);
            icmp::send_error(
                ns,
                ErrorType::DstUnreachable(DstUnreachable::NetUnreachable),
                pkt.data(),
            );
        }
    }
}

/// Validates the header: version, IHL, total length within the buffer,
/// checksum, and the "ping of death" bound.
#[inline]
fn parse(pkt: &PacketBuf) -> Option<Ipv4Repr> {
    let packet = Ipv4Packet::new_checked(pkt.data()).ok()?;
    Ipv4Repr::parse(&packet, ChecksumMode::Software).ok()
}

/// The total length of the (already validated) datagram at the head.
#[inline]
fn repr_total_len(pkt: &PacketBuf) -> usize {
    usize::from(Ipv4Packet::new_unchecked(pkt.data()).total_len())
}

/// Sources no datagram may come from (linux: the martian checks of
/// ip_route_input_slow and fib_validate_source): multicast, limited
/// broadcast, "this network" (0/8), and, on a real device, loopback
/// addresses or one of our own addresses.
fn is_martian_source(src: Ipv4Addr, src_is_ours: bool, dev: &Arc<dyn NetDevice>) -> bool {
    src.is_multicast()
        || src.is_broadcast()
        || src.octets()[0] == 0
        || (!dev.is_loopback() && (src.is_loopback() || src_is_ours))
}

/// Destinations no datagram from a link may have: "this network" (0/8)
/// and loopback addresses (linux: the martian destination checks).
fn is_martian_destination(dst: Ipv4Addr, dev: &Arc<dyn NetDevice>) -> bool {
    dst.octets()[0] == 0 || (dst.is_loopback() && !dev.is_loopback())
}

/// Whether the frame was sent to a link-layer group address.
fn link_broadcast(pkt: &PacketBuf) -> bool {
    pkt.mac_header()
        .and_then(|h| EthernetFrame::new_checked(h).ok())
        .is_some_and(|f| f.dst_addr().is_multicast())
}

/// Delivers a datagram addressed to us: reassembly, INPUT hook, protocol.
/// // linux: ip_local_deliver → ip_local_deliver_finish
fn local_deliver(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    mut pkt: PacketBuf,
    mut repr: Ipv4Repr,
    mib: &CoreCounters,
) {
    if repr.more_frags || repr.frag_offset != 0 {
        let Some(whole) = reassemble(ns, &pkt, mib) else {
            return;
        };
        let meta = *pkt.meta();
        pkt = whole;
        // Fragments' checksum states say nothing about the whole.
        pkt.meta_mut().in_dev = meta.in_dev;
        pkt.meta_mut().rss_hash = meta.rss_hash;
        let Some(r) = parse(&pkt) else {
            mib.inc(Ip::InHdrErrors);
            return;
        };
        repr = r;
    }
    if ns.hooks.is_active(HookPoint::Input) {
        let in_dev = Some(dev.ifindex());
        if run_hook(ns, HookPoint::Input, &mut pkt, in_dev, None) == Verdict::Drop {
            return;
        }
        let Some(r) = parse(&pkt) else {
            mib.inc(Ip::InHdrErrors);
            return;
        };
        pkt.truncate(repr_total_len(&pkt));
        repr = r;
    }

    let header_len = Ipv4Packet::new_unchecked(pkt.data()).header_len();
    match repr.protocol {
        IpProtocol::Icmp | IpProtocol::Udp => {
            mib.inc(Ip::InDelivers);
            // Invariant: parse() proved the header is in the buffer.
            let pulled = pkt.pull_front(header_len);
            debug_assert!(pulled);
            if repr.protocol == IpProtocol::Icmp {
                icmp::rcv(ns, &repr, pkt);
            } else {
                udp::rcv(ns, &repr, pkt);
            }
        }
        IpProtocol::Tcp => {
            mib.inc(Ip::InDelivers);
            // Invariant: parse() proved the header is in the buffer.
            let pulled = pkt.pull_front(header_len);
            debug_assert!(pulled);
            crate::stack::tcp::rcv::rcv(ns, &repr, pkt);
        }
        _ => {
            mib.inc(Ip::InUnknownProtos);
            icmp::send_error(
                ns,
                ErrorType::DstUnreachable(DstUnreachable::ProtoUnreachable),
                pkt.data(),
            );
        }
    }
}

/// Adds a fragment to its datagram; returns the datagram once whole.
/// // linux: ip_defrag
fn reassemble(ns: &NsInner, pkt: &PacketBuf, mib: &CoreCounters) -> Option<PacketBuf> {
    let (outcome, deadline) = {
        let mut reasm = ns.ip.reasm.lock();
        let before = reasm.stats();
        let outcome = reasm.insert(pkt.data(), Instant::now());
        mirror_stats(mib, &before, &reasm.stats());
        (outcome, reasm.next_deadline())
    };
    if let Some(at) = deadline {
        timer::kick(ns, at);
    }
    match outcome {
        ReasmOutcome::Complete(datagram) => {
            let mut whole = PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, &datagram);
            whole.meta_mut().csum = CsumState::None;
            Some(whole)
        }
        ReasmOutcome::Pending | ReasmOutcome::Dropped(_) => None,
    }
}

/// Adds what the reassembler counted between `before` and `after` to the
/// SNMP counters (the reassembler counts evictions and timeouts itself).
fn mirror_stats(mib: &CoreCounters, before: &ReasmStats, after: &ReasmStats) {
    mib.add(Ip::ReasmReqds, after.reqds - before.reqds);
    mib.add(Ip::ReasmOKs, after.oks - before.oks);
    mib.add(Ip::ReasmFails, after.fails - before.fails);
    mib.add(Ip::ReasmTimeout, after.timeouts - before.timeouts);
}

/// Expires reassemblies due at `now`, answering each whose first fragment
/// arrived with ICMP time exceeded (fragment reassembly); returns the next
/// deadline. // linux: ip_expire
pub(crate) fn run_reasm_timers(ns: &NsInner, now: Instant) -> Option<Instant> {
    let mib = ns.snmp_core();
    let (actions, next) = {
        let mut reasm = ns.ip.reasm.lock();
        let before = reasm.stats();
        let actions = if reasm.next_deadline().is_some_and(|d| d <= now) {
            reasm.poll(now)
        } else {
            Vec::new()
        };
        mirror_stats(mib, &before, &reasm.stats());
        (actions, reasm.next_deadline())
    };
    for ReasmAction::TimeExceeded { first_fragment, .. } in actions {
        icmp::send_error(
            ns,
            ErrorType::TimeExceeded(TimeExceeded::FragExpired),
            &first_fragment,
        );
    }
    next
}
