//! IPv4 forwarding: datagrams for another host, when `ip_forward` is on.
//!
//! TTL ≤ 1 is answered with ICMP time exceeded; a datagram larger than
//! the output MTU with DF set with ICMP fragmentation needed (quoting the
//! MTU, RFC 1191); otherwise the TTL is decremented (checksum patched
//! incrementally, RFC 1624), the FORWARD hook runs, and the datagram takes
//! the common output tail (POSTROUTING, fragmentation, neighbour output).
//! No redirects are sent. // linux: ip_forward → ip_forward_finish

use std::sync::Arc;

use super::output::{finish, out_device, run_hook};
use crate::stack::dev::NetDevice;
use crate::stack::hooks::{HookPoint, Verdict};
use crate::stack::icmp::{self, ErrorType};
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::route::RouteResult;
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::snmp::Ip;
use crate::wire::ipv4::MAX_PACKET_LEN;
use crate::wire::{Ipv4Packet, TimeExceeded};

/// Forwards `pkt` (a validated datagram, `pkt.data()` at its header) that
/// arrived on `in_dev` along `route`.
pub(crate) fn forward(
    ns: &NsInner,
    in_dev: &Arc<dyn NetDevice>,
    pkt: PacketBuf,
    route: &RouteResult,
) {
    let mib = ns.snmp_core();
    if Ipv4Packet::new_unchecked(pkt.data()).ttl() <= 1 {
        // linux: too_many_hops
        mib.inc(Ip::InHdrErrors);
        icmp::send_error(
            ns,
            ErrorType::TimeExceeded(TimeExceeded::TtlExpired),
            pkt.data(),
        );
        return;
    }
    // Borrowed for the rest of the way (no per-packet reference count).
    percore::with_devices(ns, |devs| match out_device(devs, route) {
        Ok(out_dev) => forward_on(ns, in_dev, out_dev, pkt, route),
        Err(_) => mib.inc(Ip::OutDiscards),
    });
}

/// The rest of [`forward`], once the output device is known.
fn forward_on(
    ns: &NsInner,
    in_dev: &Arc<dyn NetDevice>,
    out_dev: &Arc<dyn NetDevice>,
    mut pkt: PacketBuf,
    route: &RouteResult,
) {
    let mib = ns.snmp_core();
    let header = Ipv4Packet::new_unchecked(pkt.data());
    let (dont_frag, tos) = (header.dont_frag(), header.tos());
    let mtu = out_dev.mtu().min(MAX_PACKET_LEN);
    if dont_frag && pkt.len() > mtu {
        // linux: ip_exceeds_mtu → icmp_send(ICMP_FRAG_NEEDED)
        mib.inc(Ip::FragFails);
        // In range: `mtu` was capped at 65535.
        icmp::send_error(ns, ErrorType::FragNeeded(mtu as u16), pkt.data());
        return;
    }
    // ttl > 1 was checked: the decrement cannot underflow.
    let _ = Ipv4Packet::new_unchecked(pkt.data_mut()).decrement_ttl();
    let meta = pkt.meta_mut();
    meta.in_dev = Some(in_dev.ifindex());
    // What the input device verified is of no use to the output device.
    meta.csum = CsumState::None;
    meta.offload = None;
    meta.priority = tos;

    if run_hook(
        ns,
        HookPoint::Forward,
        &mut pkt,
        Some(in_dev.ifindex()),
        Some(out_dev.ifindex()),
    ) == Verdict::Drop
    {
        return;
    }
    mib.inc(Ip::ForwDatagrams);
    // Failures are counted where they happen (FragFails); a hook drop is
    // silent like netfilter's.
    let _ = finish(ns, out_dev, route, pkt);
}
