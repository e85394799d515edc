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
use crate::wire::{IpProtocol, Ipv4Packet, TcpPacket, TimeExceeded, UdpPacket};

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
    reseed_transport_checksum(&mut pkt);
    let meta = pkt.meta_mut();
    meta.in_dev = Some(in_dev.ifindex());
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

/// Makes a forwarded segment's transport checksum the output device's job.
///
/// A segment the input device marked [`CsumState::Verified`] may still carry
/// only the sender's pseudo-header seed in its checksum field (checksum
/// offload across a cable or veth-like link is never finished on the wire).
/// Re-seeding the field and marking the segment [`CsumState::Partial`] lets
/// the output path finish it — by offload or in software — which is correct
/// whether the field held a seed or an already complete checksum. Anything
/// else (fragments, other protocols, unverified segments) is forwarded as
/// it came. // linux: skb->ip_summed CHECKSUM_PARTIAL kept across forwarding
fn reseed_transport_checksum(pkt: &mut PacketBuf) {
    let verified = pkt.meta().csum == CsumState::Verified;
    pkt.meta_mut().csum = CsumState::None;
    if !verified {
        return;
    }
    let Ok(ip) = Ipv4Packet::new_checked(pkt.data()) else {
        return;
    };
    if ip.more_frags() || ip.frag_offset() != 0 {
        return;
    }
    let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
    let (start, end) = (ip.header_len(), usize::from(ip.total_len()));
    let l4 = &mut pkt.data_mut()[start..end];
    let reseeded = match proto {
        IpProtocol::Udp => match UdpPacket::new_checked(&mut *l4) {
            // Zero means "no checksum" for UDP: nothing to finish.
            Ok(mut udp) if udp.checksum() != 0 => {
                udp.fill_pseudo_checksum(src, dst);
                true
            }
            _ => false,
        },
        IpProtocol::Tcp => match TcpPacket::new_checked(&mut *l4) {
            Ok(mut tcp) => {
                tcp.fill_pseudo_checksum(src, dst);
                true
            }
            Err(_) => false,
        },
        _ => false,
    };
    if reseeded {
        pkt.meta_mut().csum = CsumState::Partial;
    }
}
