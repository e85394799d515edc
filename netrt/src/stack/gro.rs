//! Generic receive offload: in-order TCP segments of one flow that arrive
//! in the same NAPI poll are coalesced into one large IPv4/TCP packet
//! before IP input, so the stack above runs once per burst instead of once
//! per wire segment (linux: `dev_gro_receive` → `inet_gro_receive` →
//! `tcp4_gro_receive`; `napi_gro_flush` at the end of the poll).
//!
//! A segment joins the packet held for its flow when it is the exact
//! continuation of it:
//!
//! * same 4-tuple, IPv4 without options, not a fragment, valid IP header
//!   checksum, transport checksum vouched for by the device
//!   ([`CsumState::Verified`]); same TOS, TTL and DF (without DF, the IP ID
//!   must count up by one);
//! * sequence number = held sequence + held payload; same ACK number;
//!   identical TCP option bytes (so equal timestamps, as Linux demands);
//! * flags ACK, or ACK|PSH (which ends the run); payload not larger than
//!   the first segment's (the MSS of the run); a shorter one ends the run;
//! * the result stays within 65,535 bytes of IP datagram.
//!
//! Anything else of a held flow (a gap, a pure ACK, SYN/FIN/RST/URG/ECE/
//! CWR, changed options, an unverified checksum) first flushes what is held
//! for that flow, so each flow's order is kept. Frames GRO does not
//! understand pass through untouched.
//!
//! The merged packet is a valid datagram: total length and IP header
//! checksum rewritten, the window and PSH of the last segment, the TCP
//! checksum field seeded with the pseudo-header sum (linux:
//! `tcp4_gro_complete`) and [`PacketMeta::gro_segs`] /
//! [`PacketMeta::gro_mss`] telling TCP how many wire segments it carries.
//! It lives in a large-class pooled buffer: no heap allocation per packet
//! in steady state.
//!
//! [`PacketMeta::gro_segs`]: super::skb::PacketMeta::gro_segs
//! [`PacketMeta::gro_mss`]: super::skb::PacketMeta::gro_mss

use std::sync::atomic::{AtomicBool, Ordering};

use super::ns::NsInner;
use super::skb::{CsumState, PacketBuf};
use crate::wire::{checksum, tcp, TcpFlags};

/// Flows held at once; the oldest is flushed to make room
/// (linux: `MAX_GRO_SKBS`).
pub(crate) const MAX_HELD: usize = 8;

/// Largest IPv4 datagram a merged packet may become.
const MAX_DATAGRAM: usize = 65_535;
/// Ethernet header (GRO takes untagged frames only).
const ETH_HLEN: usize = 14;
/// IPv4 header without options (GRO takes no IP options, like Linux).
const IP_HLEN: usize = 20;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const PROTO_TCP: u8 = 6;

/// Flags that may ride on a merged segment: ACK (required) and PSH (which
/// ends the run).
const MERGEABLE_FLAGS: TcpFlags = TcpFlags::from_bits(TcpFlags::ACK.bits() | TcpFlags::PSH.bits());

/// Whether a device's poll should merge: its switch is on and the
/// namespace does not forward (a merged packet is for local delivery: it
/// could not leave again without software segmentation).
pub(crate) fn enabled(ns: &NsInner, dev_switch: &AtomicBool) -> bool {
    dev_switch.load(Ordering::Relaxed) && !ns.ip.forwarding()
}

/// A flow: addresses and ports as they appear on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey {
    addrs: [u8; 8],
    ports: [u8; 4],
}

/// A parsed candidate segment (offsets into its frame).
#[derive(Clone, Copy, Debug)]
struct Seg {
    key: FlowKey,
    tos: u8,
    ttl: u8,
    dont_frag: bool,
    ip_id: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    /// TCP header length (options included).
    tcp_hlen: usize,
    /// Payload bytes.
    payload_len: usize,
}

impl Seg {
    /// Offset of the payload in the frame.
    fn payload_at(&self) -> usize {
        ETH_HLEN + IP_HLEN + self.tcp_hlen
    }

    /// The TCP option bytes of `frame` (whose parse this is).
    fn options<'f>(&self, frame: &'f [u8]) -> &'f [u8] {
        &frame[ETH_HLEN + IP_HLEN + tcp::HEADER_LEN..self.payload_at()]
    }
}

/// What GRO makes of a frame.
enum Class {
    /// Not IPv4/TCP, or not parseable: passes through.
    Other,
    /// TCP of this flow that must not be merged: flushes the flow first.
    Flow(FlowKey),
    /// May be merged.
    Candidate(Seg),
}

/// Classifies `pkt` (a whole Ethernet frame). Never panics: every offset
/// is checked against the frame.
fn classify(pkt: &PacketBuf) -> Class {
    let f = pkt.data();
    if f.len() < ETH_HLEN + IP_HLEN + tcp::HEADER_LEN || f[12..14] != ETHERTYPE_IPV4 {
        return Class::Other;
    }
    let ip = &f[ETH_HLEN..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ip[0] >> 4 != 4 || ip[9] != PROTO_TCP || ihl < IP_HLEN || total > ip.len() {
        return Class::Other;
    }
    // Ports are where the flow is named; without them, nothing to match.
    if frag & 0x1fff != 0 || total < ihl + 4 {
        return Class::Other;
    }
    let key = FlowKey {
        addrs: [
            ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19],
        ],
        ports: [ip[ihl], ip[ihl + 1], ip[ihl + 2], ip[ihl + 3]],
    };
    // From here the flow is known: a frame that cannot merge flushes it.
    let not_mergeable = Class::Flow(key);
    let is_fragment = frag & 0x2000 != 0;
    if ihl != IP_HLEN || is_fragment || checksum::sum(&ip[..IP_HLEN]) != 0xffff {
        return not_mergeable;
    }
    if pkt.meta().csum != CsumState::Verified || total < IP_HLEN + tcp::HEADER_LEN {
        return not_mergeable;
    }
    let th = &ip[IP_HLEN..total];
    let tcp_hlen = usize::from(th[12] >> 4) * 4;
    let flags = TcpFlags::from_bits(th[13]);
    if tcp_hlen < tcp::HEADER_LEN || tcp_hlen >= th.len() {
        return not_mergeable; // malformed, or no payload (a pure ACK)
    }
    if !flags.contains(TcpFlags::ACK) || flags.bits() & !MERGEABLE_FLAGS.bits() != 0 {
        return not_mergeable;
    }
    let be32 = |at: usize| u32::from_be_bytes([th[at], th[at + 1], th[at + 2], th[at + 3]]);
    Class::Candidate(Seg {
        key,
        tos: ip[1],
        ttl: ip[8],
        dont_frag: frag & 0x4000 != 0,
        ip_id: u16::from_be_bytes([ip[4], ip[5]]),
        seq: be32(4),
        ack: be32(8),
        flags,
        window: u16::from_be_bytes([th[14], th[15]]),
        tcp_hlen,
        payload_len: th.len() - tcp_hlen,
    })
}

/// A packet held for its flow, growing as segments join it.
struct Held {
    pkt: PacketBuf,
    /// The first segment's parse: the fields the others must match.
    first: Seg,
    next_seq: u32,
    last_ip_id: u16,
    /// Payload of the first segment: no later one may be larger.
    mss: usize,
    /// IP datagram length so far.
    ip_len: usize,
    segs: u16,
}

/// Whether a merge ended the run.
enum Merged {
    /// More may follow.
    Open,
    /// Shorter than the MSS, PSH, or full: deliver now.
    Ends,
}

impl Held {
    fn new(pkt: PacketBuf, seg: Seg) -> Held {
        Held {
            pkt,
            first: seg,
            next_seq: seg.seq.wrapping_add(seg.payload_len as u32),
            last_ip_id: seg.ip_id,
            mss: seg.payload_len,
            ip_len: IP_HLEN + seg.tcp_hlen + seg.payload_len,
            segs: 1,
        }
    }

    /// Whether `seg` (parsed from `frame`) continues this packet exactly.
    fn continues(&self, seg: &Seg, frame: &[u8]) -> bool {
        let f = &self.first;
        f.tos == seg.tos
            && f.ttl == seg.ttl
            && f.dont_frag == seg.dont_frag
            && (seg.dont_frag || seg.ip_id == self.last_ip_id.wrapping_add(1))
            && seg.seq == self.next_seq
            && seg.ack == f.ack
            && seg.payload_len <= self.mss
            && self.ip_len + seg.payload_len <= MAX_DATAGRAM
            && f.options(self.pkt.data()) == seg.options(frame)
    }

    /// Appends `seg`'s payload (from `frame`); the caller checked
    /// [`continues`](Self::continues).
    fn append(&mut self, seg: &Seg, frame: &[u8]) -> Merged {
        if self.segs == 1 {
            // Link-layer padding after the first datagram must go before
            // payload is appended behind it.
            self.pkt.truncate(ETH_HLEN + self.ip_len);
        }
        let at = seg.payload_at();
        self.pkt.extend_from_slice(&frame[at..at + seg.payload_len]);
        self.next_seq = self.next_seq.wrapping_add(seg.payload_len as u32);
        self.last_ip_id = seg.ip_id;
        self.ip_len += seg.payload_len;
        self.segs = self.segs.saturating_add(1);
        // The receiver's view of the window is the latest one.
        let th = ETH_HLEN + IP_HLEN;
        self.pkt.data_mut()[th + 14..th + 16].copy_from_slice(&seg.window.to_be_bytes());
        let psh = seg.flags.contains(TcpFlags::PSH);
        if psh {
            self.pkt.data_mut()[th + 13] |= TcpFlags::PSH.bits();
        }
        if psh || seg.payload_len < self.mss || self.ip_len + self.mss > MAX_DATAGRAM {
            Merged::Ends
        } else {
            Merged::Open
        }
    }

    /// The packet to deliver: untouched if nothing joined it, else with
    /// its headers made to describe the whole (linux: `inet_gro_complete`,
    /// `tcp4_gro_complete`).
    fn finish(mut self) -> PacketBuf {
        if self.segs < 2 {
            return self.pkt;
        }
        let ip_len = self.ip_len;
        let frame = self.pkt.data_mut();
        let ip = &mut frame[ETH_HLEN..ETH_HLEN + ip_len];
        // Invariant: ip_len <= MAX_DATAGRAM (checked before every append).
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[10..12].fill(0);
        let csum = checksum::checksum(&ip[..IP_HLEN]);
        ip[10..12].copy_from_slice(&csum.to_be_bytes());
        let seed = checksum::pseudo_header_v4(
            [ip[12], ip[13], ip[14], ip[15]].into(),
            [ip[16], ip[17], ip[18], ip[19]].into(),
            PROTO_TCP,
            (ip_len - IP_HLEN) as u16,
        );
        ip[IP_HLEN + 16..IP_HLEN + 18].copy_from_slice(&seed.to_be_bytes());
        let meta = self.pkt.meta_mut();
        meta.csum = CsumState::Verified;
        meta.gro_segs = self.segs;
        // Invariant: a payload fits in one IP datagram, so in u16.
        meta.gro_mss = self.mss as u16;
        self.pkt
    }
}

/// The GRO state of one NAPI instance: the packets held during a poll.
/// Empty between polls ([`Gro::flush`] at the end of each).
pub(crate) struct Gro {
    /// Oldest first. Keeps its capacity: no allocation per poll.
    held: Vec<Held>,
}

impl Default for Gro {
    fn default() -> Self {
        Gro::new()
    }
}

impl Gro {
    /// No packet held.
    pub(crate) fn new() -> Gro {
        Gro {
            held: Vec::with_capacity(MAX_HELD),
        }
    }

    /// Takes one received frame: merges it into its flow's held packet,
    /// holds it, or hands it (and, first, anything held of its flow) to
    /// `deliver` (linux: `napi_gro_receive`).
    pub(crate) fn receive(&mut self, pkt: PacketBuf, deliver: &mut impl FnMut(PacketBuf)) {
        let seg = match classify(&pkt) {
            Class::Other => return deliver(pkt),
            Class::Flow(key) => {
                self.flush_flow(key, deliver);
                return deliver(pkt);
            }
            Class::Candidate(seg) => seg,
        };
        if let Some(i) = self.held.iter().position(|h| h.first.key == seg.key) {
            let h = &mut self.held[i];
            if h.continues(&seg, pkt.data()) {
                if let Merged::Ends = h.append(&seg, pkt.data()) {
                    deliver(self.held.remove(i).finish());
                }
                return; // `pkt` goes back to its pool
            }
            // Not the continuation: what was held goes first, this one
            // may start a new run.
            deliver(self.held.remove(i).finish());
        }
        if seg.flags.contains(TcpFlags::PSH) {
            return deliver(pkt); // a run of one
        }
        if self.held.len() == MAX_HELD {
            deliver(self.held.remove(0).finish());
        }
        self.held.push(Held::new(pkt, seg));
    }

    /// One NAPI poll's frames: through GRO when `on`, straight to
    /// `deliver` otherwise; nothing stays held afterwards.
    pub(crate) fn run(
        &mut self,
        on: bool,
        frames: impl IntoIterator<Item = PacketBuf>,
        deliver: &mut impl FnMut(PacketBuf),
    ) {
        if !on {
            return frames.into_iter().for_each(deliver);
        }
        for pkt in frames {
            self.receive(pkt, deliver);
        }
        self.flush(deliver);
    }

    /// Delivers everything held, oldest first (linux: `napi_gro_flush`).
    pub(crate) fn flush(&mut self, deliver: &mut impl FnMut(PacketBuf)) {
        for h in self.held.drain(..) {
            deliver(h.finish());
        }
    }

    /// Delivers what is held for `key`, if anything.
    fn flush_flow(&mut self, key: FlowKey, deliver: &mut impl FnMut(PacketBuf)) {
        if let Some(i) = self.held.iter().position(|h| h.first.key == key) {
            deliver(self.held.remove(i).finish());
        }
    }

    /// Number of packets held (tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stack::skb::pool_stats;
    use crate::wire::{Ipv4Packet, TcpPacket};
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    /// Timestamps option (NOP NOP TS val ecr).
    fn ts(val: u32, ecr: u32) -> Vec<u8> {
        let mut o = vec![1, 1, 8, 10];
        o.extend_from_slice(&val.to_be_bytes());
        o.extend_from_slice(&ecr.to_be_bytes());
        o
    }

    /// A hand-built segment; fields adjusted with struct update syntax.
    #[derive(Clone)]
    struct S {
        src: Ipv4Addr,
        sport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        opts: Vec<u8>,
        payload: Vec<u8>,
        tos: u8,
        ttl: u8,
        df: bool,
        id: u16,
        verified: bool,
        pad: usize,
    }

    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;

    fn s(seq: u32, len: usize) -> S {
        S {
            src: A,
            sport: 5000,
            seq,
            ack: 777,
            flags: ACK,
            window: 1000,
            opts: ts(1, 2),
            payload: (0..len).map(|i| (seq as usize + i) as u8).collect(),
            tos: 0,
            ttl: 64,
            df: true,
            id: 0,
            verified: true,
            pad: 0,
        }
    }

    impl S {
        fn frame(&self) -> PacketBuf {
            let tcp_len = 20 + self.opts.len() + self.payload.len();
            let mut f = vec![0u8; 14 + 20 + tcp_len];
            f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
            f[12..14].copy_from_slice(&[8, 0]);
            {
                let ip = &mut f[14..];
                ip[0] = 0x45;
                ip[1] = self.tos;
                ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&self.id.to_be_bytes());
                ip[6] = if self.df { 0x40 } else { 0 };
                ip[8] = self.ttl;
                ip[9] = 6;
                ip[12..16].copy_from_slice(&self.src.octets());
                ip[16..20].copy_from_slice(&B.octets());
                Ipv4Packet::new_unchecked(&mut ip[..20]).fill_checksum();
                let th = &mut ip[20..];
                th[0..2].copy_from_slice(&self.sport.to_be_bytes());
                th[2..4].copy_from_slice(&80u16.to_be_bytes());
                th[4..8].copy_from_slice(&self.seq.to_be_bytes());
                th[8..12].copy_from_slice(&self.ack.to_be_bytes());
                th[12] = (((20 + self.opts.len()) / 4) as u8) << 4;
                th[13] = self.flags;
                th[14..16].copy_from_slice(&self.window.to_be_bytes());
                th[20..20 + self.opts.len()].copy_from_slice(&self.opts);
                th[20 + self.opts.len()..].copy_from_slice(&self.payload);
                TcpPacket::new_unchecked(&mut th[..]).fill_checksum(self.src, B);
            }
            f.resize(f.len() + self.pad, 0xee);
            let mut p = PacketBuf::from_slice(64, &f);
            if self.verified {
                p.meta_mut().csum = CsumState::Verified;
            }
            p
        }
    }

    /// Runs `segs` through one poll and returns what was delivered.
    fn poll(gro: &mut Gro, frames: Vec<PacketBuf>) -> Vec<PacketBuf> {
        let mut out = Vec::new();
        gro.run(true, frames, &mut |p| out.push(p));
        assert_eq!(gro.held(), 0, "nothing held after a poll");
        out
    }

    fn run(segs: &[S]) -> Vec<PacketBuf> {
        poll(&mut Gro::new(), segs.iter().map(S::frame).collect())
    }

    /// (seq, payload, segs, flags) of a delivered packet, checking that it
    /// is a valid datagram.
    fn view(p: &PacketBuf) -> (u32, Vec<u8>, u16, u8) {
        let ip = Ipv4Packet::new_checked(&p.data()[14..]).unwrap();
        assert!(ip.verify_checksum(), "IP header checksum");
        assert_eq!(usize::from(ip.total_len()), p.len() - 14, "no padding left");
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        (
            tcp.seq_number().0,
            tcp.payload().to_vec(),
            p.meta().gro_segs.max(1),
            tcp.flags().bits(),
        )
    }

    fn concat(segs: &[S]) -> Vec<u8> {
        segs.iter().flat_map(|s| s.payload.clone()).collect()
    }

    #[test]
    fn in_order_segments_merge_into_one_valid_packet() {
        let segs: Vec<S> = (0..10u32)
            .map(|i| S {
                window: 1000 + i as u16,
                ..s(1000 + i * 1448, 1448)
            })
            .collect();
        let out = run(&segs);
        assert_eq!(out.len(), 1);
        let p = &out[0];
        let (seq, payload, n, flags) = view(p);
        assert_eq!((seq, n, flags), (1000, 10, ACK));
        assert_eq!(payload, concat(&segs));
        assert_eq!(p.meta().gro_mss, 1448);
        assert_eq!(p.meta().csum, CsumState::Verified);
        let ip = Ipv4Packet::new_checked(&p.data()[14..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(tcp.window_len(), 1009, "the last window");
        assert_eq!(tcp.options(), &ts(1, 2)[..]);
        // The checksum field holds the pseudo-header seed: completing it
        // over the segment gives a valid checksum.
        let mut copy = ip.payload().to_vec();
        let mut t = TcpPacket::new_unchecked(&mut copy[..]);
        t.fill_pseudo_checksum(A, B);
        assert_eq!(t.checksum(), tcp.checksum());
        t.fill_checksum(A, B);
        assert!(TcpPacket::new_unchecked(&copy[..]).verify_checksum(A, B));
    }

    #[test]
    fn single_segment_passes_untouched() {
        let seg = S { pad: 6, ..s(1, 10) };
        let out = run(std::slice::from_ref(&seg));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data(), seg.frame().data(), "padding and all");
        assert_eq!(out[0].meta().gro_segs, 0);
    }

    #[test]
    fn padding_of_the_first_segment_is_dropped_before_merging() {
        let segs = [S { pad: 20, ..s(1, 4) }, s(5, 4)];
        let out = run(&segs);
        assert_eq!(out.len(), 1);
        assert_eq!(view(&out[0]).1, concat(&segs));
    }

    #[test]
    fn a_gap_or_a_retransmission_flushes() {
        // 1, 2, 4: the gap ends the run; 4 starts a new one.
        let segs = [s(0, 100), s(100, 100), s(300, 100), s(400, 100)];
        let out = run(&segs);
        let got: Vec<_> = out.iter().map(view).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].2), (0, 2));
        assert_eq!((got[1].0, got[1].2), (300, 2));
        assert_eq!(got[0].1, concat(&segs[..2]));
        // An old segment (retransmission) after a held one.
        let out = run(&[s(100, 100), s(0, 100)]);
        let seqs: Vec<u32> = out.iter().map(|p| view(p).0).collect();
        assert_eq!(seqs, [100, 0], "arrival order kept");
    }

    #[test]
    fn control_flags_flush_and_keep_order() {
        for flag in [0x01u8, 0x02, 0x04, 0x20, 0x40, 0x80] {
            let segs = [
                s(0, 100),
                s(100, 100),
                S {
                    flags: ACK | flag,
                    ..s(200, 100)
                },
                s(300, 100),
            ];
            let out = run(&segs);
            let got: Vec<_> = out.iter().map(view).collect();
            let shape: Vec<(u32, u16)> = got.iter().map(|g| (g.0, g.2)).collect();
            assert_eq!(shape, [(0, 2), (200, 1), (300, 1)], "flag {flag:#x}");
            assert_eq!(got[1].3, ACK | flag);
        }
        // Without ACK nothing merges.
        let out = run(&[
            S {
                flags: 0,
                ..s(0, 10)
            },
            S {
                flags: 0,
                ..s(10, 10)
            },
        ]);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn psh_ends_the_run_and_a_lone_psh_is_not_held() {
        let segs = [
            s(0, 100),
            S {
                flags: ACK | PSH,
                ..s(100, 100)
            },
            s(200, 100),
            S {
                flags: ACK | PSH,
                ..s(300, 100)
            },
            S {
                flags: ACK | PSH,
                ..s(400, 100)
            },
        ];
        let got: Vec<_> = run(&segs).iter().map(view).collect();
        let shape: Vec<(u32, u16, u8)> = got.iter().map(|g| (g.0, g.2, g.3)).collect();
        assert_eq!(
            shape,
            [(0, 2, ACK | PSH), (200, 2, ACK | PSH), (400, 1, ACK | PSH)]
        );
    }

    #[test]
    fn pure_ack_and_short_segment() {
        // A pure ACK of the flow flushes what is held and follows it.
        let got: Vec<_> = run(&[s(0, 100), s(100, 100), s(200, 0), s(200, 100)])
            .iter()
            .map(view)
            .collect();
        let shape: Vec<(u32, usize, u16)> = got.iter().map(|g| (g.0, g.1.len(), g.2)).collect();
        assert_eq!(shape, [(0, 200, 2), (200, 0, 1), (200, 100, 1)]);
        // A shorter segment joins and ends the run; a longer one does not join.
        let shape: Vec<(u32, u16)> = run(&[s(0, 100), s(100, 50), s(150, 100)])
            .iter()
            .map(|p| (view(p).0, view(p).2))
            .collect();
        assert_eq!(shape, [(0, 2), (150, 1)]);
        let shape: Vec<(u32, u16)> = run(&[s(0, 100), s(100, 200), s(300, 200)])
            .iter()
            .map(|p| (view(p).0, view(p).2))
            .collect();
        assert_eq!(shape, [(0, 1), (100, 2)]);
    }

    #[test]
    fn header_mismatches_flush() {
        let base = s(0, 100);
        let variants: Vec<(&str, S)> = vec![
            (
                "timestamp",
                S {
                    opts: ts(2, 2),
                    ..s(100, 100)
                },
            ),
            (
                "ts echo",
                S {
                    opts: ts(1, 3),
                    ..s(100, 100)
                },
            ),
            (
                "no options",
                S {
                    opts: vec![],
                    ..s(100, 100)
                },
            ),
            (
                "sack",
                S {
                    opts: {
                        let mut o = ts(1, 2);
                        o.extend_from_slice(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
                        o
                    },
                    ..s(100, 100)
                },
            ),
            (
                "ack",
                S {
                    ack: 778,
                    ..s(100, 100)
                },
            ),
            (
                "tos/ecn",
                S {
                    tos: 3,
                    ..s(100, 100)
                },
            ),
            (
                "ttl",
                S {
                    ttl: 63,
                    ..s(100, 100)
                },
            ),
            (
                "df",
                S {
                    df: false,
                    id: 1,
                    ..s(100, 100)
                },
            ),
            (
                "unverified",
                S {
                    verified: false,
                    ..s(100, 100)
                },
            ),
        ];
        for (what, next) in variants {
            let out = run(&[base.clone(), next]);
            let segs: Vec<u16> = out.iter().map(|p| view(p).2).collect();
            assert_eq!(segs, [1, 1], "{what}");
        }
        // Without DF the IP ID must count up.
        let nodf = |seq, id| S {
            df: false,
            id,
            ..s(seq, 100)
        };
        let out = run(&[nodf(0, 7), nodf(100, 8), nodf(200, 8)]);
        let segs: Vec<u16> = out.iter().map(|p| view(p).2).collect();
        assert_eq!(segs, [2, 1]);
        // The window is not compared: the last one wins (checked above).
        assert_eq!(
            run(&[
                base,
                S {
                    window: 5,
                    ..s(100, 100)
                }
            ])
            .len(),
            1
        );
    }

    #[test]
    fn interleaved_flows_merge_separately() {
        let flow = |sport, seq| S {
            sport,
            ..s(seq, 100)
        };
        let other_host = S {
            src: Ipv4Addr::new(10, 0, 0, 9),
            ..s(100, 100)
        };
        let segs = [
            flow(1, 0),
            flow(2, 0),
            flow(1, 100),
            other_host.clone(),
            flow(2, 100),
            flow(1, 200),
        ];
        let out = run(&segs);
        let got: Vec<(u16, u32, u16)> = out
            .iter()
            .map(|p| {
                let sport = u16::from_be_bytes([p.data()[34], p.data()[35]]);
                let (seq, _, n, _) = view(p);
                (sport, seq, n)
            })
            .collect();
        // Flushed oldest first at the end of the poll.
        assert_eq!(got, [(1, 0, 3), (2, 0, 2), (5000, 100, 1)]);
        assert_eq!(
            view(&out[0]).1,
            concat(&[flow(1, 0), flow(1, 100), flow(1, 200)])
        );
    }

    #[test]
    fn at_most_max_held_flows() {
        let mut frames: Vec<PacketBuf> = (0..MAX_HELD as u16 + 1)
            .map(|f| {
                S {
                    sport: f,
                    ..s(0, 10)
                }
                .frame()
            })
            .collect();
        // The first flow continues, but it was flushed to make room.
        frames.push(
            S {
                sport: 0,
                ..s(10, 10)
            }
            .frame(),
        );
        let mut gro = Gro::new();
        let mut out = Vec::new();
        for f in frames {
            gro.receive(f, &mut |p| out.push(p));
        }
        // Flow 0 went out for flow 8; its continuation then found nothing
        // to join and pushed out flow 1.
        assert_eq!(gro.held(), MAX_HELD);
        assert_eq!(out.len(), 2, "the oldest flows went out");
        let sport = |p: &PacketBuf| u16::from_be_bytes([p.data()[34], p.data()[35]]);
        assert_eq!((sport(&out[0]), sport(&out[1])), (0, 1));
        gro.flush(&mut |p| out.push(p));
        assert_eq!(out.len(), MAX_HELD + 2);
    }

    #[test]
    fn merged_packets_stay_within_64k() {
        let segs: Vec<S> = (0..100u32).map(|i| s(i * 1448, 1448)).collect();
        let out = run(&segs);
        let mut payload = Vec::new();
        let mut seq = 0u32;
        for p in &out {
            let (s0, data, n, _) = view(p);
            assert!(p.len() - 14 <= 65_535);
            assert_eq!(s0, seq);
            assert_eq!(usize::from(n) * 1448, data.len());
            seq += data.len() as u32;
            payload.extend_from_slice(&data);
        }
        // 65,535 - 20 - 32 header bytes hold 45 segments of 1448.
        assert_eq!(out[0].meta().gro_segs, 45);
        assert_eq!(out.len(), 3);
        assert_eq!(payload, concat(&segs));
    }

    #[test]
    fn malformed_frames_pass_through_untouched() {
        let good = s(0, 100).frame();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for cut in [0, 5, 14, 20, 33, 34, 40, 53, 60] {
            cases.push(good.data()[..cut].to_vec());
        }
        let edit = |at: usize, v: u8| {
            let mut f = good.data().to_vec();
            f[at] = v;
            f
        };
        cases.push(edit(12, 0x86)); // not IPv4
        cases.push(edit(14, 0x65)); // version 6
        cases.push(edit(14, 0x44)); // IHL 4
        cases.push(edit(14, 0x4f)); // IHL 15 (options, beyond)
        cases.push(edit(16, 0xff)); // total length past the frame
        cases.push(edit(17, 10)); // total length below the header
        cases.push(edit(20, 0x20)); // MF: a fragment
        cases.push(edit(21, 0x10)); // fragment offset
        cases.push(edit(23, 17)); // UDP
        cases.push(edit(24, 0x00)); // bad IP checksum
        cases.push(edit(46, 0x30)); // TCP data offset 3
        cases.push(edit(46, 0xf0)); // TCP data offset past the payload
        for case in &cases {
            // Twice, so a held first copy meets a second one.
            let frames = (0..2)
                .map(|_| {
                    let mut p = PacketBuf::from_slice(64, case);
                    p.meta_mut().csum = CsumState::Verified;
                    p
                })
                .collect();
            let out = poll(&mut Gro::new(), frames);
            assert_eq!(out.len(), 2, "{case:x?}");
            for p in out {
                assert_eq!(p.data(), &case[..]);
                assert_eq!(p.meta().gro_segs, 0);
            }
        }
    }

    #[test]
    fn random_frames_never_panic() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut gro = Gro::new();
        let mut merged_any = false;
        for _ in 0..2000 {
            let mut inputs = Vec::new();
            for i in 0..16u32 {
                let r = next();
                let mut f = s(i * 64, 1 + (r % 64) as usize).frame().data().to_vec();
                // Flip a few header bytes, sometimes cut the tail.
                for _ in 0..(r >> 8) % 3 {
                    let at = (next() as usize) % 60;
                    f[at] ^= next() as u8;
                }
                f.truncate(f.len() - (r >> 16) as usize % 2);
                inputs.push(f);
            }
            let frames = inputs
                .iter()
                .map(|f| {
                    let mut p = PacketBuf::from_slice(64, f);
                    p.meta_mut().csum = CsumState::Verified;
                    p
                })
                .collect();
            for p in poll(&mut gro, frames) {
                if p.meta().gro_segs > 1 {
                    // Merged: a valid datagram of whole segments.
                    merged_any = true;
                    let (_, payload, n, _) = view(&p);
                    assert!(payload.len() >= usize::from(n));
                } else {
                    assert!(inputs.iter().any(|f| f[..] == *p.data()), "untouched");
                }
            }
        }
        assert!(merged_any, "intact neighbours still merge");
    }

    #[test]
    fn steady_state_allocates_nothing() {
        std::thread::spawn(|| {
            let segs: Vec<S> = (0..64u32).map(|i| s(i * 1448, 1448)).collect();
            let mut gro = Gro::new();
            let round = |gro: &mut Gro| {
                let frames: Vec<PacketBuf> = segs.iter().map(S::frame).collect();
                let mut n = 0;
                gro.run(true, frames, &mut |p| n += usize::from(p.meta().gro_segs));
                assert_eq!(n, 64);
            };
            round(&mut gro);
            let before = pool_stats().allocated;
            for _ in 0..100 {
                round(&mut gro);
            }
            assert_eq!(pool_stats().allocated, before, "buffers come from the pool");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn off_delivers_everything_as_is() {
        let segs = [s(0, 100), s(100, 100)];
        let mut out = Vec::new();
        Gro::new().run(false, segs.iter().map(S::frame), &mut |p| out.push(p));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].data(), segs[1].frame().data());
    }
}
