//! Segments onto the wire: the engine's output as packet buffers handed
//! to IPv4 output, with checksum offload and TSO; and RSTs for segments
//! that found no socket. // linux: tcp_transmit_skb, tcp_v4_send_reset

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use super::conn::segment_mss;
use super::socket::{mib, SockState, TcpSock};
use crate::stack::ipv4::{self, OutParams};
use crate::stack::ns::NsInner;
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::snmp::Tcp;
use crate::wire::{ChecksumMode, IpProtocol, TcpFlags, TcpPacket, TcpRepr};

/// Sends everything the connection has to send now.
pub(crate) fn transmit(ns: &NsInner, sock: &Arc<TcpSock>, st: &mut SockState, now: Instant) {
    let (src, dst) = (*sock.tuple.local.ip(), *sock.tuple.remote.ip());
    let ttl = st.ttl.unwrap_or_else(|| ns.ip.ttl());
    let conn = &mut st.conn;
    // The engine is borrowed by poll_transmit: take what the closure needs.
    let (mss, ts) = (conn.mss(), conn.negotiated().2);
    // In range: core counts are small.
    let home = Some(sock.home.min(usize::from(u16::MAX)) as u16);
    let sent = conn.poll_transmit(now, &mut |seg| {
        let seg_mss = segment_mss(mss, ts, seg.options.buffer_len());
        send_segment(ns, (src, dst), &seg, ttl, seg_mss, home);
    });
    if sent > 0 {
        mib(ns).add(Tcp::OutSegs, sent as u64);
    }
}

/// Builds one segment (header and payload, checksum left for the device
/// or IP output to finish) and sends it from `src` to `dst`. A segment
/// longer than `mss` goes out as one TSO super-segment; `tx_core` pins
/// the TX queue (a connection's segments all leave through its home
/// core's queue, so they cannot overtake each other). Output errors (no
/// route, a hook drop) are the loss TCP's retransmission is there for.
pub(crate) fn send_segment(
    ns: &NsInner,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    seg: &TcpRepr<'_>,
    ttl: u8,
    mss: u32,
    tx_core: Option<u16>,
) {
    let len = seg.buffer_len();
    let mut pkt = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, len);
    seg.emit(
        &mut TcpPacket::new_unchecked(pkt.put_uninit(len)),
        src,
        dst,
        ChecksumMode::Offloaded,
    );
    let meta = pkt.meta_mut();
    meta.csum = CsumState::Partial;
    meta.tx_core = tx_core;
    if seg.payload.len() > mss as usize && mss > 0 {
        // In range: the MSS comes from a 16-bit option.
        meta.gso_size = mss.min(u32::from(u16::MAX)) as u16;
    }
    let params = OutParams {
        src: Some(src),
        dst,
        protocol: IpProtocol::Tcp,
        ttl,
        tos: 0,
        dont_frag: true,
    };
    let _ = ipv4::output(ns, pkt, &params);
}

/// Answers a segment that reached no connection with a RST (none for a
/// RST). `local`/`remote` are the segment's destination and source.
pub(crate) fn send_reset(ns: &NsInner, local: Ipv4Addr, remote: Ipv4Addr, seg: &TcpRepr<'_>) {
    if let Some(rst) = super::conn::reset_for(seg) {
        debug_assert!(rst.flags.contains(TcpFlags::RST));
        mib(ns).inc(Tcp::OutRsts);
        mib(ns).inc(Tcp::OutSegs);
        send_segment(ns, (local, remote), &rst, ns.ip.ttl(), 0, None);
    }
}
