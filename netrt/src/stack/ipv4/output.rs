//! IPv4 output: from a transport's segment to a frame on a device.
//!
//! ```text
//! output: route → source → IPv4 header → OUTPUT hook ─┐
//! forward (forward.rs): FORWARD hook, TTL ────────────┤
//!                                                     ▼
//!        finish: POSTROUTING hook → checksum offload or software
//!                → fragment above the MTU → arp::neigh_output → dev.xmit
//! ```
//!
//! Destinations that are our own addresses go through the loopback device,
//! as in Linux. // linux: ip_queue_xmit / ip_local_out / ip_output /
//! ip_finish_output / ip_fragment

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netrt_igb::desc::L4Type;
use netrt_igb::driver::{L3Type, TxOffload};

use crate::stack::arp;
use crate::stack::dev::NetDevice;
use crate::stack::frag::{self, FragError};
use crate::stack::hooks::{HookCtx, HookPoint, Verdict};
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::route::{RouteKind, RouteResult};
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::snmp::Ip;
use crate::stack::IfIndex;
use crate::wire::ipv4::{HEADER_LEN, MAX_PACKET_LEN};
use crate::wire::{
    checksum, ethernet, ChecksumMode, EthernetAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
};

/// How a transport wants its segment sent (the IP-level socket options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutParams {
    /// Source address; `None` lets the route choose (its preferred source,
    /// else the output device's address).
    pub src: Option<Ipv4Addr>,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN); also the pfifo_fast band.
    pub tos: u8,
    /// Set DF: refuse to fragment (path MTU discovery).
    pub dont_frag: bool,
}

/// Sends `pkt` (the transport header and payload; headroom in front for
/// the IP and Ethernet headers) as an IPv4 datagram.
///
/// **Transport checksum contract.** Either the transport computes its
/// checksum and leaves `meta().csum` as [`CsumState::None`], or it seeds
/// the checksum field with the pseudo-header sum
/// ([`UdpPacket::fill_pseudo_checksum`](crate::wire::UdpPacket::fill_pseudo_checksum))
/// and sets [`CsumState::Partial`] (UDP and TCP only). A partial checksum
/// is then finished by the device when it offloads checksums and the
/// datagram is not fragmented, left for the receiver to trust on loopback
/// (marked verified, like Linux `lo`), and computed here otherwise.
///
/// Errors: no route → `NetworkUnreachable` (`OutNoRoutes`); no source
/// address for the route → `AddrNotAvailable`; larger than the MTU with
/// `dont_frag` (or over 65,535 bytes) → `InvalidInput` "message too long"
/// (`FragFails`); dropped by an OUTPUT/POSTROUTING hook →
/// `PermissionDenied` (as Linux returns `EPERM`). A datagram waiting for
/// ARP resolution is `Ok`: its later loss is counted, not reported.
/// // linux: ip_queue_xmit
pub(crate) fn output(ns: &NsInner, mut pkt: PacketBuf, p: &OutParams) -> io::Result<()> {
    let mib = ns.snmp_core();
    mib.inc(Ip::OutRequests);
    let Some(route) = percore::with_routes(ns, |r| r.lookup(p.dst)) else {
        mib.inc(Ip::OutNoRoutes);
        return Err(no_route(p.dst));
    };
    let src = match p.src.or(route.src) {
        Some(src) => src,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "the output device has no IPv4 address",
            ))
        }
    };
    if pkt.len() > MAX_PACKET_LEN - HEADER_LEN {
        mib.inc(Ip::FragFails);
        return Err(too_long(pkt.len() + HEADER_LEN, MAX_PACKET_LEN));
    }
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: p.dst,
        protocol: p.protocol,
        payload_len: pkt.len(),
        ttl: p.ttl,
        dscp: p.tos >> 2,
        ecn: p.tos & 0x03,
        // RFC 6864 §4.1: an atomic datagram's identification means
        // nothing; Linux sends 0 when no connected socket has a counter.
        ident: if p.dont_frag {
            0
        } else {
            ns.ip.idents.next(src, p.dst, p.protocol.into())
        },
        dont_frag: p.dont_frag,
        more_frags: false,
        frag_offset: 0,
    };
    repr.emit(
        &mut Ipv4Packet::new_unchecked(pkt.push_front(HEADER_LEN)),
        ChecksumMode::Software,
    );
    let meta = pkt.meta_mut();
    meta.in_dev = None;
    meta.priority = p.tos;
    meta.offload = None;
    // The device list is borrowed for the rest of the way: no reference
    // count on a shared device is touched per packet.
    percore::with_devices(ns, |devs| local_out(ns, devs, &route, pkt, p.dst))
}

/// OUTPUT hook, re-routing after a rewrite, then the common tail.
/// // linux: ip_local_out → __ip_local_out → dst_output
fn local_out(
    ns: &NsInner,
    devs: &[Arc<dyn NetDevice>],
    route: &RouteResult,
    mut pkt: PacketBuf,
    dst: Ipv4Addr,
) -> io::Result<()> {
    let mib = ns.snmp_core();
    let dev = out_device(devs, route)?;
    if run_hook(ns, HookPoint::Output, &mut pkt, None, Some(dev.ifindex())) == Verdict::Drop {
        return Err(hook_drop());
    }
    // A hook that rewrote the destination re-routes the datagram (linux:
    // ip_route_me_harder after mangling).
    let rerouted;
    let (route, dev) = match Ipv4Packet::new_checked(pkt.data()).map(|h| h.dst_addr()) {
        Ok(new_dst) if new_dst == dst => (route, dev),
        Ok(new_dst) => {
            let Some(route) = percore::with_routes(ns, |r| r.lookup(new_dst)) else {
                mib.inc(Ip::OutNoRoutes);
                return Err(no_route(new_dst));
            };
            rerouted = route;
            (&rerouted, out_device(devs, &rerouted)?)
        }
        Err(_) => {
            mib.inc(Ip::OutDiscards);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an OUTPUT hook left a malformed IPv4 header",
            ));
        }
    };
    match finish(ns, dev, route, pkt) {
        Ok(()) => Ok(()),
        Err(FinishError::HookDrop) => Err(hook_drop()),
        Err(FinishError::TooBig { len, mtu }) => Err(too_long(len, mtu)),
        Err(FinishError::Unfragmentable) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "datagram cannot be fragmented for the device MTU",
        )),
        Err(FinishError::BadChecksumRequest) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "checksum offload requested for a protocol without a checksum field",
        )),
    }
}

/// The source address a socket sending to `dst` gets (`connect`, or
/// `send_to` from an unbound address). // linux: inet_select_addr via
/// ip_route_connect
pub(crate) fn select_source(ns: &NsInner, dst: Ipv4Addr) -> io::Result<Ipv4Addr> {
    let route = percore::with_routes(ns, |r| r.lookup(dst)).ok_or_else(|| no_route(dst))?;
    route.src.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the output device has no IPv4 address",
        )
    })
}

/// The device a route sends through (loopback for our own addresses),
/// from the namespace's device list.
pub(crate) fn out_device<'d>(
    devs: &'d [Arc<dyn NetDevice>],
    route: &RouteResult,
) -> io::Result<&'d Arc<dyn NetDevice>> {
    let ifindex = match route.kind {
        RouteKind::Local => LOOPBACK,
        _ => route.dev,
    };
    (ifindex.0 as usize)
        .checked_sub(1)
        .and_then(|i| devs.get(i))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "route through a missing device"))
}

/// `lo` is always the namespace's first device.
const LOOPBACK: IfIndex = IfIndex(1);

/// Why [`finish`] did not send a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishError {
    /// A POSTROUTING hook dropped it.
    HookDrop,
    /// Larger than `mtu` with DF set (`FragFails` counted).
    TooBig {
        /// The datagram's length.
        len: usize,
        /// The device MTU.
        mtu: usize,
    },
    /// Could not be cut for this MTU (`FragFails` counted).
    Unfragmentable,
    /// `CsumState::Partial` on a protocol that has no checksum field.
    BadChecksumRequest,
}

/// The common tail of local output and forwarding: POSTROUTING hook,
/// transport checksum, fragmentation, neighbour output.
/// // linux: ip_output → ip_finish_output → ip_finish_output2
pub(crate) fn finish(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    route: &RouteResult,
    mut pkt: PacketBuf,
) -> Result<(), FinishError> {
    let in_dev = pkt.meta().in_dev;
    if run_hook(
        ns,
        HookPoint::Postrouting,
        &mut pkt,
        in_dev,
        Some(dev.ifindex()),
    ) == Verdict::Drop
    {
        return Err(FinishError::HookDrop);
    }
    let mtu = dev.mtu().min(MAX_PACKET_LEN);
    let fits = pkt.len() <= mtu;
    let gso = pkt.meta().gso_size;
    if gso > 0 && !fits && !dev.is_loopback() {
        // A TSO super-segment: the device cuts it (linux: the GSO path of
        // ip_finish_output with NETIF_F_TSO). TCP only asks for it when
        // the route's device has TSO; a route that changed under it
        // loses the segment to TCP's retransmission, as a drop.
        if !dev.features().tso || pkt.meta().csum != CsumState::Partial {
            return Err(FinishError::Unfragmentable);
        }
        pkt.meta_mut().offload = tso_request(pkt.data_mut(), gso);
        if pkt.meta().offload.is_none() {
            return Err(FinishError::BadChecksumRequest);
        }
        send_to_neighbour(ns, dev, route, pkt);
        return Ok(());
    }
    if pkt.meta().csum == CsumState::Partial {
        if dev.is_loopback() {
            // Never leaves memory: the receiver may trust it unfinished.
            pkt.meta_mut().csum = CsumState::Verified;
        } else if fits && dev.features().tx_csum {
            pkt.meta_mut().offload = offload_request(pkt.data());
            if pkt.meta().offload.is_none() {
                return Err(FinishError::BadChecksumRequest);
            }
        } else if !complete_checksum(&mut pkt) {
            return Err(FinishError::BadChecksumRequest);
        }
    }
    if fits {
        send_to_neighbour(ns, dev, route, pkt);
        return Ok(());
    }
    fragment(ns, dev, route, pkt, mtu)
}

/// Cuts `pkt` into fragments of at most `mtu` bytes and sends each.
/// // linux: ip_do_fragment
fn fragment(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    route: &RouteResult,
    pkt: PacketBuf,
    mtu: usize,
) -> Result<(), FinishError> {
    let mib = ns.snmp_core();
    let priority = pkt.meta().priority;
    let sent = frag::fragment(pkt.data(), mtu, |header, payload| {
        let mut piece = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, header.len() + payload.len());
        piece.extend_from_slice(header);
        piece.extend_from_slice(payload);
        piece.meta_mut().priority = priority;
        send_to_neighbour(ns, dev, route, piece);
    });
    match sent {
        Ok(n) => {
            mib.inc(Ip::FragOKs);
            mib.add(Ip::FragCreates, n as u64);
            Ok(())
        }
        Err(FragError::NeedFrag { .. }) => {
            mib.inc(Ip::FragFails);
            Err(FinishError::TooBig {
                len: pkt.len(),
                mtu,
            })
        }
        Err(FragError::MtuTooSmall | FragError::Malformed) => {
            mib.inc(Ip::FragFails);
            Err(FinishError::Unfragmentable)
        }
    }
}

/// Hands a datagram to the link: broadcast routes go to the broadcast
/// address, everything else through neighbour resolution of the next hop.
fn send_to_neighbour(ns: &NsInner, dev: &Arc<dyn NetDevice>, route: &RouteResult, pkt: PacketBuf) {
    if route.kind == RouteKind::Broadcast && !dev.is_loopback() {
        arp::link_output(dev, EthernetAddress::BROADCAST, pkt);
    } else {
        arp::neigh_output(ns, dev, route.next_hop, pkt);
    }
}

/// The checksum-offload request for a datagram whose transport checksum
/// is partial: the device inserts it (and the IP header checksum).
fn offload_request(datagram: &[u8]) -> Option<TxOffload> {
    let ip = Ipv4Packet::new_checked(datagram).ok()?;
    let l4 = match ip.protocol() {
        IpProtocol::Udp => L4Type::Udp,
        IpProtocol::Tcp => L4Type::Tcp,
        _ => return None,
    };
    // In range: an IPv4 header is at most 60 bytes.
    let iplen = ip.header_len() as u16;
    Some(TxOffload::checksum(
        L3Type::Ipv4,
        l4,
        ethernet::HEADER_LEN as u8,
        iplen,
    ))
}

/// The TSO request for a TCP super-segment: the device segments at
/// `mss` payload bytes, repeating the IP and TCP headers, and fills every
/// checksum. The TCP checksum field is re-seeded *without* the length,
/// the convention of igb's TSO (linux `igb_tso` does the same): the
/// device adds each segment's own length.
fn tso_request(datagram: &mut [u8], mss: u16) -> Option<TxOffload> {
    let ip = Ipv4Packet::new_checked(&*datagram).ok()?;
    if ip.protocol() != IpProtocol::Tcp {
        return None;
    }
    let iplen = ip.header_len();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let tcp = datagram.get_mut(iplen..)?;
    let l4len = usize::from(*tcp.get(12)? >> 4) * 4;
    if l4len < 20 || tcp.len() < l4len {
        return None;
    }
    let seed = checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp.into(), 0);
    tcp[16..18].copy_from_slice(&seed.to_be_bytes());
    // In range: IPv4 and TCP headers are at most 60 bytes.
    Some(TxOffload::tso(
        L3Type::Ipv4,
        ethernet::HEADER_LEN as u8,
        iplen as u16,
        l4len as u8,
        mss,
    ))
}

/// Finishes a partial transport checksum in software (linux:
/// skb_checksum_help). False for a protocol without a checksum field.
fn complete_checksum(pkt: &mut PacketBuf) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(pkt.data()) else {
        return false;
    };
    let (start, end) = (ip.header_len(), usize::from(ip.total_len()));
    let (field, zero_is_none) = match ip.protocol() {
        IpProtocol::Udp => (6, true),
        IpProtocol::Tcp => (16, false),
        _ => return false,
    };
    let l4 = &mut pkt.data_mut()[start..end];
    if l4.len() < field + 2 {
        return false;
    }
    // The field holds the pseudo-header sum: summing over it adds it in.
    let mut value = checksum::checksum(l4);
    if zero_is_none && value == 0 {
        value = 0xffff;
    }
    l4[field..field + 2].copy_from_slice(&value.to_be_bytes());
    pkt.meta_mut().csum = CsumState::None;
    true
}

/// Runs the hooks at `point` on `pkt` (skipping the per-core reader when
/// the point has none).
#[inline]
pub(crate) fn run_hook(
    ns: &NsInner,
    point: HookPoint,
    pkt: &mut PacketBuf,
    in_dev: Option<IfIndex>,
    out_dev: Option<IfIndex>,
) -> Verdict {
    if !ns.hooks.is_active(point) {
        return Verdict::Accept;
    }
    percore::with_hooks(ns, |reader| {
        reader.run(point, &mut HookCtx::new(pkt.data_mut(), in_dev, out_dev))
    })
}

fn no_route(dst: Ipv4Addr) -> io::Error {
    io::Error::new(
        io::ErrorKind::NetworkUnreachable,
        format!("no route to {dst}"),
    )
}

fn too_long(len: usize, mtu: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("message too long: a {len}-byte datagram exceeds the MTU of {mtu} with DF set"),
    )
}

fn hook_drop() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "dropped by a netfilter hook",
    )
}

impl crate::stack::ns::Namespace {
    /// Sends `payload` as an IPv4 datagram with `params`, through the whole
    /// output path (route, OUTPUT hook, POSTROUTING, fragmentation,
    /// neighbour resolution) — what a raw IP socket (`SOCK_RAW` without
    /// `IP_HDRINCL`) does. The payload goes out as given: a transport
    /// header inside it must carry its own checksum. Errors as for the
    /// transports (`NetworkUnreachable`, `InvalidInput` "message too
    /// long", ...).
    pub fn send_ipv4(&self, params: &OutParams, payload: &[u8]) -> io::Result<()> {
        let pkt = PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, payload);
        output(&self.0, pkt, params)
    }
}
