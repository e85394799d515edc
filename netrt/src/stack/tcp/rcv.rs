//! TCP input from IPv4: checksum, demux, dispatch (linux: `tcp_v4_rcv`).
//!
//! A segment goes to the connection on its 4-tuple (one shard lock for
//! the lookup, then the socket's own lock or its backlog), else to the
//! listener on its destination (exact address, then wildcard: a SYN opens
//! a connection, an ACK may carry a SYN cookie), else it is answered with
//! a RST. A SYN hitting a TIME-WAIT connection replaces it when its
//! sequence number or timestamp shows a new incarnation.

use std::net::SocketAddrV4;

use super::listen;
use super::socket::mib;
use super::table::TcpTable;
use super::{xmit, FourTuple};
use crate::stack::icmp::IcmpErrorKind;
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::snmp::{Tcp, TcpExt};
use crate::wire::tcp::SeqNumber;
use crate::wire::{ChecksumMode, IpProtocol, Ipv4Packet, Ipv4Repr, TcpFlags, TcpPacket, TcpRepr};

/// Delivers one segment (IP header already pulled).
pub(crate) fn rcv(ns: &NsInner, ip: &Ipv4Repr, pkt: PacketBuf) {
    let m = mib(ns);
    // A GRO packet counts the segments it was made of (linux: gso_segs).
    let segs = pkt.meta().gro_segs.max(1);
    m.add(Tcp::InSegs, u64::from(segs));
    if segs > 1 {
        m.add(TcpExt::TCPGroMerged, u64::from(segs - 1));
    }
    let (src, dst) = (ip.src_addr, ip.dst_addr);
    let Ok(tcp) = TcpPacket::new_checked(pkt.data()) else {
        m.inc(Tcp::InErrs);
        return;
    };
    if pkt.meta().csum != CsumState::Verified && !tcp.verify_checksum(src, dst) {
        m.inc(Tcp::InCsumErrors);
        m.inc(Tcp::InErrs);
        return;
    }
    let tuple = FourTuple {
        local: SocketAddrV4::new(dst, tcp.dst_port()),
        remote: SocketAddrV4::new(src, tcp.src_port()),
    };
    let flags = tcp.flags();
    let bare_syn = flags.contains(TcpFlags::SYN)
        && !flags.intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN);

    if let Some(sock) = ns.tcp.lookup(&tuple) {
        if !bare_syn {
            sock.deliver(ns, pkt);
            return;
        }
        let Ok(seg) = TcpRepr::parse(&tcp, src, dst, ChecksumMode::Offloaded) else {
            m.inc(Tcp::InErrs);
            return;
        };
        // linux: tcp_timewait_state_process → TCP_TW_SYN
        let reuse = sock.with_user(ns, |st, _| {
            let ok = st.conn.time_wait_accepts_syn(&seg);
            if ok {
                st.conn.abort();
            }
            ok
        });
        if !reuse {
            sock.deliver(ns, pkt);
            return;
        }
        m.inc(TcpExt::TCPTimeWaitReuse);
    }

    let Ok(seg) = TcpRepr::parse(&tcp, src, dst, ChecksumMode::Offloaded) else {
        m.inc(Tcp::InErrs);
        return;
    };
    if tuple.local.port() == 0 || tuple.remote.port() == 0 {
        m.inc(Tcp::InErrs);
        return;
    }
    let listener = percore::with_snapshot(&ns.owner, &ns.tcp.listeners, |map| {
        TcpTable::listener(map, dst, tuple.local.port()).cloned()
    });
    match listener {
        Some(l) if bare_syn => listen::on_syn(ns, &l, tuple, &seg),
        Some(l)
            if flags.contains(TcpFlags::ACK)
                && !flags.intersects(TcpFlags::SYN | TcpFlags::RST) =>
        {
            if !listen::on_cookie_ack(ns, &l, tuple, &seg) {
                xmit::send_reset(ns, dst, src, &seg);
            }
        }
        _ => xmit::send_reset(ns, dst, src, &seg),
    }
}

/// An ICMP error quoting one of our segments: a hard error ends a
/// connection that is still opening (`connect` then reports it:
/// `ConnectionRefused` for port unreachable, `HostUnreachable`,
/// `NetworkUnreachable`); anything else is a soft error, ignored.
/// // linux: tcp_v4_err
pub(crate) fn icmp_error(ns: &NsInner, kind: IcmpErrorKind, quoted: &[u8]) {
    if !matches!(kind, IcmpErrorKind::DstUnreachable(_)) || !kind.is_fatal() {
        return;
    }
    let ip = Ipv4Packet::new_unchecked(quoted);
    if ip.check_header_len().is_err() || ip.protocol() != IpProtocol::Tcp {
        return;
    }
    // RFC 792: at least 8 bytes of the transport header are quoted:
    // ports and sequence number.
    let Some(th) = quoted.get(ip.header_len()..ip.header_len() + 8) else {
        return;
    };
    let port = |at: usize| u16::from_be_bytes([th[at], th[at + 1]]);
    let tuple = FourTuple {
        local: SocketAddrV4::new(ip.src_addr(), port(0)),
        remote: SocketAddrV4::new(ip.dst_addr(), port(2)),
    };
    let seq = SeqNumber(u32::from_be_bytes([th[4], th[5], th[6], th[7]]));
    if let Some(sock) = ns.tcp.lookup(&tuple) {
        let io_kind = kind.io_kind();
        sock.with_user(ns, |st, _| {
            st.conn.on_icmp_unreachable(seq, io_kind);
        });
    }
}
